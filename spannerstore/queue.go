package spannerstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"cloud.google.com/go/spanner"
	"github.com/lrokit/lro"
)

// The queue (issue 10). A queued record has a kind, no owner, no start
// time and is not done; ClaimQueued hands such records to replicas with
// free slots. The Store is an lro.QueueWatcher: the change stream carries
// kind and start_time (schema version 4), so every replica's reader sees a
// record of a kind queued or put back, or ended (a slot freed under a
// global limit), by any replica, and wakes its queue watchers. Queued work
// is then found within the stream's latency, not at the Manager's
// maintenance tick. The store does not know which kinds have a global
// limit, so the end of any kind's work wakes every replica's queue: one
// claim per replica with free slots.

// queuedSQL selects the claimable records of kind @kind, oldest first, at
// most @n.
const queuedSQL = `SELECT %s FROM lro_operations@{FORCE_INDEX=lro_operations_queue_idx}
WHERE kind = @kind AND start_time IS NULL AND done = false AND owner = ''
	AND (run_after IS NULL OR run_after <= @now)
ORDER BY create_time, name LIMIT @n`

// runningSQL counts the running records of kind @kind: held and started.
const runningSQL = `SELECT COUNT(*) FROM lro_operations@{FORCE_INDEX=lro_operations_queue_idx}
WHERE kind = @kind AND start_time IS NOT NULL AND done = false AND owner != ''`

// overdueSQL selects up to @limit records nobody holds whose deadline has
// passed by @now.
const overdueSQL = `@{spanner_emulator.disable_query_null_filtered_index_check=true}
SELECT %s FROM lro_operations@{FORCE_INDEX=lro_operations_deadline_idx}
WHERE deadline <= @now AND done = false AND owner = ''
ORDER BY deadline, name LIMIT @limit`

// ClaimQueued implements lro.Store in one read-write transaction: the
// running records of each globally limited kind are counted, and the
// queued records chosen and taken, under the same locks, so concurrent
// claimers never take a record twice nor run more of a kind than its
// global limit (Spanner aborts and retries the losers). It returns the
// claimed records oldest first, ties by name. It fails with
// INVALID_ARGUMENT for an empty or invalid owner, and with the store's
// error, wrapped, when Spanner fails.
func (s *Store) ClaimQueued(ctx context.Context, p lro.QueueClaimParams) ([]*lro.Record, error) {
	if p.Limit <= 0 {
		return nil, nil
	}
	if err := checkOwner(p.Owner, ""); err != nil {
		return nil, err
	}
	var out []*lro.Record
	err := s.rw(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		var err error
		if p.Overdue {
			out, err = s.queryRecords(ctx, tx, spanner.Statement{SQL: fmt.Sprintf(overdueSQL, columnList),
				Params: map[string]any{"now": p.Now.UTC(), "limit": int64(p.Limit)}})
		} else {
			out, err = s.pickQueued(ctx, tx, p)
		}
		if err != nil || len(out) == 0 {
			return err
		}
		muts := make([]*spanner.Mutation, len(out))
		for i, rec := range out {
			rec.Owner = p.Owner
			if !p.Overdue {
				rec.StartTime = normTime(p.Now)
				rec.Attempt++
			}
			rec.Version++
			muts[i] = partialUpdate(rec, []string{"name", "owner", "start_time", "attempt", "version"},
				[]any{rec.Operation.GetName(), rec.Owner, nullTime(rec.StartTime), int64(rec.Attempt), rec.Version})
		}
		return tx.BufferWrite(muts)
	})
	if err != nil {
		return nil, storeErr("claiming queued operations", err)
	}
	evs := make([]lro.Event, len(out))
	for i, r := range out {
		evs[i] = eventOf(r)
	}
	s.notify(evs...)
	return out, nil
}

// pickQueued reads, inside tx, the records ClaimQueued claims without
// Overdue: per kind with a free slot, the oldest due ones, no more than the
// kind's count, its global limit leaves room for, or p.Limit; then the
// oldest p.Limit of them all.
func (s *Store) pickQueued(ctx context.Context, tx *spanner.ReadWriteTransaction, p lro.QueueClaimParams) ([]*lro.Record, error) {
	kinds := make([]string, 0, len(p.Kinds))
	for k, n := range p.Kinds {
		if n > 0 && k != "" && utf8.ValidString(k) {
			kinds = append(kinds, k)
		}
	}
	slices.Sort(kinds)
	var out []*lro.Record
	for _, k := range kinds {
		n := int64(min(p.Kinds[k], p.Limit))
		if g, ok := p.GlobalLimits[k]; ok {
			var running int64
			err := tx.Query(ctx, spanner.Statement{SQL: runningSQL, Params: map[string]any{"kind": k}}).
				Do(func(r *spanner.Row) error { return r.Columns(&running) })
			if err != nil {
				return nil, fmt.Errorf("counting the running operations of kind %q: %w", k, err)
			}
			n = min(n, int64(g)-running)
		}
		if n <= 0 {
			continue
		}
		recs, err := s.queryRecords(ctx, tx, spanner.Statement{SQL: fmt.Sprintf(queuedSQL, columnList),
			Params: map[string]any{"kind": k, "now": p.Now.UTC(), "n": n}})
		if err != nil {
			return nil, fmt.Errorf("reading the queue of kind %q: %w", k, err)
		}
		out = append(out, recs...)
	}
	slices.SortFunc(out, func(a, b *lro.Record) int {
		if c := a.CreateTime.Compare(b.CreateTime); c != 0 {
			return c
		}
		return strings.Compare(a.Operation.GetName(), b.Operation.GetName())
	})
	if len(out) > p.Limit {
		out = out[:p.Limit]
	}
	return out, nil
}

// WatchQueue implements lro.QueueWatcher: fn is called when the change
// stream carries a record of a kind inserted or put back queued, or ended,
// and after the reader (re)starts, since it may have missed some. Without
// the change stream (WithoutChangeStream) only this Store's NotifyQueue
// calls it.
func (s *Store) WatchQueue(fn func()) (stop func()) {
	w := &fn
	s.queueMu.Lock()
	s.queueFns[w] = struct{}{}
	s.queueMu.Unlock()
	return func() {
		s.queueMu.Lock()
		defer s.queueMu.Unlock()
		delete(s.queueFns, w)
	}
}

// NotifyQueue implements lro.QueueWatcher: it calls this Store's WatchQueue
// callbacks at once. The other replicas learn of the freed slot from the
// change stream, which carries the write that ended the work (the Manager
// calls NotifyQueue after it). It never fails.
func (s *Store) NotifyQueue(ctx context.Context) error {
	s.pokeQueue()
	return nil
}

// pokeQueue calls the WatchQueue callbacks. The lock is held while calling
// so that a stopped callback is never called after stop returns.
func (s *Store) pokeQueue() {
	s.queueMu.Lock()
	defer s.queueMu.Unlock()
	for fn := range s.queueFns {
		(*fn)()
	}
}
