package lro_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/go-cmp/cmp"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// waitTimeout bounds every wait in these tests; reaching it is a failure,
// never a way to synchronise.
const waitTimeout = 10 * time.Second

// newManager returns a Manager that the test closes, checking afterwards
// that none of its goroutines outlive Close.
func newManager(t *testing.T, opts ...lro.Option) *lro.Manager {
	t.Helper()
	m, err := lro.New(opts...)
	if err != nil {
		t.Fatalf("lro.New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		checkNoManagerGoroutines(t, m)
	})
	return m
}

// checkNoManagerGoroutines fails if a goroutine is still running a method
// of m: Close must have waited for all of them. Stack traces print the
// receiver's address as the first argument. A goroutine that has called
// WaitGroup.Done may still be returning from its last frame, so the check
// yields the processor and looks again, for a bounded time, before it
// fails (as goleak does).
func checkNoManagerGoroutines(t *testing.T, m *lro.Manager) {
	t.Helper()
	self := fmt.Sprintf("(%p", m)
	deadline := time.Now().Add(2 * time.Second)
	for {
		var alive []string
		buf := make([]byte, 4<<20)
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			if strings.Contains(g, "github.com/lrokit/lro.(*Manager).") && strings.Contains(g, self) {
				alive = append(alive, g)
			}
		}
		if len(alive) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, g := range alive {
				t.Errorf("goroutine outlived Close:\n%s", g)
			}
			return
		}
		runtime.Gosched()
	}
}

func wantCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("got %v (%v), want %v", got, err, want)
	}
}

func get(t *testing.T, m *lro.Manager, name string) *longrunningpb.Operation {
	t.Helper()
	op, err := m.GetOperation(context.Background(), &longrunningpb.GetOperationRequest{Name: name})
	if err != nil {
		t.Fatalf("GetOperation(%q): %v", name, err)
	}
	return op
}

// waitDone waits through WaitOperation, with no timer of the fake clock
// involved, so only the change notification can wake it.
func waitDone(t *testing.T, m *lro.Manager, name string) *longrunningpb.Operation {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	op, err := m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: name})
	if err != nil {
		t.Fatalf("WaitOperation(%q): %v", name, err)
	}
	if !op.GetDone() {
		t.Fatalf("WaitOperation(%q) returned before done: %v", name, op)
	}
	return op
}

