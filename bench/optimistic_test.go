package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/pgstore"
	"google.golang.org/protobuf/proto"
)

// optimisticStore is a PROTOTYPE of a proposed change to pgstore.Update,
// here only to measure it: instead of BEGIN; SELECT ... FOR UPDATE; UPDATE;
// COMMIT (four round trips with a transaction open across them), it reads
// the record, calls fn, and writes with one autocommit statement that
// checks the version it read (UPDATE ... WHERE version = $old, with the
// same pg_notify), starting again on a conflict. The Store contract allows
// it: fn may be called more than once. It writes rows exactly as pgstore
// does, on a store whose channel it knows.
//
// With known set, it also prototypes a second proposal: the Manager hands
// Update the record it last wrote (here: remembered from Create), and the
// write is tried against that version without reading first, so an
// operation nobody else touched finishes in one round trip.
type optimisticStore struct {
	*pgstore.Store
	channel string
	known   bool
	last    sync.Map // name -> *lro.Record, when known
	batch   *batcher // set to batch completions
}

// Create implements lro.Store.
func (s *optimisticStore) Create(ctx context.Context, rec *lro.Record) (*lro.Record, bool, error) {
	got, created, err := s.Store.Create(ctx, rec)
	if err == nil && created && s.known {
		c := *got
		c.Operation = proto.Clone(got.Operation).(*longrunningpb.Operation)
		s.last.Store(got.Operation.GetName(), &c)
	}
	return got, created, err
}

// optimisticUpdateSQL writes one record if its version is still $17 and
// notifies like pgstore (flags done=1, cancel=2, then the name; names
// here are short).
const optimisticUpdateSQL = `WITH upd AS (
	UPDATE lro_operations SET parent = $3, create_time = $4, update_time = $5, expire_time = $6, request_id = $7,
		cancel_requested = $8, owner = $9, lease_expire_time = $10, kind = $11, request = $12, attempt = $13,
		version = $14, done = $15, operation = $16
	WHERE name = $2 AND version = $17
	RETURNING name, done, cancel_requested)
SELECT pg_notify($1, chr(48 + (CASE WHEN upd.done THEN 1 ELSE 0 END) + (CASE WHEN upd.cancel_requested THEN 2 ELSE 0 END)) || upd.name) FROM upd`

// Update implements lro.Store.
func (s *optimisticStore) Update(ctx context.Context, name string, fn func(*lro.Record) error) (*lro.Record, error) {
	for {
		var rec *lro.Record
		if v, ok := s.last.LoadAndDelete(name); ok {
			rec = v.(*lro.Record)
		} else {
			var err error
			if rec, err = s.Get(ctx, name); err != nil {
				return nil, err
			}
		}
		old := rec.Version
		if err := fn(rec); err != nil {
			return nil, err
		}
		if s.batch != nil && rec.Operation.GetDone() {
			w := &doneWrite{rec: rec, done: make(chan error, 1)}
			s.batch.in <- w
			err := <-w.done
			if err == nil {
				rec.Version = old + 1
				return rec, nil
			}
			if err != errConflict {
				return nil, err
			}
			continue // read it and try again
		}
		op, err := proto.Marshal(rec.Operation)
		if err != nil {
			return nil, err
		}
		var req []byte
		if rec.Request != nil {
			if req, err = proto.Marshal(rec.Request); err != nil {
				return nil, err
			}
			if req == nil {
				req = []byte{}
			}
		}
		rec.Version = old + 1
		rows, err := s.Pool().Query(ctx, optimisticUpdateSQL, s.channel, name, rec.Parent,
			dbTime(rec.CreateTime), dbTime(rec.UpdateTime), dbTime(rec.ExpireTime), rec.RequestID,
			rec.CancelRequested, rec.Owner, dbTime(rec.LeaseExpireTime), rec.Kind, req, rec.Attempt,
			rec.Version, rec.Operation.GetDone(), op, old)
		if err != nil {
			return nil, fmt.Errorf("prototype update of %q: %w", name, err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("prototype update of %q: %w", name, err)
		}
		if n == 1 {
			return rec, nil
		}
		// Someone wrote in between (or deleted it): read again.
	}
}

// PollInterval implements lro.Poller.
func (s *optimisticStore) PollInterval() time.Duration { return s.Store.PollInterval() }

// dbTime is t for a timestamptz column: UTC, microseconds, NULL when zero.
func dbTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC().Truncate(time.Microsecond)
	return &u
}

