package pgstore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// watchSignal is a Store that reports every Watch call on watched, so a
// test knows when a Manager has started waiting.
type watchSignal struct {
	*Store
	watched chan string
}

func (w watchSignal) Watch(name string, fn func(lro.Event)) func() {
	stop := w.Store.Watch(name, fn)
	select {
	case w.watched <- name:
	default:
	}
	return stop
}

// newManager returns a Manager on s, closed at the end of the test (before
// s, since cleanups run last first).
func newManager(t *testing.T, s lro.Store, opts ...lro.Option) *lro.Manager {
	t.Helper()
	m, err := lro.New(append([]lro.Option{lro.WithStore(s)}, opts...)...)
	if err != nil {
		t.Fatalf("lro.New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}

// waitDone waits on m until the operation is done.
func waitDone(t *testing.T, m *lro.Manager, name string) *longrunningpb.Operation {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		op, err := m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: name, Timeout: durationpb.New(20 * time.Second)})
		if err != nil {
			t.Fatalf("WaitOperation(%q): %v", name, err)
		}
		if op.GetDone() {
			return op
		}
	}
}

func TestReplicasWaitWakesAcross(t *testing.T) {
	t.Parallel()
	schema := freshSchema(t)
	// An hour between polls: only a notification can wake the waiter.
	a := newStore(t, schema, WithPollInterval(time.Hour))
	b := watchSignal{newStore(t, schema, WithPollInterval(time.Hour)), make(chan string, 10)}
	mA := newManager(t, a, lro.WithOwner("replica-a"))
	mB := newManager(t, b, lro.WithOwner("replica-b"))
	ctx := context.Background()

	release := make(chan struct{})
	op, err := mA.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		<-release
		return durationpb.New(7 * time.Second), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *longrunningpb.Operation, 1)
	go func() {
		op, err := mB.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(time.Minute)})
		if err != nil {
			t.Errorf("WaitOperation on B: %v", err)
		}
		got <- op
	}()
	if name := <-b.watched; name != op.GetName() {
		t.Fatalf("B watches %q; want %q", name, op.GetName())
	}
	// B is waiting (or about to read the record, which is not done yet).
	close(release)
	select {
	case res := <-got:
		var d durationpb.Duration
		if !res.GetDone() || res.GetResponse().UnmarshalTo(&d) != nil || d.AsDuration() != 7*time.Second {
			t.Errorf("Wait on B = %v; want done with the 7s response", res)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Wait on B did not wake when A completed")
	}
}

func TestReplicasCancelReachesOwner(t *testing.T) {
	t.Parallel()
	schema := freshSchema(t)
	a := newStore(t, schema, WithPollInterval(time.Hour))
	b := newStore(t, schema, WithPollInterval(time.Hour))
	mA := newManager(t, a, lro.WithOwner("replica-a"))
	mB := newManager(t, b, lro.WithOwner("replica-b"))
	ctx := context.Background()

	started := make(chan struct{})
	cancelled := make(chan error, 1)
	op, err := mA.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		close(started)
		<-ctx.Done()
		cancelled <- ctx.Err()
		return nil, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	if _, err := mB.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: op.GetName()}); err != nil {
		t.Fatalf("CancelOperation on B: %v", err)
	}
	select {
	case err := <-cancelled:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("A's work context ended with %v; want cancelled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("cancelling on B did not reach the work running on A")
	}
	done := waitDone(t, mB, op.GetName())
	if done.GetError().GetCode() != int32(codes.Canceled) {
		t.Errorf("operation ended with %v; want CANCELLED", done.GetResult())
	}
}

func TestReplicasListAndPageTokens(t *testing.T) {
	t.Parallel()
	schema := freshSchema(t)
	mA := newManager(t, newStore(t, schema))
	mB := newManager(t, newStore(t, schema))
	ctx := context.Background()
	want := map[string]bool{}
	for range 7 {
		op, err := mA.Create(ctx, lro.WithParent("projects/p"))
		if err != nil {
			t.Fatal(err)
		}
		want[op.GetName()] = true
	}
	seen := map[string]bool{}
	req := &longrunningpb.ListOperationsRequest{Name: "projects/p/operations", PageSize: 2}
	for page, m := 0, mA; ; page++ {
		if page > 10 {
			t.Fatal("too many pages")
		}
		resp, err := m.ListOperations(ctx, req)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		for _, op := range resp.GetOperations() {
			if seen[op.GetName()] {
				t.Errorf("%s listed twice", op.GetName())
			}
			seen[op.GetName()] = true
		}
		if resp.GetNextPageToken() == "" {
			break
		}
		req.PageToken = resp.GetNextPageToken()
		// The next page from the other replica: tokens are signed with the
		// shared secret.
		if m == mA {
			m = mB
		} else {
			m = mA
		}
	}
	if len(seen) != len(want) {
		t.Errorf("listed %d operations across replicas; want %d", len(seen), len(want))
	}
}

