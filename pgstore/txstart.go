package pgstore

import (
	"context"
	"errors"
	"fmt"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/jackc/pgx/v5"
	"github.com/lrokit/lro"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// where is the database and schema a Store keeps its tables in; schema is
// nil when no schema of the search_path exists.
type where struct {
	database string
	schema   *string
}

// StartKindTx creates an operation of a registered kind inside tx, a
// transaction of the host's, so that the operation and the host's own
// rows are written together: the operation exists, and runs, only if tx
// commits; if tx rolls back, it leaves no trace and nothing runs. It takes
// the same options as StartKind and returns the operation as StartKind
// does, queued (done=false) until tx commits and a replica claims it.
//
// The operation is recorded queued, unowned, for whichever Manager on the
// same database and schema registered the kind and has a free slot (the
// replica that called StartKindTx too, unless it is accept-only); its
// queue notification is sent with tx, which PostgreSQL delivers only at
// commit, so a replica with a free slot starts it within milliseconds of
// the commit. Its deadline (WithTimeout, KindTimeout) counts from the call,
// not from the commit.
//
// With WithRequestID, a start whose parent and request id are taken (by a
// committed operation, or by one started earlier in tx) returns that
// operation and creates nothing, as Start does, and leaves tx usable. A
// concurrent transaction that holds them uncommitted makes the call wait
// for it; under REPEATABLE READ or SERIALIZABLE, a taker that committed
// after tx began fails the call with UNAVAILABLE (a serialization
// failure): retry the host's transaction.
//
// m must keep its operations in a *Store (WithStore) whose tables are in
// the database and current schema of tx's connection: begin tx on the
// Store's Pool, or on a pool configured alike. StartKindTx uses tx alone,
// never the Store's pool, so it cannot wait for a connection that the
// host's own transactions hold.
//
// It fails, without writing, with INVALID_ARGUMENT for a nil tx or m and
// for every input StartKind refuses (see lro.Manager.NewKindRecord: a kind
// that is not registered, a request of another type than the kind's
// Handler takes, payloads over the cap, invalid options); with
// UNAVAILABLE once m's Close has begun; and with FAILED_PRECONDITION when
// m's Store is not a *Store or tx is on another database or schema than
// it. A database failure is an *Error with its gRPC code, and leaves tx
// aborted, as any failed statement does: roll tx back. It never commits
// nor rolls back tx itself.
func StartKindTx(ctx context.Context, tx pgx.Tx, m *lro.Manager, kind string, req proto.Message, opts ...lro.StartOption) (*longrunningpb.Operation, error) {
	const op = "StartKindTx"
	if tx == nil || m == nil {
		return nil, &Error{Op: op, Code: codes.InvalidArgument, Err: errors.New("nil transaction or Manager")}
	}
	s, ok := m.Store().(*Store)
	if !ok {
		return nil, &Error{Op: op, Code: codes.FailedPrecondition,
			Err: fmt.Errorf("the Manager keeps its operations in a %T, not a *pgstore.Store (lro.WithStore)", m.Store())}
	}
	rec, err := m.NewKindRecord(ctx, kind, req, opts...)
	if err != nil {
		return nil, err
	}
	if err := s.checkWhere(ctx, tx); err != nil {
		return nil, err
	}
	stored, _, err := s.createTx(ctx, tx, rec)
	if err != nil {
		return nil, err
	}
	return stored.Operation, nil
}

// checkWhere fails with FAILED_PRECONDITION unless tx is on the database
// and schema the Store keeps its tables in.
func (s *Store) checkWhere(ctx context.Context, tx pgx.Tx) error {
	var w where
	if err := tx.QueryRow(ctx, `SELECT current_database(), current_schema()`).Scan(&w.database, &w.schema); err != nil {
		return storeErr("StartKindTx: reading the transaction's schema", err)
	}
	if w.database != s.where.database || !sameSchema(w.schema, s.where.schema) {
		return &Error{Op: "StartKindTx", Code: codes.FailedPrecondition,
			Err: fmt.Errorf("the transaction is on database %q, schema %s, but the Manager's Store keeps its tables in database %q, schema %s: begin the transaction on the Store's pool (Store.Pool)",
				w.database, schemaName(w.schema), s.where.database, schemaName(s.where.schema))}
	}
	return nil
}

// sameSchema reports whether two current_schema() results are the same
// schema; NULL (no schema) is none.
func sameSchema(a, b *string) bool {
	return a != nil && b != nil && *a == *b
}

// schemaName quotes a current_schema() result for a message.
func schemaName(s *string) string {
	if s == nil {
		return "(none)"
	}
	return fmt.Sprintf("%q", *s)
}

// createTx is Create inside tx for a queued record of a kind (see
// lro.Manager.NewKindRecord): it inserts the record and sends the queue
// notification with tx, or returns the record holding its parent and
// request id (created false). A conflict never fails a statement, so tx
// stays usable.
func (s *Store) createTx(ctx context.Context, tx pgx.Tx, rec *lro.Record) (*lro.Record, bool, error) {
	cp := rec.Clone()
	args, err := s.recordArgs(cp, 1)
	if err != nil {
		return nil, false, err
	}
	name := cp.Operation.GetName()
	if !queuedArgs(args[1:]) {
		return nil, false, &Error{Op: fmt.Sprintf("creating %q", name), Code: codes.Internal,
			Err: errors.New("the record is not a queued operation of a kind")}
	}
	for range createTries {
		n, err := execCount(ctx, tx, insertQueuedSQL, append(args[1:], s.channel)...)
		if err != nil {
			return nil, false, storeErr(fmt.Sprintf("creating %q", name), err)
		}
		if n == 1 {
			return cp, true, nil
		}
		prev, again, err := s.createConflict(ctx, tx, cp)
		if err != nil || !again {
			return prev, false, err
		}
	}
	return nil, false, conflictKeptChanging(name)
}
