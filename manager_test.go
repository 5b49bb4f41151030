package lro_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestRequestIDIdempotency(t *testing.T) {
	m := newManager(t)
	ctx := context.Background()
	var runs atomic.Int32
	release := make(chan struct{})
	work := func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		runs.Add(1)
		<-release
		return nil, nil
	}
	const n = 16
	names := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			op, err := m.Start(ctx, work, lro.WithParent("projects/p"), lro.WithRequestID("req-1"))
			if err != nil {
				t.Error(err)
				return
			}
			names[i] = op.GetName()
		}()
	}
	wg.Wait()
	for _, n := range names[1:] {
		if n != names[0] {
			t.Fatalf("same request_id gave different operations: %q and %q", names[0], n)
		}
	}
	// Another parent, or another id, is another operation.
	other, _ := m.Start(ctx, work, lro.WithParent("projects/q"), lro.WithRequestID("req-1"))
	other2, _ := m.Start(ctx, work, lro.WithParent("projects/p"), lro.WithRequestID("req-2"))
	if other.GetName() == names[0] || other2.GetName() == names[0] {
		t.Fatal("request ids must be scoped to the parent and distinct ids must differ")
	}
	close(release)
	waitDone(t, m, names[0])
	waitDone(t, m, other.GetName())
	waitDone(t, m, other2.GetName())
	if got := runs.Load(); got != 3 {
		t.Errorf("work ran %d times, want 3 (once per distinct operation)", got)
	}
	// A repeat after completion returns the done operation.
	again, err := m.Start(ctx, work, lro.WithParent("projects/p"), lro.WithRequestID("req-1"))
	if err != nil || again.GetName() != names[0] || !again.GetDone() {
		t.Fatalf("repeat after done: %v %v", again, err)
	}
}

// TestRequestIDAfterExpiry: an expired operation holds its request id no
// more; the same request id starts a new operation.
func TestRequestIDAfterExpiry(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	m := newManager(t, lro.WithClock(clk), lro.WithRetention(time.Hour))
	ctx := context.Background()
	first, err := m.Create(ctx, lro.WithParent("projects/p"), lro.WithRequestID("req"))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Complete(ctx, first.GetName(), nil); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour) // expired now, whether or not a sweep ran
	again, err := m.Create(ctx, lro.WithParent("projects/p"), lro.WithRequestID("req"))
	if err != nil {
		t.Fatal(err)
	}
	if again.GetName() == first.GetName() || again.GetDone() {
		t.Fatalf("request id of an expired operation: got %v, want a new running operation", again)
	}
	get(t, m, again.GetName())
}

func TestStartAfterClose(t *testing.T) {
	m, err := lro.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, err = m.Start(context.Background(), func(context.Context, *lro.Op) (proto.Message, error) { return nil, nil })
	wantCode(t, err, codes.Unavailable)
	_, err = m.Create(context.Background())
	wantCode(t, err, codes.Unavailable)
	if err := m.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
	checkNoManagerGoroutines(t, m)
}

func TestCloseLetsWorkFinishThenCutsItShort(t *testing.T) {
	m, err := lro.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Work that finishes while Close waits keeps its response.
	finishing := make(chan struct{})
	polite, _ := m.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		<-finishing
		return wrapperspb.String("finished"), nil
	})
	// Work that ignores nothing but its context is cut short.
	started := make(chan string, 1)
	stubborn, _ := m.Start(ctx, blockingWork(started, nil))
	<-started

	closeCtx, cancel := context.WithCancel(ctx)
	closed := make(chan error, 1)
	go func() { closed <- m.Close(closeCtx) }()
	close(finishing)
	// Wait for the polite one through the store, which the Manager still
	// serves while closing.
	waitDone(t, m, polite.GetName())
	cancel()
	if err := <-closed; !errors.Is(err, context.Canceled) {
		t.Errorf("Close = %v, want it to report the cut-short work", err)
	}
	checkNoManagerGoroutines(t, m)
	if got := get(t, m, polite.GetName()); got.GetResponse() == nil {
		t.Errorf("work finished during Close lost its response: %v", got)
	}
	got := get(t, m, stubborn.GetName())
	checkDone(t, got)
	if codes.Code(got.GetError().GetCode()) != codes.Unavailable {
		t.Errorf("cut-short work ended with %v, want UNAVAILABLE", got.GetError())
	}
}

