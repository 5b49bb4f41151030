package lro_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The owner lease of a Manager, on the memory store with a fake clock.

const testLease = 30 * time.Second

// heldBy stores a running operation owned by owner, of kind (with request
// req) or a work function when kind is "".
func heldBy(t *testing.T, s lro.Store, owner, name, kind string, req proto.Message) {
	t.Helper()
	rec := lrotest.NewRecord(name, epoch.Add(-time.Hour))
	rec.Owner = owner
	rec.Kind = kind
	rec.Attempt = 1
	if req != nil {
		a, err := anypb.New(req)
		if err != nil {
			t.Fatal(err)
		}
		rec.Request = a
	}
	if _, _, err := s.Create(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
}

// maintained returns a channel that receives after every round of m's
// lease loop.
func maintained(m *lro.Manager) <-chan struct{} {
	rounds := make(chan struct{}, 100)
	lro.SetAfterMaintain(m, func() { rounds <- struct{}{} })
	return rounds
}

// tick advances clk by a third of the lease once the sweep and lease loops
// wait on it, and waits for the lease round it triggers.
func tick(clk *lrotest.Clock, rounds <-chan struct{}) {
	clk.WaitForTimers(2, nil)
	clk.Advance(testLease / 3)
	<-rounds
}

// causeWork is work that blocks until its context ends, reports the cause
// on causes, then waits for proceed before it returns the context's error.
// A run after the first one returns its attempt number at once.
func causeWork(causes chan<- error, proceed <-chan struct{}) lro.WorkFunc {
	return func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		if op.Attempt() > 1 {
			return wrapperspb.Int32(int32(op.Attempt())), nil
		}
		<-ctx.Done()
		causes <- context.Cause(ctx)
		<-proceed
		return nil, ctx.Err()
	}
}

// nextCause returns the next cause causeWork reports, failing the test if
// none comes within waitTimeout.
func nextCause(t *testing.T, causes <-chan error) error {
	t.Helper()
	select {
	case c := <-causes:
		return c
	case <-time.After(waitTimeout):
		t.Fatal("the work's context was not cancelled")
		return nil
	}
}

// wantLeaseLost fails the test unless cause wraps ErrLeaseLost and says
// what.
func wantLeaseLost(t *testing.T, cause error, what string) {
	t.Helper()
	if !errors.Is(cause, lro.ErrLeaseLost) || !strings.Contains(cause.Error(), what) {
		t.Errorf("work's context ended with cause %v; want lro.ErrLeaseLost, saying %q", cause, what)
	}
}

