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
}

// finishCall is a Finish call in a batch; its answer is Finish's error.
type finishCall = batchCall[*finishReq, error]

// finishSQL finishes a batch: $2 to $13 are its columns, one row per
// operation. It is one flat UPDATE, notifying in its RETURNING list, so
// that planning it (again at each plan generation, see plannedSQL) stays
// cheap.
var finishSQL = `UPDATE lro_operations o SET operation = i.operation, done = true, update_time = i.update_time,
	expire_time = i.expire_time, cancel_requested = false, lease_expire_time = NULL, version = o.version + 1,
	error_code = i.error_code, metadata_type = i.metadata_type, response_type = i.response_type,
	metadata_json = i.metadata_json::jsonb, metadata_schema = i.metadata_schema,
	derived_version = CASE WHEN i.derived THEN o.version + 1 END
FROM unnest($2::text[], $3::text[], $4::bytea[], $5::timestamptz[], $6::timestamptz[],
	$7::int4[], $8::text[], $9::text[], $10::text[], $11::bytea[], $12::bool[], $13::int4[])
	AS i(name, owner, operation, update_time, expire_time,
		error_code, metadata_type, response_type, metadata_json, metadata_schema, derived, attempt)
WHERE o.name = i.name AND o.owner = i.owner AND o.attempt = i.attempt AND NOT o.done
RETURNING o.name, ` + notifyExpr("o", false)

// finishPlans is finishSQL for each plan generation (see plannedSQL).
var finishPlans = newPlanned(finishSQL)

// presentPlans finds which of the names $1 have a record.
var presentPlans = newPlanned(`SELECT name FROM lro_operations WHERE name = ANY($1)`)

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
		expire: normTime(p.ExpireTime)}
	werr, berr := s.finishes.do(ctx, r)
	switch {
	case errors.Is(berr, errBatcherClosed):
		return &Error{Op: fmt.Sprintf("finishing %q", name), Code: codes.Unavailable, Err: berr}
	case berr != nil:
		return storeErr(fmt.Sprintf("finishing %q", name), berr)
	}
	return werr
}

// finishBatch writes one batch and answers each of its calls.
func (s *Store) finishBatch(calls []*finishCall) {
	// One statement finishes a row once: a name that comes twice waits for
	// the next statement, where it finds the row done.
	seen := make(map[string]bool, len(calls))
	var again []*finishCall
	batch := calls[:0:0]
	for _, c := range calls {
		r := c.req
		if seen[r.name] {
			again = append(again, c)
			continue
		}
		seen[r.name] = true
		batch = append(batch, c)
	}
	if len(again) > 0 {
		defer s.finishBatch(again)
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	// A stable order keeps two batches from locking rows in opposite
	// orders.
	slices.SortFunc(batch, func(a, b *finishCall) int { return strings.Compare(a.req.name, b.req.name) })
	n := len(batch)
	names, owners := make([]string, n), make([]string, n)
	ops := make([][]byte, n)
	nows, expires := make([]time.Time, n), make([]time.Time, n)
	attempts := make([]int32, n)
	var cols derivedColumns
	for i, c := range batch {
		r := c.req
		names[i], owners[i], ops[i], nows[i], expires[i], attempts[i] = r.name, r.owner, r.op, r.now, r.expire, r.attempt
		cols.add(r.derived)
	}
	written, err := queryRows(ctx, s.pool, func(row pgx.CollectableRow) (string, error) {
		var name string
		err := row.Scan(&name, nil) // the second column is pg_notify's (void) result
		return name, err
	}, s.planned(ctx, finishPlans), append(append([]any{s.channel, planPadded(names), owners, ops, nows, expires}, cols.args()...), attempts)...)
	if err != nil {
		err = storeErr("finishing a batch of operations", err)
		for _, c := range batch {
			c.answer(err)
		}
		return
	}
	finished := setOf(written)
	var missed []string
	for _, c := range batch {
		if finished[c.req.name] {
			c.answer(nil)
		} else {
			missed = append(missed, c.req.name)
		}
	}
	if len(missed) == 0 {
		return
	}
	// Refused: tell a deleted record from one that is done or owned by
	// another.
	found, err := queryRows(ctx, s.pool, pgx.RowTo[string], s.planned(ctx, presentPlans), planPadded(missed))
	present := setOf(found)
	for _, c := range batch {
		name := c.req.name
		switch {
		case finished[name]:
		case err != nil:
			c.answer(storeErr(fmt.Sprintf("finishing %q", name), err))
		case present[name]:
			c.answer(fmt.Errorf("pgstore: finishing %q: %w", name, lro.ErrNotOwner))
		default:
			c.answer(fmt.Errorf("pgstore: finishing %q: %w", name, lro.ErrNotFound))
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