// checkDone checks the invariant of a done operation: exactly one of error
// and response.
func checkDone(t *testing.T, op *longrunningpb.Operation) {
	t.Helper()
	if !op.GetDone() {
		t.Fatalf("operation %q not done", op.GetName())
	}
	if (op.GetError() == nil) == (op.GetResponse() == nil) {
		t.Fatalf("done operation %q must have exactly one of error and response: %v", op.GetName(), op)
	}
	if op.GetError() != nil && op.GetError().GetCode() == int32(codes.OK) {
		t.Fatalf("operation %q failed with code OK", op.GetName())
	}
}

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// blockingWork returns work that reports it started, then returns what
// release sends, or CANCELLED-style ctx errors when its context ends.
func blockingWork(started chan<- string, release <-chan proto.Message) lro.WorkFunc {
	return func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		started <- op.Name()
		select {
		case r := <-release:
			return r, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func TestStartReturnsRunningOperationAndCompletes(t *testing.T) {
	m := newManager(t)
	release := make(chan proto.Message)
	started := make(chan string, 1)
	op, err := m.Start(context.Background(), blockingWork(started, release), lro.WithMetadata(wrapperspb.Int32(0)))
	if err != nil {
		t.Fatal(err)
	}
	if op.GetDone() || !strings.HasPrefix(op.GetName(), "operations/") {
		t.Fatalf("Start returned %v, want a running operation named operations/{id}", op)
	}
	if diff := cmp.Diff(mustAny(t, wrapperspb.Int32(0)), op.GetMetadata(), protocmp.Transform()); diff != "" {
		t.Errorf("initial metadata (-want +got):\n%s", diff)
	}
	<-started
	if got := get(t, m, op.GetName()); got.GetDone() {
		t.Fatalf("operation done before its work returned: %v", got)
	}
	release <- wrapperspb.String("result")
	done := waitDone(t, m, op.GetName())
	checkDone(t, done)
	if diff := cmp.Diff(mustAny(t, wrapperspb.String("result")), done.GetResponse(), protocmp.Transform()); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(done, get(t, m, op.GetName()), protocmp.Transform()); diff != "" {
		t.Errorf("Get after done differs from Wait (-want +got):\n%s", diff)
	}
}

func TestNames(t *testing.T) {
	m := newManager(t)
	ctx := context.Background()
	seen := map[string]bool{}
	for _, parent := range []string{"", "projects/p1", "projects/p1/locations/us-east1"} {
		op, err := m.Create(ctx, lro.WithParent(parent))
		if err != nil {
			t.Fatalf("Create under %q: %v", parent, err)
		}
		prefix := "operations/"
		if parent != "" {
			prefix = parent + "/operations/"
		}
		id, ok := strings.CutPrefix(op.GetName(), prefix)
		if !ok {
			t.Fatalf("name %q does not start with %q", op.GetName(), prefix)
		}
		// 26 base32 characters carry 130 bits, of which 128 are random.
		if len(id) < 20 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyz234567") != "" {
			t.Errorf("id %q: want at least 96 random bits in URL-safe characters", id)
		}
		if seen[id] {
			t.Errorf("id %q repeated", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"projects/-", "projects//x", "/projects", "projects/a b"} {
		if _, err := m.Create(ctx, lro.WithParent(bad)); status.Code(err) != codes.InvalidArgument {
			t.Errorf("Create with parent %q: got %v, want INVALID_ARGUMENT", bad, err)
		}
	}
}

func TestGetBadAndUnknownNames(t *testing.T) {
	m := newManager(t)
	ctx := context.Background()
	tests := []struct {
		name string
		want codes.Code
	}{
		{"", codes.InvalidArgument},
		{"operations", codes.InvalidArgument},
		{"operations/", codes.InvalidArgument},
		{"/operations/abc", codes.InvalidArgument},
		{"operations//abc", codes.InvalidArgument},
		{"projects/p/operation/abc", codes.InvalidArgument},
		{"projects/p/operations/-", codes.InvalidArgument},
		{"operations/a b", codes.InvalidArgument},
		{"operations/abc\x00", codes.InvalidArgument},
		{"operations/" + strings.Repeat("x", 2000), codes.InvalidArgument},
		{"operations/unknown", codes.NotFound},
		{"projects/p/operations/unknown", codes.NotFound},
	}
	for _, tt := range tests {
		_, err := m.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: tt.name})
		if got := status.Code(err); got != tt.want {
			t.Errorf("GetOperation(%q) = %v, want %v", tt.name, err, tt.want)
		}
	}
	// Wait, Cancel and Delete answer NOT_FOUND for unknown names too.
	const unknown = "operations/unknown"
	_, err := m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: unknown})
	wantCode(t, err, codes.NotFound)
	_, err = m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: unknown})
	wantCode(t, err, codes.NotFound)
	_, err = m.DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: unknown})
	wantCode(t, err, codes.NotFound)
	_, err = m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: ""})
	wantCode(t, err, codes.InvalidArgument)
	_, err = m.DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: "bad"})
	wantCode(t, err, codes.InvalidArgument)
	_, err = m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: "operations/x/y"})
	wantCode(t, err, codes.InvalidArgument)
}

