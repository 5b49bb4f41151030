package pgstore

import (
	"context"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Update's write notifies, and PostgreSQL serialises the commits of
// transactions that notify, each holding its turn (a lock on the NOTIFY
// queue) through its WAL flush: concurrent Updates (cancellations,
// completions, progress) queue behind each other's flushes. The Store
// writes the Updates that arrive together with one statement and one
// commit, as it does finishes.
const (
	// maxUpdateBatch bounds the records written by one statement.
	maxUpdateBatch = 256
	// updateWorkers is how many update batches may be in flight at once:
	// two, so that one batch runs its statement while the other commits.
	// More only wait in line for the NOTIFY lock, and make smaller
	// batches: on durable PostgreSQL with 32 concurrent Completes, 8
	// workers took 15.7 ms per batch (p50; p99 222 ms) at 2.2 writes each,
	// 2 workers 9.8 ms (p99 45 ms) at 5.5 (issue 11, BENCHMARKS.md). The
	// Manager takes over claimed orphans together (adoptAll), so its lease
	// loop does not wait for one batch after another.
	updateWorkers = 2
)

// updateReq is one Update's write: the record's name, its insertSQL
// arguments (recordArgs without the channel) and the version it read.
type updateReq struct {
	name string
	args []any
	read int64
}

// updateAnswer tells an Update whether its write was made (the row was
// still at the version it read), or that it must write alone: its name came
// twice in the batch, or the batch failed as a whole.
type updateAnswer struct{ written, alone bool }

// updateCall is an Update's write in a batch.
type updateCall = batchCall[*updateReq, updateAnswer]

// updateBatchSQL is updateSQL for many records: $1 is the channel, $2 to
// $26 arrays of the record columns in insertSQL order, and $27 the versions
// read. It returns the names it wrote. Like updateSQL, it wakes the
// replicas that may claim an operation put back in the queue.
var updateBatchSQL = `WITH i AS (
	SELECT * FROM unnest($2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::timestamptz[], $7::text[],
		$8::bool[], $9::text[], $10::timestamptz[], $11::text[], $12::bytea[], $13::int4[], $14::int8[], $15::bool[],
		$16::bytea[], $17::int4[], $18::text[], $19::text[], $20::text[], $21::bytea[], $22::int8[],
		$23::timestamptz[], $24::timestamptz[], $25::timestamptz[], $26::text[], $27::int8[])
	AS t(name, parent, create_time, update_time, expire_time, request_id,
		cancel_requested, owner, lease_expire_time, kind, request, attempt, version, done, operation,
		error_code, metadata_type, response_type, metadata_json, metadata_schema, derived_version,
		start_time, deadline, run_after, trace_parent, read)),
upd AS (
	UPDATE lro_operations o SET parent = i.parent, create_time = i.create_time, update_time = i.update_time,
		expire_time = i.expire_time, request_id = i.request_id, cancel_requested = i.cancel_requested,
		owner = i.owner, lease_expire_time = i.lease_expire_time, kind = i.kind, request = i.request,
		attempt = i.attempt, version = i.version, done = i.done, operation = i.operation,
		error_code = i.error_code, metadata_type = i.metadata_type, response_type = i.response_type,
		metadata_json = i.metadata_json::jsonb, metadata_schema = i.metadata_schema, derived_version = i.derived_version,
		start_time = i.start_time, deadline = i.deadline, run_after = i.run_after, trace_parent = i.trace_parent
	FROM i WHERE o.name = i.name AND o.version = i.read
	RETURNING o.name, o.done, o.cancel_requested, o.owner, o.kind, o.start_time)
SELECT upd.name, ` + notifyExpr("upd", false) + `, ` + notifyQueuedExpr("upd") + ` FROM upd`

// updateBatchPlans is updateBatchSQL for each plan generation (see
// plannedSQL).
var updateBatchPlans = newPlanned(updateBatchSQL)

// updateBatch writes one batch of Updates and answers each of its calls.
func (s *Store) updateBatch(calls []*updateCall) {
	// One statement writes a row once: a name that comes twice writes
	// alone, after or before this statement, and finds its version moved
	// or not.
	seen := make(map[string]bool, len(calls))
	batch := calls[:0:0]
	for _, c := range calls {
		if seen[c.req.name] {
			c.answer(updateAnswer{alone: true})
			continue
		}
		seen[c.req.name] = true
		batch = append(batch, c)
	}
	// A stable order keeps two batches from locking rows in opposite
	// orders.
	slices.SortFunc(batch, func(a, b *updateCall) int { return strings.Compare(a.req.name, b.req.name) })
	rows := make([][]any, len(batch))
	reads := make([]int64, len(batch))
	for i, c := range batch {
		rows[i], reads[i] = c.req.args, c.req.read
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	args := append(append([]any{s.channel}, insertColumns(rows)...), planPadded(reads))
	names, err := queryRows(ctx, s.pool, func(row pgx.CollectableRow) (string, error) {
		var name string
		err := row.Scan(&name, nil, nil) // the others are pg_notify's (void) results
		return name, err
	}, s.planned(ctx, updateBatchPlans), args...)
	if err != nil {
		// One failing record (a request id taken, say) must not fail the
		// others, and must get its own error: each writes alone.
		for _, c := range batch {
			c.answer(updateAnswer{alone: true})
		}
		return
	}
	written := setOf(names)
	for _, c := range batch {
		c.answer(updateAnswer{written: written[c.req.name]})
	}
}
