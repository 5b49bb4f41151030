package pgstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/lrokit/lro"
)

// The queue. A queued operation of a kind is an unowned row with a NULL
// start_time; ClaimQueued takes the oldest ones with FOR UPDATE SKIP
// LOCKED, so concurrent claimers never wait for nor share a row. A kind
// with a global limit is claimed under a transaction-scoped advisory lock
// per kind: the claimer counts the running operations of the kind and
// claims only up to the limit, and the next claimer of that kind counts
// after the first has committed.

// queuePayload is the notification that queued work may be claimable: a
// queued operation of a kind was created or put back for a retry, or a
// slot freed under a global limit (NotifyQueue). It is not a valid record
// payload (see parsePayload), so record watchers never see it.
const queuePayload = "Q"

// notifyQueuedExpr is the SQL that sends queuePayload when the row alias
// (with done, owner, kind and start_time columns) is claimable.
func notifyQueuedExpr(alias string) string {
	return fmt.Sprintf(`CASE WHEN NOT %[1]s.done AND %[1]s.owner = '' AND %[1]s.kind <> '' AND %[1]s.start_time IS NULL
	THEN pg_notify($1, '%[2]s') END`, alias, queuePayload)
}

var _ lro.QueueWatcher = (*Store)(nil)

// WatchQueue implements lro.QueueWatcher: fn is called, from the listener
// goroutine, on every queue notification from any Store on the same
// database and channel, and after the listening connection is
// re-established (notifications may have been lost meanwhile).
func (s *Store) WatchQueue(fn func()) (stop func()) {
	p := &fn
	s.mu.Lock()
	if s.queueWatchers == nil {
		s.queueWatchers = make(map[*func()]struct{})
	}
	s.queueWatchers[p] = struct{}{}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.queueWatchers, p)
		s.mu.Unlock()
	}
}

// NotifyQueue implements lro.QueueWatcher: it wakes the queue watchers of
// every Store on the same database and channel.
func (s *Store) NotifyQueue(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, `SELECT pg_notify($1, '`+queuePayload+`')`, s.channel); err != nil {
		return storeErr("notifying the queue", err)
	}
	return nil
}