// batchDoneSQL finishes a batch of operations, each if its version is still
// the one given, and notifies for each (one transaction, so one pass
// through PostgreSQL's notification commit lock for the whole batch).
const batchDoneSQL = `WITH v AS (
	SELECT * FROM unnest($2::text[], $3::bigint[], $4::bytea[], $5::timestamptz[], $6::timestamptz[])
		AS v(name, old, operation, update_time, expire_time)),
upd AS (
	UPDATE lro_operations o SET done = true, operation = v.operation, update_time = v.update_time,
		expire_time = v.expire_time, cancel_requested = false, lease_expire_time = NULL, version = v.old + 1
	FROM v WHERE o.name = v.name AND o.version = v.old
	RETURNING o.name, o.done, o.cancel_requested)
SELECT upd.name, pg_notify($1, chr(48 + (CASE WHEN upd.done THEN 1 ELSE 0 END) + (CASE WHEN upd.cancel_requested THEN 2 ELSE 0 END)) || upd.name) FROM upd`

// doneWrite is one completion waiting for its batch.
type doneWrite struct {
	rec  *lro.Record // after fn, with the version it was read at
	done chan error  // nil: written; errConflict: write it the slow way
}

var errConflict = fmt.Errorf("version conflict")

// batcher is a PROTOTYPE of a third proposal: completions (Update calls
// that make a record done, on a record whose version is known) are written
// in batches by one goroutine, as River does with its job completions.
type batcher struct {
	s  *optimisticStore
	in chan *doneWrite
}

// run writes batches until in is closed: after the first completion of a
// batch it collects more for up to batchLinger, at most 128, and writes
// them in one statement.
func (b *batcher) run() {
	for w := range b.in {
		batch := []*doneWrite{w}
		linger := time.NewTimer(batchLinger)
	more:
		for len(batch) < 128 {
			select {
			case w, ok := <-b.in:
				if !ok {
					break more
				}
				batch = append(batch, w)
			case <-linger.C:
				break more
			}
		}
		linger.Stop()
		b.write(batch)
	}
}

// batchLinger is how long the batcher waits for more completions.
const batchLinger = time.Millisecond

func (b *batcher) write(batch []*doneWrite) {
	names := make([]string, len(batch))
	olds := make([]int64, len(batch))
	ops := make([][]byte, len(batch))
	upd := make([]time.Time, len(batch))
	exp := make([]*time.Time, len(batch))
	for i, w := range batch {
		op, err := proto.Marshal(w.rec.Operation)
		if err != nil {
			op = nil
		}
		names[i], olds[i], ops[i] = w.rec.Operation.GetName(), w.rec.Version, op
		upd[i], exp[i] = *dbTime(w.rec.UpdateTime), dbTime(w.rec.ExpireTime)
	}
	written := map[string]bool{}
	rows, err := b.s.Pool().Query(context.Background(), batchDoneSQL, b.s.channel, names, olds, ops, upd, exp)
	if err == nil {
		for rows.Next() {
			var name, ignored string
			if rows.Scan(&name, &ignored) == nil {
				written[name] = true
			}
		}
		rows.Close()
		err = rows.Err()
	}
	for _, w := range batch {
		switch {
		case err != nil:
			w.done <- err
		case written[w.rec.Operation.GetName()]:
			w.done <- nil
		default:
			w.done <- errConflict
		}
	}
}
