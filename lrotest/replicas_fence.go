package lrotest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Owner leases across replicas: one live Manager per owner id, a replica
// that stopped renewing loses its work and cannot end it, and a replica
// that died has its work adopted and ended once.

func testReplicasOwnerIDExclusive(t *testing.T, c *cluster) {
	a, b := c.replica(t, "a"), c.replica(t, "b")
	m, err := lro.New(lro.WithStore(a), lro.WithOwner("replica-1"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = lro.New(lro.WithStore(b), lro.WithOwner("replica-1"))
	if !errors.Is(err, lro.ErrOwnerTaken) || !strings.Contains(err.Error(), `"replica-1"`) {
		t.Fatalf("New with the owner id of a live replica: %v; want ErrOwnerTaken naming the id", err)
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	NewManager(t, b, lro.WithOwner("replica-1")) // released by Close: free at once
}

// testReplicasFencedCompletion: a replica that stops renewing its lease
// (its heartbeat frozen, its other writes still reaching the store) has
// its work's context cancelled with a lease-lost cause; another replica
// runs the operation again and ends it, once. The stuck replica's work
// then returns a response anyway: the store refuses its Finish, as it
// refuses a Finish made directly for the stuck replica's run, and the
// survivor's result stands.
func testReplicasFencedCompletion(t *testing.T, c *cluster) {
	// The survivor's lease is longer, so that a busy machine does not cost
	// it its own.
	const lease, survivorLease = time.Second, 3 * time.Second
	stuck := c.replica(t, "stuck")
	stuck.finishes = make(chan error, 10)
	mA := NewManager(t, stuck, lro.WithOwner("stuck"), lro.WithLease(lease))
	mB := NewManager(t, c.replica(t, "survivor"), lro.WithOwner("survivor"), lro.WithLease(survivorLease))

	started := make(chan struct{})
	causes := make(chan error, 1)
	proceed := make(chan struct{})
	handler := func(ctx context.Context, op *lro.Op, req *wrapperspb.StringValue) (proto.Message, error) {
		if op.Attempt() > 1 {
			return wrapperspb.String(req.GetValue() + " again"), nil
		}
		close(started)
		<-ctx.Done()
		causes <- context.Cause(ctx)
		<-proceed // the stuck replica's work lingers until the survivor is done
		return wrapperspb.String(req.GetValue() + " late"), nil
	}
	for _, m := range []*lro.Manager{mA, mB} {
		if err := lro.Register(m, "echo", handler); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	op, err := mA.StartKind(ctx, "echo", wrapperspb.String("run"))
	if err != nil {
		t.Fatal(err)
	}
	var proceedOnce sync.Once
	letGo := func() { proceedOnce.Do(func() { close(proceed) }) }
	t.Cleanup(letGo) // before the Managers close, even when the test fails
	<-started
	stuck.frozen.Store(true)

	select {
	case cause := <-causes:
		if !errors.Is(cause, lro.ErrLeaseLost) {
			t.Errorf("the stuck replica's work ended with cause %v; want lro.ErrLeaseLost", cause)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the stuck replica's work was not cancelled")
	}
	done := WaitDone(t, mB, op.GetName())

	// The stuck replica's run, finished directly: refused.
	late, err := anypb.New(wrapperspb.String("forged"))
	if err != nil {
		t.Fatal(err)
	}
	forged := &longrunningpb.Operation{Name: op.GetName(), Done: true, Result: &longrunningpb.Operation_Response{Response: late}}
	if err := stuck.Finish(ctx, lro.FinishParams{Owner: "stuck", Attempt: 1, Operation: forged, UpdateTime: time.Now()}); !errors.Is(err, lro.ErrNotOwner) {
		t.Errorf("Finish for the stuck replica's run after the takeover = %v; want lro.ErrNotOwner", err)
	}
	<-stuck.finishes
	// Its Manager offers the late response: refused too.
	letGo()
	select {
	case err := <-stuck.finishes:
		if !errors.Is(err, lro.ErrNotOwner) {
			t.Errorf("the stuck replica's Finish of its late response = %v; want lro.ErrNotOwner", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the stuck replica's Manager did not offer its late response")
	}

	var got wrapperspb.StringValue
	if err := done.GetResponse().UnmarshalTo(&got); err != nil || got.GetValue() != "run again" {
		t.Errorf("operation ended with %v; want the survivor's run", done.GetResult())
	}
	rec, err := stuck.Get(ctx, op.GetName())
	if err != nil || rec.Owner != "survivor" || rec.Attempt != 2 {
		t.Fatalf("operation %v, %v; want finished by the survivor at attempt 2", rec, err)
	}
	if err := rec.Operation.GetResponse().UnmarshalTo(&got); err != nil || got.GetValue() != "run again" {
		t.Errorf("stored result %v; want the survivor's", rec.Operation.GetResult())
	}
	closeManagers(t, mB) // its Finish call has returned
	if by := c.ended.of(op.GetName()); !slices.Equal(by, []string{"survivor"}) {
		t.Errorf("operation ended by %v; want once, by the survivor", by)
	}
}

// testReplicasKilledReplica: a replica dies (in-process: it is cut off
// from the store, and its Manager is left running, unclosed, until the
// end) while it runs registered work, a work function, and registered work
// that a survivor is then asked to cancel. Once its lease lapses, the
// survivors take its operations over: the registered work runs again
// there, once, and ends with its response; the work function, which cannot
// move, ends UNAVAILABLE; the cancelled one ends CANCELLED. Waits on a
// survivor return, and every operation ends exactly once, by a survivor.
func testReplicasKilledReplica(t *testing.T, c *cluster) {
	const (
		lease         = time.Second
		survivorLease = 3 * time.Second // so that a busy machine does not cost a survivor its own
		kinds         = 4
	)
	victim := c.replica(t, "victim")
	mV, err := lro.New(lro.WithStore(victim), lro.WithOwner("victim"), lro.WithLease(lease), lro.WithCloseGrace(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The dead replica's Manager: closing it writes nothing (every call
		// fails) and ends its goroutines.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = mV.Close(ctx)
	})
	survivors := []*lro.Manager{
		NewManager(t, c.replica(t, "survivor-1"), lro.WithOwner("survivor-1"), lro.WithLease(survivorLease)),
		NewManager(t, c.replica(t, "survivor-2"), lro.WithOwner("survivor-2"), lro.WithLease(survivorLease)),
	}

	started := make(chan string, kinds+1)
	var (
		mu   sync.Mutex
		runs = map[string][]int{} // runs beyond the first, by operation
	)
	handler := func(ctx context.Context, op *lro.Op, req *wrapperspb.StringValue) (proto.Message, error) {
		if op.Attempt() == 1 {
			started <- op.Name()
			<-ctx.Done() // the victim's run: it never ends while it matters
			return nil, ctx.Err()
		}
		mu.Lock()
		runs[op.Name()] = append(runs[op.Name()], op.Attempt())
		mu.Unlock()
		return wrapperspb.String(fmt.Sprint(req.GetValue(), "#", op.Attempt())), nil
	}
	for _, m := range append([]*lro.Manager{mV}, survivors...) {
		if err := lro.Register(m, "job", handler); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	var jobs []string
	for i := range kinds {
		op, err := mV.StartKind(ctx, "job", wrapperspb.String(fmt.Sprint("job-", i)))
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, op.GetName())
	}
	fn, err := mV.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		started <- op.Name()
		<-ctx.Done()
		return nil, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	for range kinds + 1 {
		select {
		case <-started:
		case <-time.After(30 * time.Second):
			t.Fatal("the victim's work did not start")
		}
	}
	victim.kill()
	cancelled := jobs[0]
	if _, err := survivors[1].CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: cancelled}); err != nil {
		t.Fatalf("CancelOperation on a survivor: %v", err)
	}

	for i, name := range jobs {
		op := WaitDone(t, survivors[i%2], name)
		if name == cancelled {
			if op.GetError().GetCode() != int32(codes.Canceled) {
				t.Errorf("%s, cancelled after its owner died, ended with %v; want CANCELLED", name, op.GetResult())
			}
			continue
		}
		var got wrapperspb.StringValue
		if err := op.GetResponse().UnmarshalTo(&got); err != nil || got.GetValue() != fmt.Sprint("job-", i, "#2") {
			t.Errorf("%s ended with %v; want job-%d run again as attempt 2", name, op.GetResult(), i)
		}
	}
	if op := WaitDone(t, survivors[0], fn.GetName()); op.GetError().GetCode() != int32(codes.Unavailable) {
		t.Errorf("the dead replica's work function ended with %v; want UNAVAILABLE", op.GetResult())
	}
	closeManagers(t, survivors...) // their Finish calls have all returned

	mu.Lock()
	defer mu.Unlock()
	for _, name := range append(jobs, fn.GetName()) {
		by := c.ended.of(name)
		if len(by) != 1 || by[0] == "victim" {
			t.Errorf("%s ended by %v; want once, by a survivor", name, by)
		}
		if name != cancelled && name != fn.GetName() && !slices.Equal(runs[name], []int{2}) {
			t.Errorf("%s ran again as attempts %v; want once, as attempt 2", name, runs[name])
		}
	}
}
