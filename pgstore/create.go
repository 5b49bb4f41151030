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
)

// Starts come in bursts as finishes do: the Store inserts the records of
// concurrent Create calls with one statement and one commit.
const (
	// maxCreateBatch bounds the records inserted by one statement.
	maxCreateBatch = 256
	// createWorkers is how many insert batches may be in flight at once.
	// Start waits for its insert, so the starts a caller makes at once
	// are bounded by how many batches overlap: measured on durable
	// PostgreSQL with 32 concurrent starters, 2 workers gave about 1,200
	// operations/s and 8 about 3,000 (BENCHMARKS.md, issue 11).
	createWorkers = 8
)

// createGathering holds a small insert batch back while others are being
// written (newGatheringBatcher): a statement and its commit cost
// PostgreSQL and the Store about as much as a handful of rows, and with
// 32 concurrent starters 8 free workers wrote batches of 3 on average.
var createGathering = gathering{small: 8, calm: 2}

// createReq is one Create call's insert: the record's name and its
// insertSQL arguments (recordArgs without the channel).
type createReq struct {
	name string
	args []any
}

// createAnswer is what the batch tells a Create call: whether its record
// was inserted, or that the batch could not tell and the call must insert
// alone (its name came twice in the batch, or the batch failed as a whole).
type createAnswer struct {
	inserted, alone bool
	err             error
}

// createCall is a Create call in a batch.
type createCall = batchCall[*createReq, createAnswer]

// insertBatchRows inserts the records of many Create calls: $1 to $25 are
// arrays of the insertSQL columns, in order.
const insertBatchRows = `INSERT INTO lro_operations (name, parent, create_time, update_time, expire_time, request_id,
	cancel_requested, owner, lease_expire_time, kind, request, attempt, version, done, operation,
	error_code, metadata_type, response_type, metadata_json, metadata_schema, derived_version,
	start_time, deadline, run_after, trace_parent)
SELECT name, parent, create_time, update_time, expire_time, request_id,
	cancel_requested, owner, lease_expire_time, kind, request, attempt, version, done, operation,
	error_code, metadata_type, response_type, metadata_json::jsonb, metadata_schema, derived_version,
	start_time, deadline, run_after, trace_parent
FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[], $6::text[],
	$7::bool[], $8::text[], $9::timestamptz[], $10::text[], $11::bytea[], $12::int4[], $13::int8[], $14::bool[],
	$15::bytea[], $16::int4[], $17::text[], $18::text[], $19::text[], $20::bytea[], $21::int8[],
	$22::timestamptz[], $23::timestamptz[], $24::timestamptz[], $25::text[])
	AS t(name, parent, create_time, update_time, expire_time, request_id,
	cancel_requested, owner, lease_expire_time, kind, request, attempt, version, done, operation,
	error_code, metadata_type, response_type, metadata_json, metadata_schema, derived_version,
	start_time, deadline, run_after, trace_parent)`

// insertBatchSQL is insertSQL for many records at once (insertBatchRows),
// with $26 the notification channel. It returns the names it inserted;
// records that conflict on the name or on the parent and request id are
// left out. A queued operation of a kind wakes the replicas that may claim
// it, as insertQueuedSQL does (PostgreSQL sends one notification of a
// payload per transaction).
var insertBatchSQL = `WITH ins AS (` + insertBatchRows + `
ON CONFLICT DO NOTHING
RETURNING name, done, owner, kind, start_time)
SELECT ins.name, ` + strings.ReplaceAll(notifyQueuedExpr("ins"), "$1", "$26") + ` FROM ins`

// plainInsertBatchSQL inserts a batch that holds no queued operation, and
// fails as a whole when a name or a request id is taken: most batches
// conflict nowhere, and without ON CONFLICT PostgreSQL inserts each row
// once instead of checking the unique indexes first and confirming a
// speculative insertion (about a fifth of the insert's work). A batch it
// refuses is written again with insertBatchSQL.
const plainInsertBatchSQL = insertBatchRows