func TestWorkErrors(t *testing.T) {
	mapped := errors.New("quota")
	m := newManager(t, lro.WithErrorMapper(func(err error) *status.Status {
		if errors.Is(err, mapped) {
			return status.New(codes.ResourceExhausted, "mapped: "+err.Error())
		}
		if err.Error() == "ok-status" {
			return status.New(codes.OK, "mapper said OK")
		}
		if err.Error() == "ok-no-message" {
			return status.New(codes.OK, "")
		}
		return nil
	}))
	tests := []struct {
		desc     string
		work     lro.WorkFunc
		wantCode codes.Code
		wantMsg  string
	}{
		{"grpc status", func(context.Context, *lro.Op) (proto.Message, error) {
			return nil, status.Error(codes.FailedPrecondition, "bucket missing")
		}, codes.FailedPrecondition, "bucket missing"},
		{"wrapped grpc status", func(context.Context, *lro.Op) (proto.Message, error) {
			return nil, fmt.Errorf("export: %w", status.Error(codes.NotFound, "table gone"))
		}, codes.NotFound, "table gone"},
		{"plain error", func(context.Context, *lro.Op) (proto.Message, error) {
			return nil, errors.New("disk full")
		}, codes.Unknown, "disk full"},
		{"mapped error", func(context.Context, *lro.Op) (proto.Message, error) {
			return nil, fmt.Errorf("job: %w", mapped)
		}, codes.ResourceExhausted, "mapped: job: quota"},
		{"mapper returns OK", func(context.Context, *lro.Op) (proto.Message, error) {
			return nil, errors.New("ok-status")
		}, codes.Unknown, "mapper said OK"},
		{"mapper returns OK without a message", func(context.Context, *lro.Op) (proto.Message, error) {
			return nil, errors.New("ok-no-message")
		}, codes.Unknown, "operation failed"},
		{"panic", func(context.Context, *lro.Op) (proto.Message, error) {
			panic("boom")
		}, codes.Internal, "work panicked: boom"},
		{"nil pointer panic", func(context.Context, *lro.Op) (proto.Message, error) {
			var p *lro.Op
			return nil, fmt.Errorf("%s", p.Name())
		}, codes.Internal, "work panicked"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			op, err := m.Start(context.Background(), tt.work)
			if err != nil {
				t.Fatal(err)
			}
			done := waitDone(t, m, op.GetName())
			checkDone(t, done)
			if got := codes.Code(done.GetError().GetCode()); got != tt.wantCode {
				t.Errorf("code = %v, want %v", got, tt.wantCode)
			}
			if !strings.Contains(done.GetError().GetMessage(), tt.wantMsg) {
				t.Errorf("message = %q, want it to contain %q", done.GetError().GetMessage(), tt.wantMsg)
			}
		})
	}
}

// TestFailMatchesWork pins that Fail turns an error into a status exactly
// as a work function's returned error is turned into one.
func TestFailMatchesWork(t *testing.T) {
	m := newManager(t, lro.WithErrorMapper(func(err error) *status.Status {
		switch err.Error() {
		case "mapped":
			return status.New(codes.ResourceExhausted, "mapped")
		case "ok":
			return status.New(codes.OK, "mapper said OK")
		case "ok-empty":
			return status.New(codes.OK, "")
		}
		return nil
	}))
	ctx := context.Background()
	for _, err := range []error{
		errors.New("plain"),
		errors.New("mapped"),
		errors.New("ok"),
		errors.New("ok-empty"),
		status.Error(codes.DataLoss, "lost"),
		fmt.Errorf("wrapped: %w", context.DeadlineExceeded),
	} {
		t.Run(err.Error(), func(t *testing.T) {
			started, serr := m.Start(ctx, func(context.Context, *lro.Op) (proto.Message, error) { return nil, err })
			if serr != nil {
				t.Fatal(serr)
			}
			byWork := waitDone(t, m, started.GetName()).GetError()
			created, cerr := m.Create(ctx)
			if cerr != nil {
				t.Fatal(cerr)
			}
			if ferr := m.Fail(ctx, created.GetName(), err); ferr != nil {
				t.Fatal(ferr)
			}
			byFail := get(t, m, created.GetName()).GetError()
			if diff := cmp.Diff(byWork, byFail, protocmp.Transform()); diff != "" {
				t.Errorf("Fail and work disagree (-work +fail):\n%s", diff)
			}
			if byWork.GetCode() == int32(codes.OK) || byWork.GetMessage() == "" {
				t.Errorf("status %v: want a code other than OK and a message", byWork)
			}
		})
	}
}

