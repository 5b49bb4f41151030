package lro_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/go-cmp/cmp"
	"github.com/lrokit/lro"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/anypb"
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
			if diff := cmp.Diff(stripOperation(t, byWork), stripOperation(t, byFail), protocmp.Transform()); diff != "" {
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
