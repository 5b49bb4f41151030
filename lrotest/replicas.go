package lrotest

import (
	"context"
	"errors"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// TestReplicas runs the multi-replica scenarios for a Store shared between
// processes:
//
//   - WaitWakesAcross: a Wait on one replica woken by work ending on
//     another;
//   - CancelReachesOwner: a Cancel on one replica reaching the work running
//     on another;
//   - ListAndPageTokens: page tokens of one replica accepted by another;
//   - AdoptOrphans: the adoption of a dead replica's operations;
//   - OwnerIDExclusive: one live Manager per owner id;
//   - FencedCompletion: a replica whose lease lapsed cannot end the work a
//     survivor took over: its Finish is refused;
//   - Queue: an accept-only replica records work of a kind, and workers
//     drain it, each operation run once, within the kind's global limit;
//   - KilledReplica: a replica cut off from the store mid-run (in-process:
//     every call fails, and its Manager is never closed while it matters);
//     the survivors adopt its work and end each operation exactly once.
//
// Every case is a subtest, run in parallel, that calls newCluster for a
// fresh, empty shared backend; newCluster returns the constructor of one
// replica's Store on it (its cleanup registered with t.Cleanup). Stores
// that notify across replicas may be made with a poll interval of an hour,
// to prove that the notification wakes the waiter; stores that only poll
// (lro.Poller) need a short one. The Queue scenario leaves the Managers'
// maintenance tick an hour away when the store is an lro.QueueWatcher that
// does not poll more often than once a minute, to prove that its
// notification finds the queued work; otherwise the tick does.
func TestReplicas(t *testing.T, newCluster func(t *testing.T) (newReplica func(t *testing.T) lro.Store)) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, c *cluster)
	}{
		{"WaitWakesAcross", testReplicasWaitWakesAcross},
		{"CancelReachesOwner", testReplicasCancelReachesOwner},
		{"ListAndPageTokens", testReplicasListAndPageTokens},
		{"AdoptOrphans", testReplicasAdoptOrphans},
		{"OwnerIDExclusive", testReplicasOwnerIDExclusive},
		{"FencedCompletion", testReplicasFencedCompletion},
		{"Queue", testReplicasQueue},
		{"KilledReplica", testReplicasKilledReplica},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, &cluster{newReplica: newCluster(t), ended: newEndings()})
		})
	}
}

// cluster is the shared backend of one scenario.
type cluster struct {
	newReplica func(t *testing.T) lro.Store
	ended      *endings
}

// replica returns the Store of a new replica called name (see
// replicaStore).
func (c *cluster) replica(t *testing.T, name string) *replicaStore {
	return newReplicaStore(c.newReplica(t), name, c.ended)
}

// closeManagers closes ms. A waiter can see an operation done before the
// Finish call that ended it has returned to the replica's counting store;
// Close waits for every write its Manager makes, so a test closes the
// Managers before it reads who ended what.
func closeManagers(t testing.TB, ms ...*lro.Manager) {
	t.Helper()
	for _, m := range ms {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := m.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		cancel()
	}
}

// NewManager returns a Manager on s with opts, closed at the end of the
// test (before s when s was made earlier, since cleanups run last first).
// It fails the test when lro.New refuses the options, and reports an error
// when Close fails.
func NewManager(t testing.TB, s lro.Store, opts ...lro.Option) *lro.Manager {
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

// WaitDone waits on m, through WaitOperation, until the named operation is
// done, and returns it. It fails the test when WaitOperation fails or the
// operation is not done within 30 seconds.
func WaitDone(t testing.TB, m *lro.Manager, name string) *longrunningpb.Operation {
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

func testReplicasWaitWakesAcross(t *testing.T, c *cluster) {
	a := c.replica(t, "replica-a")
	b := c.replica(t, "replica-b")
	b.watched = make(chan string, 10)
	mA := NewManager(t, a, lro.WithOwner("replica-a"))
	mB := NewManager(t, b, lro.WithOwner("replica-b"))
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

func testReplicasCancelReachesOwner(t *testing.T, c *cluster) {
	mA := NewManager(t, c.replica(t, "replica-a"), lro.WithOwner("replica-a"))
	mB := NewManager(t, c.replica(t, "replica-b"), lro.WithOwner("replica-b"))
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
	done := WaitDone(t, mB, op.GetName())
	if done.GetError().GetCode() != int32(codes.Canceled) {
		t.Errorf("operation ended with %v; want CANCELLED", done.GetResult())
	}
}

func testReplicasListAndPageTokens(t *testing.T, c *cluster) {
	mA := NewManager(t, c.replica(t, "a"))
	mB := NewManager(t, c.replica(t, "b"))
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

func testReplicasAdoptOrphans(t *testing.T, c *cluster) {
	s := c.newReplica(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	req, err := anypb.New(durationpb.New(3 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// Two operations left by a replica that died: registered work, which is
	// run again, and a work function, which cannot be and is ended.
	orphan := func(id, kind string, request *anypb.Any) string {
		r := NewRecord("operations/"+id, now)
		r.Owner = "dead-replica"
		r.LeaseExpireTime = now.Add(-time.Minute)
		r.Kind = kind
		r.Request = request
		r.Attempt = 1
		if _, created, err := s.Create(ctx, r); err != nil || !created {
			t.Fatalf("Create(%q) = created %v, %v; want created", r.Operation.GetName(), created, err)
		}
		return r.Operation.GetName()
	}
	kindOp := orphan("kind", "echo", req)
	funcOp := orphan("func", "", nil)

	m, err := lro.New(lro.WithStore(c.replica(t, "replica-b")), lro.WithOwner("replica-b"), lro.WithLease(time.Second))
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

	done := WaitDone(t, m, kindOp)
	var d durationpb.Duration
	if done.GetResponse().UnmarshalTo(&d) != nil || d.AsDuration() != 3*time.Second {
		t.Errorf("adopted registered work ended with %v; want the echoed request", done.GetResult())
	}
	if got := <-attempts; got != 2 {
		t.Errorf("adopted work ran as attempt %d; want 2", got)
	}
	done = WaitDone(t, m, funcOp)
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