func TestNilResponseIsEmpty(t *testing.T) {
	m := newManager(t)
	op, err := m.Start(context.Background(), func(context.Context, *lro.Op) (proto.Message, error) { return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	done := waitDone(t, m, op.GetName())
	checkDone(t, done)
	if got := done.GetResponse().GetTypeUrl(); got != "type.googleapis.com/google.protobuf.Empty" {
		t.Errorf("response type = %q, want google.protobuf.Empty", got)
	}
}

type ctxKey struct{}

func TestWorkContextOutlivesRequestAndKeepsValues(t *testing.T) {
	m := newManager(t)
	reqCtx, cancelReq := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "tenant-7"))
	check := make(chan error, 1)
	proceed := make(chan struct{})
	op, err := m.Start(reqCtx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		<-proceed
		if ctx.Err() != nil {
			check <- fmt.Errorf("work context ended with the request: %v", ctx.Err())
		} else if v, _ := ctx.Value(ctxKey{}).(string); v != "tenant-7" {
			check <- fmt.Errorf("work context lost the request's values: got %q", v)
		} else {
			check <- nil
		}
		return wrapperspb.Bool(true), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cancelReq() // the API request that started the work ends
	close(proceed)
	if err := <-check; err != nil {
		t.Fatal(err)
	}
	checkDone(t, waitDone(t, m, op.GetName()))
}

func TestSetMetadataFromWork(t *testing.T) {
	m := newManager(t)
	published := make(chan struct{})
	release := make(chan struct{})
	op, err := m.Start(context.Background(), func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		if err := op.SetMetadata(ctx, wrapperspb.Int32(50)); err != nil {
			return nil, err
		}
		close(published)
		<-release
		return nil, nil
	}, lro.WithMetadata(wrapperspb.Int32(0)))
	if err != nil {
		t.Fatal(err)
	}
	<-published
	got := get(t, m, op.GetName())
	if diff := cmp.Diff(mustAny(t, wrapperspb.Int32(50)), got.GetMetadata(), protocmp.Transform()); diff != "" {
		t.Errorf("metadata after SetMetadata (-want +got):\n%s", diff)
	}
	close(release)
	waitDone(t, m, op.GetName())
}

func TestCreateCompleteFailSetMetadata(t *testing.T) {
	m := newManager(t)
	ctx := context.Background()

	op, err := m.Create(ctx, lro.WithMetadata(wrapperspb.String("queued")))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetMetadata(ctx, op.GetName(), wrapperspb.String("running")); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(mustAny(t, wrapperspb.String("running")), get(t, m, op.GetName()).GetMetadata(), protocmp.Transform()); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	if err := m.Complete(ctx, op.GetName(), wrapperspb.String("ok")); err != nil {
		t.Fatal(err)
	}
	checkDone(t, get(t, m, op.GetName()))
	wantCode(t, m.Complete(ctx, op.GetName(), wrapperspb.String("again")), codes.FailedPrecondition)
	wantCode(t, m.Fail(ctx, op.GetName(), errors.New("late")), codes.FailedPrecondition)
	wantCode(t, m.SetMetadata(ctx, op.GetName(), wrapperspb.String("late")), codes.FailedPrecondition)

	op2, _ := m.Create(ctx)
	if err := m.Fail(ctx, op2.GetName(), status.Error(codes.DataLoss, "lost")); err != nil {
		t.Fatal(err)
	}
	got := get(t, m, op2.GetName())
	checkDone(t, got)
	if codes.Code(got.GetError().GetCode()) != codes.DataLoss {
		t.Errorf("Fail recorded %v, want DATA_LOSS", got.GetError())
	}
	op3, _ := m.Create(ctx)
	if err := m.Fail(ctx, op3.GetName(), nil); err != nil {
		t.Fatal(err)
	}
	if got := get(t, m, op3.GetName()); codes.Code(got.GetError().GetCode()) != codes.Unknown {
		t.Errorf("Fail(nil) recorded %v, want UNKNOWN", got.GetError())
	}

	wantCode(t, m.Complete(ctx, "operations/missing", nil), codes.NotFound)
	wantCode(t, m.Complete(ctx, "not a name", nil), codes.InvalidArgument)

	// Complete is for operations nobody here runs.
	started := make(chan string, 1)
	release := make(chan proto.Message)
	w, _ := m.Start(ctx, blockingWork(started, release))
	<-started
	wantCode(t, m.Complete(ctx, w.GetName(), nil), codes.FailedPrecondition)
	release <- nil
	waitDone(t, m, w.GetName())
}

