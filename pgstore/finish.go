package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/lrokit/lro"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// Finishing work is the hottest write: every operation ends with one. The
// Store batches the finishes that arrive together into one statement and
// one commit. PostgreSQL serialises the commits of transactions that
// notify, so one commit per batch rather than per operation is what lets
// many concurrent finishes through.
const (
	// maxFinishBatch bounds the operations finished by one statement.
	maxFinishBatch = 256
	// finishWorkers is how many batches may be in flight at once.
	finishWorkers = 2
	// finishTimeout bounds a batch that is in flight when the Store closes.
	finishTimeout = 30 * time.Second
)

var _ lro.Finisher = (*Store)(nil)
var _ lro.CancelRequestLister = (*Store)(nil)

// finishReq is one Finish call waiting for its batch.
type finishReq struct {
	name, owner string
	attempt     int32
	op          []byte
	derived     derived
	now, expire time.Time
	done        chan error // buffered: the batch never blocks on it
}

var finishSQL = `WITH i AS (
	SELECT * FROM unnest($2::text[], $3::text[], $4::bytea[], $5::timestamptz[], $6::timestamptz[],
		$7::int4[], $8::text[], $9::text[], $10::text[], $11::bytea[], $12::bool[], $13::int4[])
		AS t(name, owner, operation, update_time, expire_time,
			error_code, metadata_type, response_type, metadata_json, metadata_schema, derived, attempt)),
upd AS (
	UPDATE lro_operations o SET operation = i.operation, done = true, update_time = i.update_time,
		expire_time = i.expire_time, cancel_requested = false, lease_expire_time = NULL, version = o.version + 1,
		error_code = i.error_code, metadata_type = i.metadata_type, response_type = i.response_type,
		metadata_json = i.metadata_json::jsonb, metadata_schema = i.metadata_schema,
		derived_version = CASE WHEN i.derived THEN o.version + 1 END
	FROM i WHERE o.name = i.name AND o.owner = i.owner AND o.attempt = i.attempt AND NOT o.done
	RETURNING o.name, o.done, o.cancel_requested, o.owner)
SELECT upd.name, ` + notifyExpr("upd", false) + ` FROM upd`

// Finish implements lro.Finisher. Concurrent calls are written together,
// in batches of up to 256, each one UPDATE statement in its own
// transaction.
func (s *Store) Finish(ctx context.Context, p lro.FinishParams) error {
	name := p.Operation.GetName()
	if !validText(name) || !validText(p.Owner) {
		return fmt.Errorf("pgstore: finishing %q: %w", name, lro.ErrNotFound)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(p.Operation)
	if err != nil {
		return &Error{Op: fmt.Sprintf("finishing %q", name), Code: codes.InvalidArgument, Err: err}
	}
	r := &finishReq{name: name, owner: p.Owner, attempt: p.Attempt, op: b, derived: derive(p.Operation), now: normTime(p.UpdateTime),
		expire: normTime(p.ExpireTime), done: make(chan error, 1)}
	select {
	case s.finishes <- r:
	case <-s.finishStop:
		return &Error{Op: fmt.Sprintf("finishing %q", name), Code: codes.Unavailable, Err: errors.New("the store is closed")}
	case <-ctx.Done():
		return storeErr(fmt.Sprintf("finishing %q", name), ctx.Err())
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return storeErr(fmt.Sprintf("finishing %q", name), ctx.Err())
	}
}

// finishLoop collects Finish calls into batches until the Store closes.
func (s *Store) finishLoop() {
	defer s.finishWG.Done()
	for {
		var first *finishReq
		select {
		case first = <-s.finishes:
		case <-s.finishStop:
			return
		}
		batch := []*finishReq{first}
	collect:
		for len(batch) < maxFinishBatch {
			select {
			case r := <-s.finishes:
				batch = append(batch, r)
			default:
				break collect
			}
		}
		s.finishBatch(batch)
	}
}

// finishBatch writes one batch and answers each of its calls.
func (s *Store) finishBatch(batch []*finishReq) {
	// One statement finishes a row once: a name that comes twice waits for
	// the next statement, where it finds the row done.
	seen := make(map[string]bool, len(batch))
	var again []*finishReq
	unique := batch[:0:0]
	for _, r := range batch {
		if seen[r.name] {
			again = append(again, r)
			continue
		}
		seen[r.name] = true
		unique = append(unique, r)
	}
	batch = unique
	if len(again) > 0 {
		defer s.finishBatch(again)
	}
	ctx, cancel := context.WithTimeout(context.Background(), finishTimeout)
	defer cancel()
	// A stable order keeps two batches from locking rows in opposite
	// orders.
	slices.SortFunc(batch, func(a, b *finishReq) int { return strings.Compare(a.name, b.name) })
	n := len(batch)
	names, owners := make([]string, n), make([]string, n)
	ops := make([][]byte, n)
	nows, expires := make([]time.Time, n), make([]time.Time, n)
	attempts := make([]int32, n)
	var cols derivedColumns
	for i, r := range batch {
		names[i], owners[i], ops[i], nows[i], expires[i], attempts[i] = r.name, r.owner, r.op, r.now, r.expire, r.attempt
		cols.add(r.derived)
	}
	written, err := queryRows(ctx, s.pool, func(row pgx.CollectableRow) (string, error) {
		var name string
		err := row.Scan(&name, nil) // the second column is pg_notify's (void) result
		return name, err
	}, finishSQL, append(append([]any{s.channel, names, owners, ops, nows, expires}, cols.args()...), attempts)...)
	if err != nil {
		err = storeErr("finishing a batch of operations", err)
		for _, r := range batch {
			r.done <- err
		}
		return
	}
	finished := setOf(written)
	var missed []string
	for _, r := range batch {
		if finished[r.name] {
			r.done <- nil
		} else {
			missed = append(missed, r.name)
		}
	}
	if len(missed) == 0 {
		return
	}
	// Refused: tell a deleted record from one that is done or owned by
	// another.
	found, err := queryRows(ctx, s.pool, pgx.RowTo[string], `SELECT name FROM lro_operations WHERE name = ANY($1)`, missed)
	present := setOf(found)
	for _, r := range batch {
		switch {
		case finished[r.name]:
		case err != nil:
			r.done <- storeErr(fmt.Sprintf("finishing %q", r.name), err)
		case present[r.name]:
			r.done <- fmt.Errorf("pgstore: finishing %q: %w", r.name, lro.ErrNotOwner)
		default:
			r.done <- fmt.Errorf("pgstore: finishing %q: %w", r.name, lro.ErrNotFound)
		}
	}
}

// ListCancelRequests implements lro.CancelRequestLister.
func (s *Store) ListCancelRequests(ctx context.Context, owner string) ([]string, error) {
	if !validText(owner) {
		return nil, nil
	}
	names, err := queryRows(ctx, s.pool, pgx.RowTo[string],
		`SELECT name FROM lro_operations WHERE owner = $1 AND NOT done AND cancel_requested`, owner)
	if err != nil {
		return nil, storeErr("listing cancelled operations", err)
	}
	return names, nil
}

// setOf returns the set of names.
func setOf(names []string) map[string]bool {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	return set
}
