package pgstore

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/jackc/pgx/v5"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// txKind is the kind the StartKindTx tests register.
const txKind = "ship"

// ranLog records which operations a handler ran, in order.
type ranLog struct {
	mu   sync.Mutex
	runs map[string]string // operation name → request
	ran  chan string
}

func newRanLog() *ranLog {
	return &ranLog{runs: map[string]string{}, ran: make(chan string, 100)}
}

func (l *ranLog) handler(ctx context.Context, op *lro.Op, req *wrapperspb.StringValue) (proto.Message, error) {
	l.mu.Lock()
	l.runs[op.Name()] = req.GetValue()
	l.mu.Unlock()
	l.ran <- op.Name()
	return wrapperspb.String("shipped " + req.GetValue()), nil
}

func (l *ranLog) get(name string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.runs[name]
	return v, ok
}

// txSetup is a schema with a host table (orders), an accept-only front
// Manager and a worker Manager with one slot, on Stores of their own. The
// worker's maintenance tick is an hour away, so only the queue
// notification can wake it.
type txSetup struct {
	front, worker *lro.Manager
	store         *Store // the front's
	log           *ranLog
}

func newTxSetup(t *testing.T, workerOpts ...lro.KindOption) *txSetup {
	t.Helper()
	schema := freshSchema(t)
	st := &txSetup{store: newStore(t, schema), log: newRanLog()}
	if _, err := st.store.Pool().Exec(context.Background(), `CREATE TABLE orders (id text PRIMARY KEY, operation text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	slow := lro.WithLease(time.Hour)
	st.front = lrotest.NewManager(t, st.store, lro.WithMaxRunning(0), slow)
	if err := lro.Register(st.front, txKind, st.log.handler); err != nil {
		t.Fatal(err)
	}
	st.worker = lrotest.NewManager(t, newStore(t, schema), lro.WithMaxRunning(1), slow)
	if err := lro.Register(st.worker, txKind, st.log.handler, workerOpts...); err != nil {
		t.Fatal(err)
	}
	return st
}

// order writes a host row and starts its operation in one transaction,
// committed if commit is set and rolled back otherwise.
func (st *txSetup) order(t *testing.T, id string, commit bool, opts ...lro.StartOption) *longrunningpb.Operation {
	t.Helper()
	ctx := context.Background()
	tx, err := st.store.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	op, err := StartKindTx(ctx, tx, st.front, txKind, wrapperspb.String(id), opts...)
	if err != nil {
		t.Fatalf("StartKindTx: %v", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO orders (id, operation) VALUES ($1, $2)`, id, op.GetName()); err != nil {
		t.Fatal(err)
	}
	// Until the commit, nobody else sees the operation.
	if _, err := st.store.Get(ctx, op.GetName()); !errors.Is(err, lro.ErrNotFound) {
		t.Errorf("Get before the commit = %v; want ErrNotFound", err)
	}
	if commit {
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	} else if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	return op
}