func TestCancelRunningWork(t *testing.T) {
	m := newManager(t)
	ctx := context.Background()
	started := make(chan string, 1)
	op, err := m.Start(ctx, blockingWork(started, nil))
	if err != nil {
		t.Fatal(err)
	}
	<-started
	if _, err := m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: op.GetName()}); err != nil {
		t.Fatal(err)
	}
	done := waitDone(t, m, op.GetName())
	checkDone(t, done)
	if got := done.GetError().GetCode(); got != 1 {
		t.Errorf("cancelled operation has code %d, want 1 (CANCELLED)", got)
	}
}

func TestCancelledWorkThatFinishesAnyway(t *testing.T) {
	m := newManager(t)
	ctx := context.Background()
	sawCancel := make(chan struct{})
	started := make(chan struct{})
	op, err := m.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		close(started)
		<-ctx.Done()
		close(sawCancel)
		return wrapperspb.String("finished anyway"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	if _, err := m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: op.GetName()}); err != nil {
		t.Fatal(err)
	}
	<-sawCancel
	done := waitDone(t, m, op.GetName())
	checkDone(t, done)
	if done.GetResponse() == nil {
		t.Errorf("work that finished despite the cancel should keep its response, got %v", done)
	}
}

func TestCancelCreatedOperation(t *testing.T) {
	m := newManager(t)
	ctx := context.Background()
	op, _ := m.Create(ctx)
	if _, err := m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: op.GetName()}); err != nil {
		t.Fatal(err)
	}
	got := get(t, m, op.GetName())
	checkDone(t, got)
	if got.GetError().GetCode() != 1 {
		t.Fatalf("cancelled Create operation: %v, want code 1", got.GetError())
	}
	wantCode(t, m.Complete(ctx, op.GetName(), nil), codes.FailedPrecondition)
	wantCode(t, m.Fail(ctx, op.GetName(), errors.New("x")), codes.FailedPrecondition)
}

func TestCancelDoneOperationChangesNothing(t *testing.T) {
	m := newManager(t)
	ctx := context.Background()
	op, _ := m.Create(ctx)
	if err := m.Complete(ctx, op.GetName(), wrapperspb.String("ok")); err != nil {
		t.Fatal(err)
	}
	before := get(t, m, op.GetName())
	if _, err := m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: op.GetName()}); err != nil {
		t.Fatalf("Cancel of a done operation: %v, want OK", err)
	}
	if diff := cmp.Diff(before, get(t, m, op.GetName()), protocmp.Transform()); diff != "" {
		t.Errorf("Cancel changed a done operation (-before +after):\n%s", diff)
	}
}

func TestDeleteRunningWorkIsNotCancelledAndResultDropped(t *testing.T) {
	m := newManager(t)
	ctx := context.Background()
	started := make(chan string, 1)
	release := make(chan struct{})
	ctxErr := make(chan error, 1)
	returned := make(chan struct{})
	op, err := m.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		started <- op.Name()
		<-release
		ctxErr <- ctx.Err()
		return wrapperspb.String("dropped"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	// A waiter learns of the deletion.
	waitErr := make(chan error, 1)
	go func() {
		_, err := m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName()})
		waitErr <- err
		close(returned)
	}()
	if _, err := m.DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: op.GetName()}); err != nil {
		t.Fatal(err)
	}
	<-returned
	wantCode(t, <-waitErr, codes.NotFound)
	_, err = m.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: op.GetName()})
	wantCode(t, err, codes.NotFound)
	close(release)
	if err := <-ctxErr; err != nil {
		t.Fatalf("Delete cancelled the work: %v", err)
	}
	// Close waits for the work to end; its result must not bring the
	// record back.
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = m.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: op.GetName()})
	wantCode(t, err, codes.NotFound)
}

func TestWaitDoneReturnsAtOnce(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	m := newManager(t, lro.WithClock(clk))
	ctx := context.Background()
	op, _ := m.Create(ctx)
	_ = m.Complete(ctx, op.GetName(), nil)
	// No clock advance and no deadline: only an immediate answer passes.
	got, err := m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(time.Hour)})
	if err != nil || !got.GetDone() {
		t.Fatalf("Wait on a done operation: %v, %v", got, err)
	}
}