func TestOwnerIDIsExclusive(t *testing.T) {
	ctx := context.Background()
	store := lro.NewMemoryStore()
	a, err := lro.New(lro.WithStore(store), lro.WithOwner("replica-1"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = lro.New(lro.WithStore(store), lro.WithOwner("replica-1"))
	if !errors.Is(err, lro.ErrOwnerTaken) || !strings.Contains(err.Error(), `"replica-1"`) {
		t.Fatalf("New with the owner id of a live Manager: %v; want ErrOwnerTaken naming the id", err)
	}
	newManager(t, lro.WithStore(store), lro.WithOwner("replica-2"))
	newManager(t, lro.WithStore(lro.NewMemoryStore()), lro.WithOwner("replica-1"))
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	newManager(t, lro.WithStore(store), lro.WithOwner("replica-1")) // released by Close
}

// TestOwnerIDOfDeadManager: the id of a Manager that died is free once its
// lease lapsed, and the Manager that takes it takes back its operations.
func TestOwnerIDOfDeadManager(t *testing.T) {
	ctx := context.Background()
	clk := lrotest.NewClock(epoch)
	store := lro.NewMemoryStore()
	if err := store.RegisterOwner(ctx, lro.LeaseParams{Owner: "a", Token: "dead", Now: epoch, Lease: testLease}); err != nil {
		t.Fatal(err)
	}
	heldBy(t, store, "a", "operations/kind", "export", wrapperspb.String("books"))
	heldBy(t, store, "a", "operations/func", "", nil)
	heldBy(t, store, "b", "operations/others", "export", wrapperspb.String("x"))
	if err := store.RegisterOwner(ctx, lro.LeaseParams{Owner: "b", Token: "live", Now: epoch, Lease: time.Hour}); err != nil {
		t.Fatal(err)
	}

	_, err := lro.New(lro.WithStore(store), lro.WithClock(clk), lro.WithOwner("a"))
	if !errors.Is(err, lro.ErrOwnerTaken) {
		t.Fatalf("New before the dead Manager's lease lapsed: %v, want ErrOwnerTaken", err)
	}
	clk.Advance(testLease + time.Microsecond)
	m := newManager(t, lro.WithStore(store), lro.WithClock(clk), lro.WithOwner("a"), lro.WithLease(testLease))
	if err := lro.Register(m, "export", exportHandler); err != nil {
		t.Fatal(err)
	}
	tick(clk, maintained(m))

	var resp wrapperspb.StringValue
	if err := waitDone(t, m, "operations/kind").GetResponse().UnmarshalTo(&resp); err != nil || resp.GetValue() != "books#2" {
		t.Errorf("registered work the id held: %q, %v; want it run again as attempt 2", resp.GetValue(), err)
	}
	got := waitDone(t, m, "operations/func")
	if codes.Code(got.GetError().GetCode()) != codes.Unavailable || !strings.Contains(got.GetError().GetMessage(), "lease") {
		t.Errorf("work function the id held: %v; want UNAVAILABLE saying its owner was lost", got.GetError())
	}
	if rec, err := store.Get(ctx, "operations/others"); err != nil || rec.Owner != "b" || rec.Done() {
		t.Errorf("an operation of another live owner: %v, %v; want it left to b", rec, err)
	}
}

// failingRenewals is a store whose renewals fail while fail is set, as
// when the database cannot be reached.
type failingRenewals struct {
	lro.Store
	fail atomic.Bool
}

func (f *failingRenewals) RenewLeases(ctx context.Context, p lro.LeaseParams) error {
	if f.fail.Load() {
		return errors.New("the store cannot be reached")
	}
	return f.Store.RenewLeases(ctx, p)
}

// TestUnrenewedLeaseCancelsAllWork: a Manager that cannot renew its lease
// before it runs out cancels all its work, starts none until it holds its
// lease again, then takes its operations back.
func TestUnrenewedLeaseCancelsAllWork(t *testing.T) {
	ctx := context.Background()
	clk := lrotest.NewClock(epoch)
	store := &failingRenewals{Store: lro.NewMemoryStore()}
	m := newManager(t, lro.WithStore(store), lro.WithClock(clk), lro.WithOwner("a"), lro.WithLease(testLease))
	causes := make(chan error, 2)
	proceed := make(chan struct{})
	work := causeWork(causes, proceed)
	if err := lro.Register(m, "work", func(ctx context.Context, op *lro.Op, _ *wrapperspb.StringValue) (proto.Message, error) {
		return work(ctx, op)
	}); err != nil {
		t.Fatal(err)
	}
	rounds := maintained(m)
	kind, err := m.StartKind(ctx, "work", wrapperspb.String("x"))
	if err != nil {
		t.Fatal(err)
	}
	fn, err := m.Start(ctx, work)
	if err != nil {
		t.Fatal(err)
	}

	store.fail.Store(true)
	tick(clk, rounds)
	tick(clk, rounds)
	select {
	case cause := <-causes:
		t.Fatalf("work cancelled before the lease ran out: %v", cause)
	default:
	}
	tick(clk, rounds) // the lease has run out
	for range 2 {
		wantLeaseLost(t, nextCause(t, causes), "could not renew")
	}
	_, err = m.Start(ctx, work)
	wantCode(t, err, codes.Unavailable)

	store.fail.Store(false)
	close(proceed) // the work ends; its errors are dropped
	// Once the work has ended (which nothing in the store shows: its
	// errors are dropped), the Manager registers again, in the first
	// round after that.
	for deadline := time.Now().Add(waitTimeout); ; {
		if time.Now().After(deadline) {
			t.Fatal("the Manager did not register again")
		}
		tick(clk, rounds)
		op, err := m.Start(ctx, func(context.Context, *lro.Op) (proto.Message, error) { return nil, nil })
		if err == nil {
			waitDone(t, m, op.GetName())
			break
		}
		wantCode(t, err, codes.Unavailable)
	}
	var attempt wrapperspb.Int32Value
	if err := waitDone(t, m, kind.GetName()).GetResponse().UnmarshalTo(&attempt); err != nil || attempt.GetValue() != 2 {
		t.Errorf("registered work whose run was cancelled: response %v, %v; want it run again as attempt 2", attempt.GetValue(), err)
	}
	got := waitDone(t, m, fn.GetName())
	if codes.Code(got.GetError().GetCode()) != codes.Unavailable || !strings.Contains(got.GetError().GetMessage(), "lease") {
		t.Errorf("work function whose run was cancelled: %v; want UNAVAILABLE saying the lease was lost", got.GetError())
	}
}

// TestTakenOverWorkIsCancelled: when another replica claims an operation,
// the replica running it hears of it and cancels the work; the operation
// ends once, by the claimer.
func TestTakenOverWorkIsCancelled(t *testing.T) {
	ctx := context.Background()
	store := lro.NewMemoryStore()
	// a's clock stands still, as if a were frozen, while b's runs on.
	clkA, clkB := lrotest.NewClock(epoch), lrotest.NewClock(epoch)
	causes := make(chan error, 1)
	proceed := make(chan struct{})
	register := func(m *lro.Manager) {
		work := causeWork(causes, proceed)
		if err := lro.Register(m, "work", func(ctx context.Context, op *lro.Op, _ *wrapperspb.StringValue) (proto.Message, error) {
			return work(ctx, op)
		}); err != nil {
			t.Fatal(err)
		}
	}
	a := newManager(t, lro.WithStore(store), lro.WithClock(clkA), lro.WithOwner("a"), lro.WithLease(testLease))
	register(a)
	b := newManager(t, lro.WithStore(store), lro.WithClock(clkB), lro.WithOwner("b"), lro.WithLease(testLease))
	register(b)
	op, err := a.StartKind(ctx, "work", wrapperspb.String("x"))
	if err != nil {
		t.Fatal(err)
	}
	rounds := maintained(b)
	for range 4 { // past a's lease, by b's clock
		tick(clkB, rounds)
	}
	wantLeaseLost(t, nextCause(t, causes), `replica "b" took`)
	close(proceed)
	var attempt wrapperspb.Int32Value
	if err := waitDone(t, b, op.GetName()).GetResponse().UnmarshalTo(&attempt); err != nil || attempt.GetValue() != 2 {
		t.Errorf("taken-over work: response %v, %v; want b's run, attempt 2", attempt.GetValue(), err)
	}
	if rec, err := store.Get(ctx, op.GetName()); err != nil || rec.Owner != "b" || rec.Attempt != 2 {
		t.Errorf("taken-over operation: %v, %v; want owned by b at attempt 2", rec, err)
	}
}

// ownerless hides owners from watch events, so that a Manager learns of a
// takeover only when a write is refused.
type ownerless struct{ lro.Store }

func (o ownerless) Watch(name string, fn func(lro.Event)) func() {
	return o.Store.Watch(name, func(ev lro.Event) {
		ev.Owner = ""
		fn(ev)
	})
}

func TestRefusedSetMetadataCancelsWork(t *testing.T) {
	ctx := context.Background()
	store := ownerless{lro.NewMemoryStore()}
	m := newManager(t, lro.WithStore(store), lro.WithOwner("a"))
	takenOver := make(chan struct{})
	type outcome struct {
		err, cause error
	}
	out := make(chan outcome, 1)
	op, err := m.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		<-takenOver
		if ctx.Err() != nil {
			t.Error("the work was cancelled before SetMetadata was refused")
		}
		err := op.SetMetadata(ctx, wrapperspb.Int32(1))
		out <- outcome{err, context.Cause(ctx)}
		return nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Update(ctx, op.GetName(), func(r *lro.Record) error { r.Owner = "b"; return nil }); err != nil {
		t.Fatal(err)
	}
	close(takenOver)
	got := <-out
	wantCode(t, got.err, codes.FailedPrecondition)
	wantLeaseLost(t, got.cause, "SetMetadata")
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if rec, err := store.Get(ctx, op.GetName()); err != nil || rec.Done() || rec.Owner != "b" {
		t.Errorf("after the refusal: %v, %v; want it b's and running, the work's error dropped", rec, err)
	}
}
