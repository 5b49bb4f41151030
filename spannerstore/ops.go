package spannerstore

import (
	"context"
	"fmt"
	"time"

	"cloud.google.com/go/spanner"
	"errors"
	"github.com/lrokit/lro"
)

// readRecord reads the named record inside tx, or returns an error
// wrapping lro.ErrNotFound that says what was being done.
func readRecord(ctx context.Context, tx interface {
	ReadRow(context.Context, string, spanner.Key, []string) (*spanner.Row, error)
}, name, doing string) (*lro.Record, error) {
	row, err := tx.ReadRow(ctx, "lro_operations", spanner.Key{name}, columns)
	if errors.Is(err, spanner.ErrRowNotFound) {
		return nil, fmt.Errorf("spannerstore: %s %q: %w", doing, name, lro.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return scanRecord(row)
}

// Create implements lro.Store in one read-write transaction: the request
// id and the name are read and the record inserted under the same locks,
// so concurrent creates with one request id or one name make one record.
func (s *Store) Create(ctx context.Context, rec *lro.Record) (*lro.Record, bool, error) {
	stored := rec.Clone()
	vals, err := recordValues(stored, 1)
	if err != nil {
		return nil, false, err
	}
	name := stored.Operation.GetName()
	var (
		prev    *lro.Record
		removed *lro.Record
	)
	err = s.rw(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		prev, removed = nil, nil
		var muts []*spanner.Mutation
		if stored.RequestID != "" {
			row, err := tx.ReadRowUsingIndex(ctx, "lro_operations", "lro_operations_request_id_idx",
				spanner.Key{stored.Parent, stored.RequestID}, []string{"name"})
			switch {
			case errors.Is(err, spanner.ErrRowNotFound):
			case err != nil:
				return err
			default:
				var prevName string
				if err := row.Columns(&prevName); err != nil {
					return err
				}
				if prev, err = readRecord(ctx, tx, prevName, "reading"); err != nil {
					return err
				}
				if !prev.Done() || prev.ExpireTime.IsZero() || prev.ExpireTime.After(stored.CreateTime) {
					return nil // the request id is held: return that record
				}
				// Expired: it holds its request id no more.
				removed, prev = prev, nil
				muts = append(muts, spanner.Delete("lro_operations", spanner.Key{removed.Operation.GetName()}))
			}
		}
		if removed == nil || removed.Operation.GetName() != name {
			if _, err := tx.ReadRow(ctx, "lro_operations", spanner.Key{name}, []string{"name"}); err == nil {
				return fmt.Errorf("spannerstore: creating %q: %w", name, lro.ErrAlreadyExists)
			} else if !errors.Is(err, spanner.ErrRowNotFound) {
				return err
			}
		}
		muts = append(muts, spanner.InsertOrUpdate("lro_operations", writeColumns, vals))
		return tx.BufferWrite(muts)
	})
	if isAlreadyExists(err) {
		return nil, false, fmt.Errorf("spannerstore: creating %q: %w", name, lro.ErrAlreadyExists)
	}
	if err != nil {
		return nil, false, storeErr(fmt.Sprintf("creating %q", name), err)
	}
	if prev != nil {
		return prev, false, nil
	}
	if removed != nil {
		s.notify(lro.Event{Name: removed.Operation.GetName(), Done: removed.Done(), CancelRequested: removed.CancelRequested, Deleted: true})
	}
	return stored, true, nil
}

// Get implements lro.Store with a strong read.
func (s *Store) Get(ctx context.Context, name string) (*lro.Record, error) {
	rec, err := readRecord(ctx, s.client.Single(), name, "getting")
	if err != nil {
		return nil, storeErr(fmt.Sprintf("getting %q", name), err)
	}
	return rec, nil
}

// Update implements lro.Store in one read-write transaction; fn runs again
// when Spanner aborts the transaction.
func (s *Store) Update(ctx context.Context, name string, fn func(*lro.Record) error) (*lro.Record, error) {
	var out *lro.Record
	err := s.rw(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		cur, err := readRecord(ctx, tx, name, "updating")
		if err != nil {
			return err
		}
		if err := fn(cur); err != nil {
			return &fnError{err}
		}
		if got := cur.Operation.GetName(); got != name {
			return &fnError{fmt.Errorf("spannerstore: updating %q: the update renamed the operation to %q", name, got)}
		}
		vals, err := recordValues(cur, cur.Version+1)
		if err != nil {
			return &fnError{err}
		}
		out = cur
		return tx.BufferWrite([]*spanner.Mutation{spanner.Update("lro_operations", writeColumns, vals)})
	})
	if fe, ok := asFnError(err); ok {
		return nil, fe
	}
	if err != nil {
		return nil, storeErr(fmt.Sprintf("updating %q", name), err)
	}
	s.notify(eventOf(out))
	return out.Clone(), nil
}