func TestReplicasAdoptOrphans(t *testing.T) {
	t.Parallel()
	schema := freshSchema(t)
	s := newStore(t, schema)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	req, err := anypb.New(durationpb.New(3 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// Two operations left by a replica that died: registered work, which is
	// run again, and a work function, which cannot be and is ended.
	orphan := func(id, kind string, request *anypb.Any) string {
		r := rec("", id, 0)
		r.CreateTime, r.UpdateTime = now, now
		r.Owner = "dead-replica"
		r.LeaseExpireTime = now.Add(-time.Minute)
		r.Kind = kind
		r.Request = request
		r.Attempt = 1
		mustCreate(t, s, r)
		return r.Operation.GetName()
	}
	kindOp := orphan("kind", "echo", req)
	funcOp := orphan("func", "", nil)

	m, err := lro.New(lro.WithStore(newStore(t, schema)), lro.WithOwner("replica-b"), lro.WithLease(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	attempts := make(chan int, 1)
	if err := lro.Register(m, "echo", func(ctx context.Context, op *lro.Op, req *durationpb.Duration) (proto.Message, error) {
		attempts <- op.Attempt()
		return req, nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(context.Background()) })

	done := waitDone(t, m, kindOp)
	var d durationpb.Duration
	if done.GetResponse().UnmarshalTo(&d) != nil || d.AsDuration() != 3*time.Second {
		t.Errorf("adopted registered work ended with %v; want the echoed request", done.GetResult())
	}
	if got := <-attempts; got != 2 {
		t.Errorf("adopted work ran as attempt %d; want 2", got)
	}
	done = waitDone(t, m, funcOp)
	if done.GetError().GetCode() != int32(codes.Unavailable) {
		t.Errorf("orphaned work function ended with %v; want UNAVAILABLE", done.GetResult())
	}
	rec, err := s.Get(ctx, kindOp)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Owner != "replica-b" {
		t.Errorf("adopted operation owned by %q; want replica-b", rec.Owner)
	}
}

// TestWaitWhileListenerDown: while a replica's listener is down (here held
// between its reconnect and its catch-up), the store says its
// notifications do not flow, and the Manager's fallback re-read wakes a
// waiter whose operation another replica finished meanwhile; once the
// listener has caught up, notifications flow again.
func TestWaitWhileListenerDown(t *testing.T) {
	t.Parallel()
	schema := freshSchema(t)
	var hold atomic.Bool
	unhold := make(chan struct{})
	pids := make(chan uint32, 10)
	a := newStore(t, schema, WithPollInterval(time.Hour))
	bStore := newStore(t, schema, WithPollInterval(50*time.Millisecond), withConnectHook(func(pid uint32) {
		pids <- pid
		if hold.Load() {
			<-unhold
		}
	}))
	var unholdOnce sync.Once
	letGo := func() { unholdOnce.Do(func() { close(unhold) }) }
	t.Cleanup(letGo) // before the stores close, even when the test fails
	b := watchSignal{bStore, make(chan string, 10)}
	mA := newManager(t, a, lro.WithOwner("replica-a"))
	mB := newManager(t, b, lro.WithOwner("replica-b"))
	ctx := context.Background()
	first := <-pids

	release := make(chan struct{})
	op, err := mA.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		<-release
		return durationpb.New(time.Second), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		op  *longrunningpb.Operation
		err error
	}
	waited := make(chan result, 1)
	go func() {
		got, err := mB.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(time.Minute)})
		waited <- result{got, err}
	}()
	for <-b.watched != op.GetName() {
	}
	if !bStore.Notifying() {
		t.Fatal("Notifying = false with the listener up")
	}

	hold.Store(true)
	var killed bool
	if err := a.pool.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, int32(first)).Scan(&killed); err != nil || !killed {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", first, killed, err)
	}
	select {
	case <-pids: // reconnected, and held before its catch-up
	case <-time.After(30 * time.Second):
		t.Fatal("the listener did not reconnect")
	}
	if bStore.Notifying() {
		t.Error("Notifying = true before the listener caught up")
	}
	close(release)
	select {
	case r := <-waited:
		if r.err != nil || !r.op.GetDone() {
			t.Errorf("WaitOperation while the listener was down = %v, %v; want done", r.op, r.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the waiter was not woken while the listener was down")
	}
	letGo()
	for deadline := time.Now().Add(30 * time.Second); !bStore.Notifying(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Notifying stayed false after the listener caught up")
		}
	}
}
