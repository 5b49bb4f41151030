package pgstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Plan generations. pgx prepares every statement on each connection, and
// PostgreSQL switches a prepared statement to one generic plan after five
// runs, planned for the table as it is then, and keeps it until the
// table's statistics change (an ANALYZE, which autovacuum makes about once
// a minute at most, after 10 % growth). Planned while lro_operations is
// small (a fresh table, a Store's first batches), the plans of the batch
// statements that look rows up by name — name = ANY($n), and the UPDATEs
// joined to unnest(...) — read the table by a sequential scan, and keep
// scanning all of it as it grows: during BenchmarkCrossReplicaWait at
// 20000x on durable PostgreSQL, 6,155 sequential scans read 55 million
// rows while the table grew to 20,000, and Wait's p50 doubled against
// 2000x. Planning each batch anew avoids it but costs PostgreSQL a tenth
// of its work.
//
// So each hot statement takes its text from planned, which returns a text
// per plan generation (the statement with a "-- plan generation N"
// comment): a new text is a new prepared statement, planned again for the
// table as it is now. The generation moves on when the table's size, read
// at most every planCheckEvery by the statement that comes due, has grown
// to planFloor from the size it had when the Store first looked, and then
// each time it grows planGrowth-fold. The size is the table's, not one
// Store's traffic, so that a replica that only reads moves on as well; a
// Store that starts on a large table measures its growth from there and
// does not plan again for nothing. A generic plan made for a table of half
// a megabyte or more (measured) looks rows up by the indexes, and larger
// tables only favour them more, so later generations are a safeguard, made
// rarely: each new text is planned with the batch's own values for its
// first five runs on each connection, and those custom plans scan a
// mid-sized table for large batches (with a generation at each fourfold
// growth, a Start → done run read 1.75 million rows in sequential scans
// against 1.18 million with one generation, and ran about 10 % slower).
//
// PostgreSQL keeps a statement's generic plan only if it looks cheaper than
// the custom plans it made for the first five runs, and it estimates an
// array parameter of the generic plan at ten elements: for batches of fewer
// names the custom plans look cheaper, and it plans every run anew. So the
// arrays that decide how many rows such a statement looks up are padded to
// planPad elements (planPadded) with values that match no row: the padding
// costs a few index probes that find nothing, and the generic plan is kept.
const (
	planFloor      = 1 << 20 // bytes (a few thousand operations) the first new plans wait for
	planGrowth     = 16      // growth of the table between two generations
	planGens       = 5       // generations over a Store's life: up to planFloor·16³ = 4 GB
	planCheckEvery = 2 * time.Second
	planPad        = 10 // PostgreSQL's estimate of an array parameter's length
)

// planSizeSQL reads the size of the operations table.
const planSizeSQL = `SELECT pg_relation_size('lro_operations')`

// plannedSQL is a statement's text for each plan generation, made once so
// that choosing one allocates nothing.
type plannedSQL [planGens]string

// newPlanned returns sql's texts for every plan generation.
func newPlanned(sql string) *plannedSQL {
	var p plannedSQL
	for g := range p {
		p[g] = fmt.Sprintf("%s\n-- plan generation %d", sql, g)
	}
	return &p
}

// plans is a Store's plan generation.
type plans struct {
	gen  atomic.Int32
	next atomic.Int64 // the earliest next size check, in Unix nanoseconds
	mu   sync.Mutex   // held by the one check in progress; guards base
	base int64        // the size the next generation's growth counts from; -1 before the first check
}

// planned returns the text of p for the Store's current plan generation,
// after reading the table's size when a check is due (a failed check is
// tried again at the next one).
func (s *Store) planned(ctx context.Context, p *plannedSQL) string {
	now := time.Now().UnixNano()
	if next := s.plans.next.Load(); now >= next && s.plans.next.CompareAndSwap(next, now+int64(planCheckEvery)) &&
		s.plans.mu.TryLock() {
		_ = s.checkPlansLocked(ctx)
		s.plans.mu.Unlock()
	}
	return p[s.plans.gen.Load()]
}

// checkPlans reads the table's size and moves the plan generation on if
// it has grown enough (nextPlan). It fails if the size cannot be read.
func (s *Store) checkPlans(ctx context.Context) error {
	s.plans.mu.Lock()
	defer s.plans.mu.Unlock()
	return s.checkPlansLocked(ctx)
}

func (s *Store) checkPlansLocked(ctx context.Context) error {
	var size int64
	if err := s.pool.QueryRow(ctx, planSizeSQL).Scan(&size); err != nil {
		return storeErr("reading the size of the operations table", err)
	}
	gen, base := nextPlan(int(s.plans.gen.Load()), s.plans.base, size)
	s.plans.base = base
	s.plans.gen.Store(int32(gen))
	return nil
}

// nextPlan returns the plan generation and the size its growth counts
// from, after a check found the table at size bytes: the first check only
// notes the size; a later one moves on when the table has reached
// planFloor and grown planGrowth-fold since base, up to the last
// generation.
func nextPlan(gen int, base, size int64) (int, int64) {
	switch {
	case base < 0:
		return gen, size
	case gen < planGens-1 && size >= max(planGrowth*base, planFloor):
		return gen + 1, size
	}
	return gen, base
}

// planPadded returns xs with zero values appended up to planPad elements
// (see planPad); a zero name or version matches no row.
func planPadded[T any](xs []T) []T {
	if len(xs) >= planPad {
		return xs
	}
	return append(xs, make([]T, planPad-len(xs))...)
}
