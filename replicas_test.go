package lro_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// exportHandler answers with the request and the attempt it ran on.
func exportHandler(ctx context.Context, op *lro.Op, req *wrapperspb.StringValue) (proto.Message, error) {
	return wrapperspb.String(req.GetValue() + "#" + string(rune('0'+op.Attempt()))), nil
}

func TestStartKind(t *testing.T) {
	m := newManager(t)
	ctx := context.Background()
	if err := lro.Register(m, "export", exportHandler); err != nil {
		t.Fatal(err)
	}
	if err := lro.Register(m, "export", exportHandler); err == nil {
		t.Error("registering a kind twice: want an error")
	}
	op, err := m.StartKind(ctx, "export", wrapperspb.String("books"), lro.WithRequestID("r1"))
	if err != nil {
		t.Fatal(err)
	}
	done := waitDone(t, m, op.GetName())
	var resp wrapperspb.StringValue
	if err := done.GetResponse().UnmarshalTo(&resp); err != nil || resp.GetValue() != "books#1" {
		t.Fatalf("response %q, %v; want books#1", resp.GetValue(), err)
	}
	rec, err := m.Store().Get(ctx, op.GetName())
	if err != nil {
		t.Fatal(err)
	}
	if rec.Kind != "export" || rec.Attempt != 1 || rec.Request == nil {
		t.Errorf("stored record kind %q attempt %d request %v", rec.Kind, rec.Attempt, rec.Request)
	}
	_, err = m.StartKind(ctx, "nope", wrapperspb.String("x"))
	wantCode(t, err, codes.InvalidArgument)
}