// fnError carries an error of Update's fn (or of encoding its result) out
// of the transaction unchanged.
type fnError struct{ err error }

func (e *fnError) Error() string { return e.err.Error() }
func (e *fnError) Unwrap() error { return e.err }

// asFnError returns the fn error err carries, if any.
func asFnError(err error) (error, bool) {
	for e := err; e != nil; {
		if fe, ok := e.(*fnError); ok {
			return fe.err, true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return nil, false
		}
		e = u.Unwrap()
	}
	return nil, false
}

// Delete implements lro.Store.
func (s *Store) Delete(ctx context.Context, name string) error {
	var gone *lro.Record
	err := s.rw(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		cur, err := readRecord(ctx, tx, name, "deleting")
		if err != nil {
			return err
		}
		gone = cur
		return tx.BufferWrite([]*spanner.Mutation{spanner.Delete("lro_operations", spanner.Key{name})})
	})
	if err != nil {
		return storeErr(fmt.Sprintf("deleting %q", name), err)
	}
	s.notify(lro.Event{Name: name, Done: gone.Done(), CancelRequested: gone.CancelRequested, Deleted: true})
	return nil
}

// DeleteExpired implements lro.Store: one read-write transaction deletes
// up to limit done records, oldest expiry first, found through
// lro_operations_expire_idx. The Manager's janitor calls it in batches.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	var evs []lro.Event
	err := s.rw(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		evs = evs[:0]
		stmt := spanner.Statement{
			SQL: `@{spanner_emulator.disable_query_null_filtered_index_check=true}
SELECT name, cancel_requested FROM lro_operations@{FORCE_INDEX=lro_operations_expire_idx}
WHERE expire_time <= @now AND done ORDER BY expire_time, name LIMIT @limit`,
			Params: map[string]any{"now": now.UTC(), "limit": int64(limit)},
		}
		var muts []*spanner.Mutation
		err := tx.Query(ctx, stmt).Do(func(r *spanner.Row) error {
			ev := lro.Event{Done: true, Deleted: true}
			if err := r.Columns(&ev.Name, &ev.CancelRequested); err != nil {
				return err
			}
			evs = append(evs, ev)
			muts = append(muts, spanner.Delete("lro_operations", spanner.Key{ev.Name}))
			return nil
		})
		if err != nil || len(muts) == 0 {
			return err
		}
		return tx.BufferWrite(muts)
	})
	if err != nil {
		return 0, storeErr("deleting expired operations", err)
	}
	s.notify(evs...)
	return len(evs), nil
}

// Finish implements lro.Finisher, fenced in one read-write transaction:
// it writes only while the record is not done, its Owner is p.Owner and
// its Attempt is p.Attempt.
func (s *Store) Finish(ctx context.Context, p lro.FinishParams) error {
	name := p.Operation.GetName()
	var out *lro.Record
	err := s.rw(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		cur, err := readRecord(ctx, tx, name, "finishing")
		if err != nil {
			return err
		}
		if cur.Done() || cur.Owner != p.Owner || cur.Attempt != p.Attempt {
			return fmt.Errorf("spannerstore: finishing %q: %w", name, lro.ErrNotOwner)
		}
		cur.Operation = p.Operation
		cur.UpdateTime = p.UpdateTime
		cur.ExpireTime = p.ExpireTime
		cur.CancelRequested = false
		cur.LeaseExpireTime = time.Time{}
		vals, err := recordValues(cur, cur.Version+1)
		if err != nil {
			return &fnError{err}
		}
		out = cur
		return tx.BufferWrite([]*spanner.Mutation{spanner.Update("lro_operations", writeColumns, vals)})
	})
	if fe, ok := asFnError(err); ok {
		return fe
	}
	if err != nil {
		return storeErr(fmt.Sprintf("finishing %q", name), err)
	}
	s.notify(eventOf(out))
	return nil
}