func TestWaitWakesOnCompletion(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	m := newManager(t, lro.WithClock(clk))
	ctx := context.Background()
	op, _ := m.Create(ctx)
	type result struct {
		op  *longrunningpb.Operation
		err error
	}
	res := make(chan result, 1)
	go func() {
		got, err := m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(time.Hour)})
		res <- result{got, err}
	}()
	// The waiter has armed its timer: it is blocked.
	if !clk.WaitForTimers(3, nil) { // sweep, lease, and the waiter
		t.Fatal("waiter never armed its timer")
	}
	select {
	case r := <-res:
		t.Fatalf("Wait returned before completion: %v %v", r.op, r.err)
	default:
	}
	if err := m.Complete(ctx, op.GetName(), wrapperspb.String("ok")); err != nil {
		t.Fatal(err)
	}
	r := <-res // the fake clock never moved: the notification woke it
	if r.err != nil || !r.op.GetDone() {
		t.Fatalf("Wait after completion: %v, %v", r.op, r.err)
	}
}

func TestWaitTimeoutReturnsLatestState(t *testing.T) {
	tests := []struct {
		desc    string
		timeout *durationpb.Duration
		maxWait time.Duration
		advance time.Duration
	}{
		{"request timeout", durationpb.New(10 * time.Second), time.Minute, 10 * time.Second},
		{"server cap shorter than timeout", durationpb.New(time.Hour), 30 * time.Second, 30 * time.Second},
		{"no timeout uses the cap", nil, 20 * time.Second, 20 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			clk := lrotest.NewClock(epoch)
			m := newManager(t, lro.WithClock(clk), lro.WithMaxWait(tt.maxWait))
			ctx := context.Background()
			op, _ := m.Create(ctx, lro.WithMetadata(wrapperspb.Int32(1)))
			res := make(chan *longrunningpb.Operation, 1)
			errc := make(chan error, 1)
			go func() {
				got, err := m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: tt.timeout})
				res <- got
				errc <- err
			}()
			clk.WaitForTimers(3, nil)
			_ = m.SetMetadata(ctx, op.GetName(), wrapperspb.Int32(2))
			clk.Advance(tt.advance - time.Microsecond)
			select {
			case got := <-res:
				t.Fatalf("Wait returned early: %v", got)
			default:
			}
			clk.Advance(time.Microsecond)
			got := <-res
			if err := <-errc; err != nil {
				t.Fatalf("timeout is not an error, got %v", err)
			}
			if got.GetDone() {
				t.Fatalf("got done %v", got)
			}
			if diff := cmp.Diff(mustAny(t, wrapperspb.Int32(2)), got.GetMetadata(), protocmp.Transform()); diff != "" {
				t.Errorf("Wait did not return the latest state (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWaitZeroTimeoutAndNegative(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	m := newManager(t, lro.WithClock(clk))
	ctx := context.Background()
	op, _ := m.Create(ctx)
	got, err := m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(0)})
	if err != nil || got.GetDone() {
		t.Fatalf("zero timeout: %v %v, want the running operation at once", got, err)
	}
	_, err = m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(-time.Second)})
	wantCode(t, err, codes.InvalidArgument)
	_, err = m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: &durationpb.Duration{Seconds: 1, Nanos: -5}})
	wantCode(t, err, codes.InvalidArgument)
}

func TestWaitHonoursRPCDeadline(t *testing.T) {
	clk := lrotest.NewClock(epoch) // never advanced: only the deadline can end the wait
	m := newManager(t, lro.WithClock(clk))
	op, _ := m.Create(context.Background())
	// Wait answers a tenth of the time left before the deadline: 50ms here,
	// enough margin for a loaded machine running the race detector.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	got, err := m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(time.Hour)})
	if err != nil {
		t.Fatalf("Wait hitting the RPC deadline: %v, want the latest state", err)
	}
	if got.GetDone() || got.GetName() != op.GetName() {
		t.Fatalf("got %v", got)
	}
	if ctx.Err() != nil {
		t.Errorf("Wait answered after the deadline had passed; the client would not get the answer")
	}
}

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