// orphan stores a running operation whose owner died.
func orphan(t *testing.T, s lro.Store, name, kind string, req proto.Message, cancelRequested bool) {
	t.Helper()
	rec := lrotest.NewRecord(name, epoch.Add(-time.Hour))
	rec.Owner = "dead-replica"
	rec.LeaseExpireTime = epoch.Add(-time.Second)
	rec.Kind = kind
	rec.Attempt = 1
	rec.CancelRequested = cancelRequested
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

func TestOrphansAreRecovered(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	store := lro.NewMemoryStore()
	m := newManager(t, lro.WithStore(store), lro.WithClock(clk), lro.WithOwner("survivor"))
	if err := lro.Register(m, "export", exportHandler); err != nil {
		t.Fatal(err)
	}
	orphan(t, store, "operations/kind", "export", wrapperspb.String("books"), false)
	orphan(t, store, "operations/func", "", nil, false)
	orphan(t, store, "operations/unknownkind", "import", wrapperspb.String("x"), false)
	orphan(t, store, "operations/cancelled", "export", wrapperspb.String("x"), true)
	rounds := make(chan struct{}, 10)
	lro.SetAfterMaintain(m, func() { rounds <- struct{}{} })
	clk.WaitForTimers(2, nil)
	clk.Advance(lro.DefaultLease / 3)
	<-rounds

	done := waitDone(t, m, "operations/kind")
	var resp wrapperspb.StringValue
	if err := done.GetResponse().UnmarshalTo(&resp); err != nil || resp.GetValue() != "books#2" {
		t.Errorf("registered work of a dead replica: response %q, %v; want it run again as attempt 2", resp.GetValue(), err)
	}
	for _, name := range []string{"operations/func", "operations/unknownkind"} {
		got := get(t, m, name)
		checkDone(t, got)
		if codes.Code(got.GetError().GetCode()) != codes.Unavailable || !strings.Contains(got.GetError().GetMessage(), "lease") {
			t.Errorf("%s: %v, want UNAVAILABLE saying its owner was lost", name, got.GetError())
		}
	}
	got := get(t, m, "operations/cancelled")
	if got.GetError().GetCode() != int32(codes.Canceled) {
		t.Errorf("orphan with a pending cancel: %v, want CANCELLED", got.GetError())
	}
}

// gatedUpdates holds every Update until release is closed, and tells
// entered about each one first.
type gatedUpdates struct {
	lro.Store
	entered chan string
	release chan struct{}
}

func (s *gatedUpdates) Update(ctx context.Context, name string, fn func(*lro.Record) error) (*lro.Record, error) {
	s.entered <- name
	<-s.release
	return s.Store.Update(ctx, name, fn)
}

// TestOrphansAreAdoptedTogether: the orphans one lease round claims are
// taken over at once, not one after another, so that a store can write
// them together and the round is back to renewing soon.
func TestOrphansAreAdoptedTogether(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	mem := lro.NewMemoryStore()
	store := &gatedUpdates{Store: mem, entered: make(chan string, 10), release: make(chan struct{})}
	m := newManager(t, lro.WithStore(store), lro.WithClock(clk), lro.WithOwner("survivor"))
	var released sync.Once
	release := func() { released.Do(func() { close(store.release) }) }
	t.Cleanup(release) // before the Manager closes, should the test fail
	names := []string{"operations/o1", "operations/o2", "operations/o3", "operations/o4"}
	for _, n := range names {
		orphan(t, mem, n, "", nil, false)
	}
	rounds := maintained(m)
	clk.WaitForTimers(2, nil)
	clk.Advance(lro.DefaultLease / 3)
	timeout := time.After(waitTimeout)
	for i := range names {
		select {
		case <-store.entered:
		case <-timeout:
			t.Fatalf("%d of %d orphans were being taken over at once, want all of them", i, len(names))
		}
	}
	release()
	<-rounds
	for _, n := range names {
		if got := get(t, m, n); codes.Code(got.GetError().GetCode()) != codes.Unavailable {
			t.Errorf("%s: %v, want UNAVAILABLE (its owner was lost)", n, got.GetError())
		}
	}
}

func TestLeasesAreRenewed(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	store := lro.NewMemoryStore()
	a := newManager(t, lro.WithStore(store), lro.WithClock(clk), lro.WithOwner("a"), lro.WithLease(30*time.Second))
	rounds := make(chan struct{}, 10)
	lro.SetAfterMaintain(a, func() { rounds <- struct{}{} })
	started := make(chan string, 1)
	release := make(chan proto.Message)
	op, _ := a.Start(context.Background(), blockingWork(started, release))
	<-started
	for range 4 { // two whole leases pass; a keeps renewing
		clk.WaitForTimers(2, nil)
		clk.Advance(10 * time.Second)
		<-rounds
	}
	claimed, err := store.ClaimExpired(context.Background(), lro.ClaimParams{Owner: "b", Now: clk.Now(), Limit: 10})
	if err != nil || len(claimed) != 0 {
		t.Fatalf("a renewed its lease, yet b claimed %d operations (%v)", len(claimed), err)
	}
	// a's lease runs a whole lease past the last renewal: its id is taken.
	if err := store.RegisterOwner(context.Background(), lro.LeaseParams{Owner: "a", Token: "b", Now: clk.Now().Add(29 * time.Second), Lease: time.Minute}); !errors.Is(err, lro.ErrOwnerTaken) {
		t.Errorf("registering a's id before its renewed lease ran out: %v, want ErrOwnerTaken", err)
	}
	rec, _ := store.Get(context.Background(), op.GetName())
	if rec.Owner != "a" || !rec.LeaseExpireTime.IsZero() {
		t.Errorf("owner %q, lease %v; want a, and no lease of the operation's own", rec.Owner, rec.LeaseExpireTime)
	}
	release <- nil
	waitDone(t, a, op.GetName())
}

// TestLostLeaseRefusesCompletion: a replica whose operation was taken over
// cannot finish it or update it: it is finished exactly once, by the new
// owner.
// updateOnly hides the optional interfaces of a store (Finisher), so the
// Manager finishes work with Update, as it does for any third-party store.
type updateOnly struct{ lro.Store }

// finishPaths are the two ways the Manager records the end of work.
var finishPaths = []struct {
	name  string
	store func() lro.Store
}{
	{"Finisher", func() lro.Store { return lro.NewMemoryStore() }},
	{"Update", func() lro.Store { return updateOnly{lro.NewMemoryStore()} }},
}

func TestLostLeaseRefusesCompletion(t *testing.T) {
	for _, p := range finishPaths {
		t.Run(p.name, func(t *testing.T) { testLostLeaseRefusesCompletion(t, p.store()) })
	}
}

func testLostLeaseRefusesCompletion(t *testing.T, store lro.Store) {
	a, err := lro.New(lro.WithStore(store), lro.WithOwner("a"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mdErr := make(chan error, 1)
	takenOver := make(chan struct{})
	op, _ := a.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		<-takenOver
		mdErr <- op.SetMetadata(ctx, wrapperspb.Int32(99))
		return wrapperspb.String("late result"), nil
	})
	// Another replica claims the operation.
	if _, err := store.Update(ctx, op.GetName(), func(r *lro.Record) error {
		r.Owner = "b"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	close(takenOver)
	if err := a.Close(ctx); err != nil { // waits for the work to end
		t.Fatal(err)
	}
	if err := <-mdErr; status.Code(err) != codes.FailedPrecondition {
		t.Errorf("SetMetadata after losing the lease: %v, want FAILED_PRECONDITION", err)
	}
	rec, err := store.Get(ctx, op.GetName())
	if err != nil {
		t.Fatal(err)
	}
	if rec.Done() || rec.Owner != "b" || rec.Operation.GetMetadata() != nil {
		t.Fatalf("a replica without the lease changed the operation: %v", rec)
	}
}

// TestSharedStoreReplicas: two Managers on one store behave as one server.
func TestSharedStoreReplicas(t *testing.T) {
	store := lro.NewMemoryStore()
	a := newManager(t, lro.WithStore(store), lro.WithOwner("a"))
	b := newManager(t, lro.WithStore(store), lro.WithOwner("b"))
	ctx := context.Background()

	// Cancel on b reaches the work running on a.
	started := make(chan string, 1)
	op, _ := a.Start(ctx, blockingWork(started, nil))
	<-started
	if _, err := b.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: op.GetName()}); err != nil {
		t.Fatal(err)
	}
	got := waitDone(t, b, op.GetName())
	if got.GetError().GetCode() != int32(codes.Canceled) {
		t.Errorf("cancel through b: %v, want CANCELLED", got.GetError())
	}

	// Wait on b wakes when a completes.
	release := make(chan proto.Message)
	op2, _ := a.Start(ctx, blockingWork(started, release))
	<-started
	waited := make(chan *longrunningpb.Operation, 1)
	go func() { waited <- waitDone(t, b, op2.GetName()) }()
	release <- wrapperspb.String("done on a")
	if w := <-waited; w.GetResponse() == nil {
		t.Errorf("wait on b: %v", w)
	}
}

// TestFinishPaths: work that succeeds, fails or is cancelled ends the same
// whether the store is a Finisher or offers only Update.
func TestFinishPaths(t *testing.T) {
	for _, p := range finishPaths {
		t.Run(p.name, func(t *testing.T) {
			m := newManager(t, lro.WithStore(p.store()))
			ctx := context.Background()
			ok, _ := m.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
				if err := op.SetMetadata(ctx, wrapperspb.Int32(100)); err != nil {
					return nil, err
				}
				return wrapperspb.String("ok"), nil
			}, lro.WithMetadata(wrapperspb.Int32(0)))
			got := waitDone(t, m, ok.GetName())
			checkDone(t, got)
			if got.GetResponse() == nil || !proto.Equal(got.GetMetadata(), mustAny(t, wrapperspb.Int32(100))) {
				t.Errorf("succeeded: %v, want the response and the last metadata", got)
			}
			failed, _ := m.Start(ctx, func(context.Context, *lro.Op) (proto.Message, error) {
				return nil, status.Error(codes.Aborted, "conflict")
			})
			if got := waitDone(t, m, failed.GetName()); got.GetError().GetCode() != int32(codes.Aborted) {
				t.Errorf("failed: %v, want ABORTED", got.GetError())
			}
			started := make(chan string, 1)
			cancelled, _ := m.Start(ctx, blockingWork(started, nil))
			<-started
			if _, err := m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: cancelled.GetName()}); err != nil {
				t.Fatal(err)
			}
			if got := waitDone(t, m, cancelled.GetName()); got.GetError().GetCode() != int32(codes.Canceled) {
				t.Errorf("cancelled: %v, want CANCELLED", got.GetError())
			}
		})
	}
}