// Create implements lro.Store. The stored record has version 1.
// Concurrent calls are inserted together, in batches of up to 256, each
// one statement in its own transaction; a record that conflicts is then
// looked at on its own. Create fails with lro.ErrAlreadyExists when the
// name is taken, returns the stored record and false when the parent and
// request id are (unless that record has expired: it is removed and the
// insert tried again), with codes.Unavailable once the Store is closed,
// and with codes.Aborted if the conflicting record keeps changing.
func (s *Store) Create(ctx context.Context, rec *lro.Record) (*lro.Record, bool, error) {
	cp := rec.Clone()
	args, err := s.recordArgs(cp, 1)
	if err != nil {
		return nil, false, err
	}
	name := cp.Operation.GetName()
	// ON CONFLICT DO NOTHING covers both the name and the request id; when
	// nothing was inserted, find out which one conflicted. If the
	// conflicting record is deleted in between, or had expired and is
	// deleted now, try again.
	for try := range createTries {
		inserted, err := s.insert(ctx, name, args[1:], try == 0)
		if err != nil {
			return nil, false, err
		}
		if inserted {
			return cp, true, nil
		}
		prev, again, err := s.createConflict(ctx, s.pool, cp)
		if err != nil || !again {
			return prev, false, err
		}
	}
	return nil, false, conflictKeptChanging(name)
}

// createTries is how often Create tries to insert a record whose
// conflicting record keeps going away.
const createTries = 5

// createConflict finds out, reading and writing through q (the pool, or a
// transaction), why the insert of cp inserted nothing. It returns the
// stored record holding cp's parent and request id; or again when there
// is none (any longer): the record that held them had expired and is
// removed now, or went away since the insert; or an error wrapping
// lro.ErrAlreadyExists when cp's name is taken.
func (s *Store) createConflict(ctx context.Context, q querier, cp *lro.Record) (prev *lro.Record, again bool, err error) {
	name := cp.Operation.GetName()
	op := fmt.Sprintf("creating %q", name)
	if cp.RequestID != "" {
		prevs, err := queryRows(ctx, q, recordRow(), `SELECT `+columns+` FROM lro_operations WHERE parent = $1 AND request_id = $2`, cp.Parent, cp.RequestID)
		switch {
		case err != nil:
			return nil, false, storeErr(op, err)
		case len(prevs) == 1 && prevs[0].ExpiredAt(cp.CreateTime):
			// Expired: it holds its request id no more.
			if _, err := execCount(ctx, q, deleteIfExpiredSQL, s.channel, prevs[0].Operation.GetName(), cp.CreateTime); err != nil {
				return nil, false, storeErr(fmt.Sprintf("%s: removing the expired %q", op, prevs[0].Operation.GetName()), err)
			}
			return nil, true, nil
		case len(prevs) == 1:
			return prevs[0], false, nil
		}
	}
	taken, err := queryRows(ctx, q, pgx.RowTo[bool], `SELECT true FROM lro_operations WHERE name = $1`, name)
	switch {
	case err != nil:
		return nil, false, storeErr(op, err)
	case len(taken) > 0:
		return nil, false, fmt.Errorf("pgstore: %s: %w", op, lro.ErrAlreadyExists)
	}
	return nil, true, nil
}

// conflictKeptChanging is the error of a Create that gave up.
func conflictKeptChanging(name string) error {
	return &Error{Op: fmt.Sprintf("creating %q", name), Code: codes.Aborted,
		Err: errors.New("the conflicting record kept changing")}
}

// insert inserts one record (args as insertSQL takes them) unless its name
// or its parent and request id are taken, and reports whether it did.
// With batched it joins the batch of concurrent Creates.
func (s *Store) insert(ctx context.Context, name string, args []any, batched bool) (bool, error) {
	op := fmt.Sprintf("creating %q", name)
	if batched {
		a, err := s.creates.do(ctx, &createReq{name: name, args: args})
		switch {
		case errors.Is(err, errBatcherClosed):
			return false, &Error{Op: op, Code: codes.Unavailable, Err: err}
		case err != nil:
			return false, storeErr(op, err)
		case a.err != nil:
			return false, storeErr(op, a.err)
		case !a.alone:
			return a.inserted, nil
		}
	}
	sql := insertSQL
	if queuedArgs(args) {
		sql, args = insertQueuedSQL, append(args[:len(args):len(args)], s.channel)
	}
	tag, err := s.pool.Exec(ctx, sql, args...)
	if err != nil {
		return false, storeErr(op, err)
	}
	return tag.RowsAffected() == 1, nil
}