// rowCount counts the rows of table in the front Store's schema that
// match where.
func (st *txSetup) rowCount(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := st.store.Pool().QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStartKindTxCommit: an operation started in a committed transaction,
// next to a host row, is stored with it and run by the worker, woken by
// the notification sent at the commit; Get and Wait see it on every
// replica.
func TestStartKindTxCommit(t *testing.T) {
	t.Parallel()
	st := newTxSetup(t)
	op := st.order(t, "o-1", true)
	if op.GetDone() {
		t.Fatalf("StartKindTx returned a done operation: %v", op)
	}
	done := lrotest.WaitDone(t, st.front, op.GetName())
	var got wrapperspb.StringValue
	if err := done.GetResponse().UnmarshalTo(&got); err != nil || got.GetValue() != "shipped o-1" {
		t.Fatalf("response = %v, %v; want shipped o-1", done.GetResponse(), err)
	}
	if req, ok := st.log.get(op.GetName()); !ok || req != "o-1" {
		t.Errorf("the handler ran with %q, %v; want o-1", req, ok)
	}
	if n := st.rowCount(t, `SELECT count(*) FROM orders WHERE id = 'o-1' AND operation = $1`, op.GetName()); n != 1 {
		t.Errorf("%d host rows name the operation; want 1", n)
	}
	if _, err := st.worker.GetOperation(context.Background(), &longrunningpb.GetOperationRequest{Name: op.GetName()}); err != nil {
		t.Errorf("Get on the worker: %v", err)
	}
}

// TestStartKindTxRollback: an operation started in a transaction that
// rolls back leaves no row, and its work never runs. The worker has one
// slot and claims oldest first, so once a later operation has run, the
// rolled-back one would have run before it had it existed.
func TestStartKindTxRollback(t *testing.T) {
	t.Parallel()
	st := newTxSetup(t)
	gone := st.order(t, "o-gone", false)
	kept := st.order(t, "o-kept", true)
	lrotest.WaitDone(t, st.front, kept.GetName())
	if first := <-st.log.ran; first != kept.GetName() {
		t.Errorf("the first operation run was %s; want %s", first, kept.GetName())
	}
	if _, ok := st.log.get(gone.GetName()); ok {
		t.Errorf("the rolled-back operation %s ran", gone.GetName())
	}
	if n := st.rowCount(t, `SELECT count(*) FROM lro_operations WHERE name = $1`, gone.GetName()); n != 0 {
		t.Errorf("the rolled-back operation left %d rows", n)
	}
	if n := st.rowCount(t, `SELECT count(*) FROM orders WHERE id = 'o-gone'`); n != 0 {
		t.Errorf("the rolled-back host row is there (%d)", n)
	}
	_, err := st.front.GetOperation(context.Background(), &longrunningpb.GetOperationRequest{Name: gone.GetName()})
	if status.Code(err) != codes.NotFound {
		t.Errorf("Get of the rolled-back operation = %v; want NOT_FOUND", err)
	}
}

// TestStartKindTxRecord: the stored record is StartKind's queued one: no
// owner, never started, the request id and parent given, and the deadline
// of WithTimeout or else KindTimeout counted from its creation.
func TestStartKindTxRecord(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	m := lrotest.NewManager(t, s, lro.WithMaxRunning(0)) // runs nothing: the record stays queued
	if err := lro.Register(m, txKind, newRanLog().handler, lro.KindTimeout(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts []lro.StartOption
		want time.Duration
	}{
		{"KindTimeout", nil, 2 * time.Hour},
		{"WithTimeout", []lro.StartOption{lro.WithTimeout(time.Minute)}, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			var op *longrunningpb.Operation
			err := pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
				var err error
				op, err = StartKindTx(ctx, tx, m, txKind, wrapperspb.String("x"),
					append(tc.opts, lro.WithParent("shops/1"), lro.WithRequestID("rid-"+tc.name))...)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.Get(ctx, op.GetName())
			if err != nil {
				t.Fatal(err)
			}
			if !r.Queued() || r.Owner != "" || r.Attempt != 0 || r.Kind != txKind || r.Parent != "shops/1" || r.RequestID != "rid-"+tc.name {
				t.Errorf("record = queued %v, owner %q, attempt %d, kind %q, parent %q, request id %q; want a queued, unowned %s under shops/1",
					r.Queued(), r.Owner, r.Attempt, r.Kind, r.Parent, r.RequestID, txKind)
			}
			if got := r.Deadline.Sub(r.CreateTime); got != tc.want {
				t.Errorf("deadline = create time + %v; want + %v", got, tc.want)
			}
			var req wrapperspb.StringValue
			if err := r.Request.UnmarshalTo(&req); err != nil || req.GetValue() != "x" {
				t.Errorf("stored request = %v, %v", r.Request, err)
			}
		})
	}
}

// TestStartKindTxRequestID: a request id taken earlier in the same
// transaction, or by a committed operation, returns that operation, adds
// no row and leaves the transaction usable; an expired holder gives way.
func TestStartKindTxRequestID(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	m := lrotest.NewManager(t, s, lro.WithMaxRunning(0))
	if err := lro.Register(m, txKind, newRanLog().handler); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	start := func(tx pgx.Tx, id string) string {
		t.Helper()
		op, err := StartKindTx(ctx, tx, m, txKind, wrapperspb.String(id), lro.WithRequestID("same"))
		if err != nil {
			t.Fatalf("StartKindTx(%s): %v", id, err)
		}
		return op.GetName()
	}
	var first string
	if err := pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
		first = start(tx, "a")
		if again := start(tx, "b"); again != first {
			t.Errorf("in the same transaction: %s; want %s", again, first)
		}
		_, err := tx.Exec(ctx, `SELECT 1`) // still usable
		return err
	}); err != nil {
		t.Fatalf("the transaction failed: %v", err)
	}
	if err := pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
		if again := start(tx, "c"); again != first {
			t.Errorf("after the commit: %s; want %s", again, first)
		}
		return nil
	}); err != nil {
		t.Fatalf("the second transaction failed: %v", err)
	}
	var n int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM lro_operations WHERE request_id = 'same'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d rows hold the request id (%v); want 1", n, err)
	}

	// Once the holder is done and expired, a new start takes the id.
	if _, err := s.Update(ctx, first, func(r *lro.Record) error {
		r.Operation.Done = true
		r.Operation.Result = &longrunningpb.Operation_Response{}
		r.ExpireTime = time.Now().Add(-time.Hour)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var fresh string
	if err := pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
		fresh = start(tx, "d")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fresh == first {
		t.Errorf("the expired holder %s was returned", first)
	}
	if _, err := s.Get(ctx, first); !errors.Is(err, lro.ErrNotFound) {
		t.Errorf("Get of the expired holder = %v; want ErrNotFound", err)
	}
}

// TestStartKindTxErrors: bad input fails with a clear code, writes
// nothing and leaves the transaction usable.
func TestStartKindTxErrors(t *testing.T) {
	t.Parallel()
	schema := freshSchema(t)
	s := newStore(t, schema)
	m := lrotest.NewManager(t, s, lro.WithMaxRunning(0))
	if err := lro.Register(m, txKind, newRanLog().handler); err != nil {
		t.Fatal(err)
	}
	closed, err := lro.New(lro.WithStore(s))
	if err != nil {
		t.Fatal(err)
	}
	if err := lro.Register(closed, txKind, newRanLog().handler); err != nil {
		t.Fatal(err)
	}
	if err := closed.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	inMemory := lrotest.NewManager(t, lro.NewMemoryStore())
	if err := lro.Register(inMemory, txKind, newRanLog().handler); err != nil {
		t.Fatal(err)
	}
	other := newPool(t, freshSchema(t), 2) // another schema of the same database
	ctx := context.Background()

	for _, tc := range []struct {
		name string
		m    *lro.Manager
		nilTx,
		otherTx bool
		kind string
		req  proto.Message
		opts []lro.StartOption
		want codes.Code
	}{
		{name: "nil tx", m: m, nilTx: true, kind: txKind, req: wrapperspb.String("x"), want: codes.InvalidArgument},
		{name: "nil manager", kind: txKind, req: wrapperspb.String("x"), want: codes.InvalidArgument},
		{name: "unregistered kind", m: m, kind: "nope", req: wrapperspb.String("x"), want: codes.InvalidArgument},
		{name: "wrong request type", m: m, kind: txKind, req: wrapperspb.Int64(1), want: codes.InvalidArgument},
		{name: "nil request", m: m, kind: txKind, want: codes.InvalidArgument},
		{name: "bad timeout", m: m, kind: txKind, req: wrapperspb.String("x"), opts: []lro.StartOption{lro.WithTimeout(0)}, want: codes.InvalidArgument},
		{name: "bad parent", m: m, kind: txKind, req: wrapperspb.String("x"), opts: []lro.StartOption{lro.WithParent("/x/")}, want: codes.InvalidArgument},
		{name: "closed manager", m: closed, kind: txKind, req: wrapperspb.String("x"), want: codes.Unavailable},
		{name: "memory store", m: inMemory, kind: txKind, req: wrapperspb.String("x"), want: codes.FailedPrecondition},
		{name: "other schema", m: m, otherTx: true, kind: txKind, req: wrapperspb.String("x"), want: codes.FailedPrecondition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := s.Pool()
			if tc.otherTx {
				pool = other
			}
			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			use := tx
			if tc.nilTx {
				use = nil
			}
			op, err := StartKindTx(ctx, use, tc.m, tc.kind, tc.req, tc.opts...)
			if status.Code(err) != tc.want {
				t.Fatalf("StartKindTx = %v, %v; want %v", op, err, tc.want)
			}
			t.Logf("error: %v", err)
			if _, err := tx.Exec(ctx, `SELECT 1`); err != nil {
				t.Errorf("the transaction is no longer usable: %v", err)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
	var n int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM lro_operations`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d operations stored (%v); want none", n, err)
	}
}

// TestStartKindTxConcurrentRequestID: a start whose request id another
// transaction holds uncommitted waits for it, then returns its operation;
// under REPEATABLE READ, a holder that committed after the snapshot fails
// the start with UNAVAILABLE (retry the transaction), not with a
// duplicate.
func TestStartKindTxConcurrentRequestID(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	m := lrotest.NewManager(t, s, lro.WithMaxRunning(0))
	if err := lro.Register(m, txKind, newRanLog().handler); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	start := func(tx pgx.Tx, rid string) (*longrunningpb.Operation, error) {
		return StartKindTx(ctx, tx, m, txKind, wrapperspb.String(rid), lro.WithRequestID(rid))
	}

	t.Run("waits for the holder", func(t *testing.T) {
		holder, err := s.Pool().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer holder.Rollback(ctx)
		first, err := start(holder, "wait")
		if err != nil {
			t.Fatal(err)
		}
		waiter, err := s.Pool().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer waiter.Rollback(ctx)
		pid := waiter.Conn().PgConn().PID()
		type result struct {
			op  *longrunningpb.Operation
			err error
		}
		got := make(chan result, 1)
		go func() {
			op, err := start(waiter, "wait")
			got <- result{op, err}
		}()
		// Commit once the waiter waits on the holder's row lock.
		for waiting := false; !waiting; {
			select {
			case r := <-got:
				t.Fatalf("the start returned before the holder committed: %v, %v", r.op, r.err)
			default:
			}
			if err := s.Pool().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock')`, pid).Scan(&waiting); err != nil {
				t.Fatal(err)
			}
		}
		if err := holder.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		r := <-got
		if r.err != nil || r.op.GetName() != first.GetName() {
			t.Fatalf("the waiting start = %v, %v; want %s", r.op, r.err, first.GetName())
		}
		if err := waiter.Commit(ctx); err != nil {
			t.Fatalf("the waiting transaction cannot commit: %v", err)
		}
	})

	t.Run("repeatable read", func(t *testing.T) {
		late, err := s.Pool().BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
		if err != nil {
			t.Fatal(err)
		}
		defer late.Rollback(ctx)
		if _, err := late.Exec(ctx, `SELECT 1`); err != nil { // takes the snapshot
			t.Fatal(err)
		}
		if err := pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
			_, err := start(tx, "rr")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		op, err := start(late, "rr")
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("StartKindTx = %v, %v; want UNAVAILABLE", op, err)
		}
	})
}