func TestRetention(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	store := lro.NewMemoryStore()
	m := newManager(t, lro.WithClock(clk), lro.WithStore(store), lro.WithRetention(time.Hour), lro.WithSweepPeriod(time.Minute))
	swept := make(chan int, 10)
	lro.SetAfterSweep(m, func(n int) { swept <- n })
	ctx := context.Background()
	done, _ := m.Create(ctx)
	_ = m.Complete(ctx, done.GetName(), nil)
	running, _ := m.Create(ctx)
	clk.WaitForTimers(2, nil) // the sweep and lease loops are waiting
	clk.Advance(time.Hour - time.Minute)
	if n := <-swept; n != 0 {
		t.Fatalf("swept %d before the retention ended", n)
	}
	get(t, m, done.GetName())
	clk.WaitForTimers(2, nil)
	clk.Advance(time.Minute) // now exactly at the expiry: gone
	for _, call := range []func() error{
		func() error {
			_, err := m.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: done.GetName()})
			return err
		},
		func() error {
			_, err := m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: done.GetName()})
			return err
		},
		func() error {
			_, err := m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: done.GetName()})
			return err
		},
		func() error {
			_, err := m.DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: done.GetName()})
			return err
		},
		func() error {
			resp, err := m.ListOperations(ctx, &longrunningpb.ListOperationsRequest{})
			if err == nil && slices.ContainsFunc(resp.GetOperations(), func(op *longrunningpb.Operation) bool { return op.GetName() == done.GetName() }) {
				return status.Error(codes.FailedPrecondition, "List still shows the expired operation")
			}
			return status.Error(codes.NotFound, "not listed")
		},
	} {
		wantCode(t, call(), codes.NotFound)
	}
	if n := <-swept; n != 1 {
		t.Fatalf("sweep removed %d operations, want 1", n)
	}
	if store.Len() != 1 {
		t.Fatalf("store holds %d operations, want only the running one", store.Len())
	}
	get(t, m, running.GetName()) // running operations never expire
}

func TestAuthorizer(t *testing.T) {
	type call struct{ method, name string }
	var mu sync.Mutex
	var calls []call
	m := newManager(t, lro.WithAuthorizer(func(ctx context.Context, method, name string) error {
		mu.Lock()
		calls = append(calls, call{method, name})
		mu.Unlock()
		switch {
		case strings.HasPrefix(name, "projects/secret"):
			return status.Error(codes.NotFound, "no such thing")
		case strings.HasPrefix(name, "projects/locked"):
			return errors.New("locked")
		}
		return nil
	}))
	ctx := context.Background()
	secret, _ := m.Create(ctx, lro.WithParent("projects/secret"))
	locked, _ := m.Create(ctx, lro.WithParent("projects/locked"))
	open, _ := m.Create(ctx, lro.WithParent("projects/open"))

	_, err := m.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: secret.GetName()})
	wantCode(t, err, codes.NotFound)
	_, err = m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: locked.GetName()})
	wantCode(t, err, codes.PermissionDenied)
	_, err = m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: locked.GetName()})
	wantCode(t, err, codes.PermissionDenied)
	_, err = m.DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: secret.GetName()})
	wantCode(t, err, codes.NotFound)
	get(t, m, open.GetName())
	_, err = m.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: "projects/locked/operations"})
	wantCode(t, err, codes.PermissionDenied)

	// Listing everything leaves out what the caller may not see.
	resp, err := m.ListOperations(ctx, &longrunningpb.ListOperationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetOperations()) != 1 || resp.GetOperations()[0].GetName() != open.GetName() {
		t.Fatalf("List of everything returned %v, want only %q", resp.GetOperations(), open.GetName())
	}
	mu.Lock()
	defer mu.Unlock()
	want := call{lro.MethodList, "projects/locked/operations"}
	found := false
	for _, c := range calls {
		found = found || c == want
	}
	if !found {
		t.Errorf("authorizer never asked about the collection: %v", calls)
	}
	// Nothing was deleted or cancelled by the denied calls.
	if _, err := m.Store().Get(ctx, secret.GetName()); err != nil {
		t.Errorf("denied Delete removed the operation: %v", err)
	}
}