// createBatch inserts one batch and answers each of its calls.
func (s *Store) createBatch(calls []*createCall) {
	// The statement reports inserted names: a name that comes twice would
	// be reported for both calls, so the second inserts alone.
	seen := make(map[string]bool, len(calls))
	batch := calls[:0:0]
	for _, c := range calls {
		if seen[c.req.name] {
			c.answer(createAnswer{alone: true})
			continue
		}
		seen[c.req.name] = true
		batch = append(batch, c)
	}
	// A stable order keeps two batches from taking names in opposite
	// orders.
	slices.SortFunc(batch, func(a, b *createCall) int { return strings.Compare(a.req.name, b.req.name) })
	rows := make([][]any, len(batch))
	for i, c := range batch {
		rows[i] = c.req.args
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	cols := insertColumns(rows)
	if !slices.ContainsFunc(batch, func(c *createCall) bool { return queuedArgs(c.req.args) }) {
		_, err := s.pool.Exec(ctx, plainInsertBatchSQL, cols...)
		switch {
		case err == nil:
			for _, c := range batch {
				c.answer(createAnswer{inserted: true})
			}
			return
		case !isUniqueViolation(err):
			failCreates(batch, err)
			return
		}
		// A name or request id is taken: insertBatchSQL tells which.
	}
	names, err := queryRows(ctx, s.pool, func(row pgx.CollectableRow) (string, error) {
		var name string
		err := row.Scan(&name, nil) // the second column is pg_notify's (void) result
		return name, err
	}, insertBatchSQL, append(cols, s.channel)...)
	if err != nil {
		failCreates(batch, err)
		return
	}
	inserted := setOf(names)
	for _, c := range batch {
		c.answer(createAnswer{inserted: inserted[c.req.name]})
	}
}

// failCreates answers the calls of a batch whose statement failed with
// err.
func failCreates(batch []*createCall, err error) {
	// One failing record (or a deadlock between two batches retrying the
	// same request ids in another order) must not fail the others: each
	// inserts alone.
	a := createAnswer{alone: true}
	if len(batch) == 1 {
		a = createAnswer{err: err}
	}
	for _, c := range batch {
		c.answer(a)
	}
}

// insertColumns turns rows of insertSQL arguments into the column arrays
// of insertBatchSQL.
func insertColumns(rows [][]any) []any {
	return []any{
		column[string](rows, 0), column[string](rows, 1), column[time.Time](rows, 2), column[time.Time](rows, 3),
		column[*time.Time](rows, 4), column[string](rows, 5), column[bool](rows, 6), column[string](rows, 7),
		column[*time.Time](rows, 8), column[string](rows, 9), column[[]byte](rows, 10), column[int32](rows, 11),
		column[int64](rows, 12), column[bool](rows, 13), column[[]byte](rows, 14), column[*int32](rows, 15),
		column[*string](rows, 16), column[*string](rows, 17), column[*string](rows, 18), column[[]byte](rows, 19),
		column[*int64](rows, 20), column[*time.Time](rows, 21), column[*time.Time](rows, 22),
		column[*time.Time](rows, 23), column[string](rows, 24),
	}
}

// queuedArgs reports whether insertSQL arguments are those of a queued
// operation of a kind, which replicas may claim: not done, no owner, a
// kind, no start time (see notifyQueuedExpr).
func queuedArgs(args []any) bool {
	return !args[13].(bool) && args[7].(string) == "" && args[9].(string) != "" && args[21].(*time.Time) == nil
}

// column returns argument i of every row; each must be a T.
func column[T any](rows [][]any, i int) []T {
	out := make([]T, len(rows))
	for j, r := range rows {
		out[j] = r[i].(T)
	}
	return out
}