// dispatchQueue calls the queue watchers.
func (s *Store) dispatchQueue() {
	s.mu.Lock()
	fns := make([]func(), 0, len(s.queueWatchers))
	for p := range s.queueWatchers {
		fns = append(fns, *p)
	}
	s.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// claimQueuedSQL claims, per kind ($3 kinds, $4 counts), the oldest
// claimable rows, $5 rows in all. $1 is now, $2 the owner. It sends no
// notification: a NOTIFY makes the commit wait for PostgreSQL's one
// cluster-wide notification lock, which would put every other commit that
// notifies on the path from a freed slot to the next start. The claim's
// notifications follow it instead (claimNotes). The redundant test for a non-empty kind
// lets the planner use the partial queue index.
var claimQueuedSQL = `WITH want AS (
	SELECT w.kind, w.n FROM unnest($3::text[], $4::int[]) AS w(kind, n) WHERE w.n > 0),
cand AS (
	SELECT c.name, c.create_time FROM want w CROSS JOIN LATERAL (
		SELECT q.name, q.create_time FROM lro_operations q
		WHERE NOT q.done AND q.owner = '' AND q.start_time IS NULL AND q.kind <> '' AND q.kind = w.kind
			AND (q.run_after IS NULL OR q.run_after <= $1)
		ORDER BY q.create_time, q.name
		LIMIT w.n
		FOR UPDATE SKIP LOCKED) c
	ORDER BY c.create_time, c.name
	LIMIT $5),
upd AS (
	UPDATE lro_operations o SET owner = $2, start_time = $1,
		attempt = o.attempt + 1, version = o.version + 1
	FROM cand WHERE o.name = cand.name
	RETURNING o.*)
SELECT ` + columns + ` FROM upd`

// claimNotesSQL notifies, for each of the operations named in $2, its
// current state ($1 is the channel).
var claimNotesSQL = `SELECT ` + notifyExpr("o", false) + ` FROM lro_operations o WHERE o.name = ANY($2)`

// claimNotesPlans is claimNotesSQL for each plan generation (see
// plannedSQL).
var claimNotesPlans = newPlanned(claimNotesSQL)

// claimNotifier sends the notifications of claimed operations after their
// claim has committed, from one goroutine at a time that takes every name
// gathered meanwhile, so that Watch still reports every claim without the
// claimer waiting for it. A notification reports the operation's state
// when it is sent, which may be newer than the claim's: events may be
// merged. Its zero value is ready; Store.Close calls close.
type claimNotifier struct {
	mu      sync.Mutex
	names   []string
	running bool
	closed  bool
	wg      sync.WaitGroup
}

// add queues the notifications of the named operations.
func (n *claimNotifier) add(s *Store, names []string) {
	if len(names) == 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.names = append(n.names, names...)
	if !n.running {
		n.running = true
		n.wg.Add(1)
		go n.send(s)
	}
}

// send notifies until no name is waiting.
func (n *claimNotifier) send(s *Store) {
	defer n.wg.Done()
	for {
		n.mu.Lock()
		names := n.names
		n.names = nil
		if len(names) == 0 {
			n.running = false
			n.mu.Unlock()
			return
		}
		n.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		_, err := execCount(ctx, s.pool, s.planned(ctx, claimNotesPlans), s.channel, planPadded(names))
		cancel()
		if err != nil {
			// The watchers' poll (lro.Poller) still sees the change.
			s.logger.Warn("pgstore: notifying claimed operations", "operations", len(names), "error", err)
		}
	}
}

// close waits for the notifications under way and drops any later ones.
func (n *claimNotifier) close() {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.wg.Wait()
}

// claimOverdueSQL claims up to $4 rows nobody holds whose deadline ($2 is
// now) has passed.
var claimOverdueSQL = `WITH od AS (
	SELECT name FROM lro_operations
	WHERE NOT done AND owner = '' AND deadline <= $2
	ORDER BY deadline, name
	LIMIT $4
	FOR UPDATE SKIP LOCKED),
upd AS (
	UPDATE lro_operations o SET owner = $3, version = o.version + 1
	FROM od WHERE o.name = od.name
	RETURNING o.*)
SELECT ` + columns + `, ` + notifyExpr("upd", false) + ` FROM upd`

// kindLockKey is the advisory lock of one kind's global limit, per schema.
const kindLockKey = `hashtextextended('lro.pgstore.kind:' || coalesce(current_schema(), '') || ':' || $1, 0)`

// ClaimQueued implements lro.Store.
func (s *Store) ClaimQueued(ctx context.Context, p lro.QueueClaimParams) ([]*lro.Record, error) {
	if p.Limit <= 0 {
		return nil, nil
	}
	if p.Owner == "" || !validText(p.Owner) {
		return nil, invalid("the owner must be non-empty UTF-8 text without NUL bytes")
	}
	if p.Overdue {
		out, err := queryRows(ctx, s.pool, recordRow(nil), claimOverdueSQL,
			s.channel, p.Now.UTC(), p.Owner, p.Limit)
		if err != nil {
			return nil, storeErr("claiming overdue operations", err)
		}
		return out, nil
	}
	kinds := make([]string, 0, len(p.Kinds))
	for k, n := range p.Kinds {
		if n > 0 && validText(k) {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 0 {
		return nil, nil
	}
	slices.Sort(kinds) // a fixed lock order, so claimers cannot deadlock
	var limited []string
	for _, k := range kinds {
		if _, ok := p.GlobalLimits[k]; ok {
			limited = append(limited, k)
		}
	}
	claim := func(q querier, counts map[string]int) ([]*lro.Record, error) {
		ns := make([]int32, len(kinds))
		for i, k := range kinds {
			ns[i] = int32(min(p.Kinds[k], p.Limit))
			if g, ok := p.GlobalLimits[k]; ok {
				ns[i] = int32(max(0, min(int(ns[i]), g-counts[k])))
			}
		}
		return queryRows(ctx, q, recordRow(), claimQueuedSQL,
			p.Now.UTC(), p.Owner, kinds, ns, p.Limit)
	}
	if len(limited) == 0 {
		out, err := claim(s.pool, nil)
		if err != nil {
			return nil, storeErr("claiming queued operations", err)
		}
		s.claimNotes.add(s, recordNames(out))
		return queueOrder(out), nil
	}
	var out []*lro.Record
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, k := range limited {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(`+kindLockKey+`)`, k); err != nil {
				return fmt.Errorf("locking kind %q: %w", k, err)
			}
		}
		counts, err := runningCounts(ctx, tx, limited)
		if err != nil {
			return err
		}
		out, err = claim(tx, counts)
		return err
	})
	if err != nil {
		return nil, storeErr("claiming queued operations", err)
	}
	s.claimNotes.add(s, recordNames(out))
	return queueOrder(out), nil
}

// recordNames returns the names of recs.
func recordNames(recs []*lro.Record) []string {
	names := make([]string, len(recs))
	for i, r := range recs {
		names[i] = r.Operation.GetName()
	}
	return names
}

// queueOrder sorts claimed records oldest first, ties by name, as
// ClaimQueued returns them (UPDATE ... RETURNING keeps no order).
func queueOrder(recs []*lro.Record) []*lro.Record {
	slices.SortFunc(recs, func(a, b *lro.Record) int {
		if c := a.CreateTime.Compare(b.CreateTime); c != 0 {
			return c
		}
		return strings.Compare(a.Operation.GetName(), b.Operation.GetName())
	})
	return recs
}

// runningCountsSQL counts the running operations of each of the kinds $1
// (registered kinds: never empty). It requires a non-empty kind in SQL
// too, so that the planner can use lro_operations_running_kind_idx, which
// leaves out plain work functions.
const runningCountsSQL = `SELECT kind, count(*) FROM lro_operations
WHERE NOT done AND owner <> '' AND start_time IS NOT NULL AND kind <> '' AND kind = ANY($1)
GROUP BY kind`

// runningCounts counts the running operations of each of kinds.
func runningCounts(ctx context.Context, tx pgx.Tx, kinds []string) (map[string]int, error) {
	rows, err := tx.Query(ctx, runningCountsSQL, kinds)
	if err != nil {
		return nil, fmt.Errorf("counting running operations: %w", err)
	}
	defer rows.Close()
	counts := make(map[string]int, len(kinds))
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return nil, err
		}
		counts[k] = n
	}
	return counts, rows.Err()
}