// TestStartKindTxStartAfter: an operation started in a transaction with
// WithStartAfter is stored with its RunAfter and runs no earlier: the
// Manager that started it claims it on time (its maintenance round is an
// hour away, so nothing else would).
func TestStartKindTxStartAfter(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	m := lrotest.NewManager(t, s, lro.WithLease(time.Hour))
	ranAt := make(chan time.Time, 1)
	if err := lro.Register(m, txKind, func(ctx context.Context, op *lro.Op, req *wrapperspb.StringValue) (proto.Message, error) {
		ranAt <- time.Now()
		return req, nil
	}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	at := time.Now().Add(300 * time.Millisecond)
	var op *longrunningpb.Operation
	if err := pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
		var err error
		op, err = StartKindTx(ctx, tx, m, txKind, wrapperspb.String("x"), lro.WithStartAfter(at))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Get(ctx, op.GetName())
	if err != nil {
		t.Fatal(err)
	}
	if want := at.UTC().Truncate(time.Microsecond); !r.RunAfter.Equal(want) || !r.Queued() {
		t.Errorf("stored RunAfter %v, queued %v; want %v, queued", r.RunAfter, r.Queued(), want)
	}
	lrotest.WaitDone(t, m, op.GetName())
	if got := <-ranAt; got.Before(at.Truncate(time.Microsecond)) {
		t.Errorf("ran at %v, before %v", got, at)
	}
}
