package lroclient_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lroclient"
	"github.com/lrokit/lro/lrotest"
)

// step is one scripted answer of the fake client.
type step struct {
	method string // "wait" or "get": the call expected
	op     *longrunningpb.Operation
	err    error
}

// scripted is a Client that answers from a script and fails the test on
// an unexpected call. It has only the two methods of Client, so Wait
// needs no other.
type scripted struct {
	t     *testing.T
	mu    sync.Mutex
	steps []step
	calls []string
}

func (s *scripted) next(method string) (*longrunningpb.Operation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, method)
	if len(s.steps) == 0 {
		s.t.Errorf("unexpected %s call after the script ended", method)
		return nil, status.Error(codes.Internal, "script ended")
	}
	st := s.steps[0]
	s.steps = s.steps[1:]
	if st.method != method {
		s.t.Errorf("call %d is %s, want %s", len(s.calls), method, st.method)
	}
	return st.op, st.err
}

func (s *scripted) WaitOperation(_ context.Context, req *longrunningpb.WaitOperationRequest, _ ...grpc.CallOption) (*longrunningpb.Operation, error) {
	if req.GetTimeout() == nil {
		s.t.Error("WaitOperation without a timeout")
	}
	return s.next("wait")
}

func (s *scripted) GetOperation(context.Context, *longrunningpb.GetOperationRequest, ...grpc.CallOption) (*longrunningpb.Operation, error) {
	return s.next("get")
}

func running() *longrunningpb.Operation { return &longrunningpb.Operation{Name: "operations/x"} }

func succeeded(m proto.Message) *longrunningpb.Operation {
	a, err := anypb.New(m)
	if err != nil {
		panic(err)
	}
	return &longrunningpb.Operation{Name: "operations/x", Done: true, Result: &longrunningpb.Operation_Response{Response: a}}
}

func failed(code codes.Code, msg string) *longrunningpb.Operation {
	return &longrunningpb.Operation{Name: "operations/x", Done: true, Result: &longrunningpb.Operation_Error{Error: &spb.Status{Code: int32(code), Message: msg}}}
}

func TestWaitScripted(t *testing.T) {
	unimpl := status.Error(codes.Unimplemented, "no wait here")
	unavail := status.Error(codes.Unavailable, "connection reset")
	tests := []struct {
		name      string
		opts      []lroclient.Option
		steps     []step
		resp      proto.Message
		wantCode  codes.Code
		wantMsg   string // substring of the error
		wantValue string // of resp, a StringValue
	}{
		{
			name:      "done at once",
			steps:     []step{{"wait", succeeded(wrapperspb.String("hi")), nil}},
			resp:      &wrapperspb.StringValue{},
			wantValue: "hi",
		},
		{
			name:      "long poll times out then done",
			steps:     []step{{"wait", running(), nil}, {"wait", running(), nil}, {"wait", succeeded(wrapperspb.String("late")), nil}},
			resp:      &wrapperspb.StringValue{},
			wantValue: "late",
		},
		{
			name:      "unimplemented falls back to get",
			steps:     []step{{"wait", nil, unimpl}, {"get", running(), nil}, {"get", running(), nil}, {"get", succeeded(wrapperspb.String("polled")), nil}},
			resp:      &wrapperspb.StringValue{},
			wantValue: "polled",
		},
		{
			name:      "poll only",
			opts:      []lroclient.Option{lroclient.WithPollOnly()},
			steps:     []step{{"get", running(), nil}, {"get", succeeded(wrapperspb.String("p")), nil}},
			resp:      &wrapperspb.StringValue{},
			wantValue: "p",
		},
		{
			name:      "unavailable is retried",
			steps:     []step{{"wait", nil, unavail}, {"wait", nil, status.Error(codes.DeadlineExceeded, "proxy timeout")}, {"wait", succeeded(wrapperspb.String("ok")), nil}},
			resp:      &wrapperspb.StringValue{},
			wantValue: "ok",
		},
		{
			name:     "failed operation",
			steps:    []step{{"wait", failed(codes.FailedPrecondition, "disk full"), nil}},
			resp:     &wrapperspb.StringValue{},
			wantCode: codes.FailedPrecondition,
			wantMsg:  "disk full",
		},
		{
			name:     "failed with OK code is UNKNOWN",
			steps:    []step{{"wait", failed(codes.OK, "odd"), nil}},
			wantCode: codes.Unknown,
			wantMsg:  "odd",
		},
		{
			name:     "not found",
			steps:    []step{{"wait", nil, status.Error(codes.NotFound, "no such operation")}},
			wantCode: codes.NotFound,
			wantMsg:  "no such operation",
		},
		{
			name:     "not found while polling",
			steps:    []step{{"wait", nil, unimpl}, {"get", nil, status.Error(codes.NotFound, "gone")}},
			wantCode: codes.NotFound,
			wantMsg:  "gone",
		},
		{
			name:     "response of another type",
			steps:    []step{{"wait", succeeded(wrapperspb.Int32(3)), nil}},
			resp:     &wrapperspb.StringValue{},
			wantCode: codes.Unknown,
			wantMsg:  "Int32Value",
		},
		{
			name:  "nil resp skips unpacking",
			steps: []step{{"wait", succeeded(wrapperspb.Int32(3)), nil}},
		},
		{
			name:  "done without result",
			steps: []step{{"wait", &longrunningpb.Operation{Name: "operations/x", Done: true}, nil}},
			resp:  &wrapperspb.StringValue{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &scripted{t: t, steps: tt.steps}
			var seen int
			opts := append([]lroclient.Option{
				lroclient.WithBackoff(time.Microsecond, 10*time.Microsecond),
				lroclient.WithObserver(func(*longrunningpb.Operation) { seen++ }),
			}, tt.opts...)
			op, err := lroclient.Wait(context.Background(), c, "operations/x", tt.resp, opts...)
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("code %v (%v), want %v", got, err, tt.wantCode)
			}
			if tt.wantMsg != "" && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tt.wantMsg)
			}
			if len(c.steps) != 0 {
				t.Errorf("%d scripted answers unused", len(c.steps))
			}
			if tt.wantValue != "" {
				if got := tt.resp.(*wrapperspb.StringValue).GetValue(); got != tt.wantValue {
					t.Errorf("response %q, want %q", got, tt.wantValue)
				}
			}
			if err == nil || tt.wantCode == codes.FailedPrecondition {
				if !op.GetDone() {
					t.Errorf("operation %v not done", op)
				}
			}
			if op != nil && seen == 0 {
				t.Error("observer never called")
			}
		})
	}
}

func TestWaitBadArguments(t *testing.T) {
	ctx := context.Background()
	if _, err := lroclient.Wait(ctx, nil, "operations/x", nil); status.Code(err) != codes.InvalidArgument {
		t.Errorf("nil client: %v", err)
	}
	if _, err := lroclient.Wait(ctx, &scripted{t: t}, "", nil); status.Code(err) != codes.InvalidArgument {
		t.Errorf("empty name: %v", err)
	}
}

func TestWaitContextEnds(t *testing.T) {
	tests := []struct {
		name     string
		ctx      func() (context.Context, context.CancelFunc)
		wantCode codes.Code
		wantIs   error
	}{
		{"cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, codes.Canceled, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(context.Background(), time.Unix(0, 0))
		}, codes.DeadlineExceeded, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := tt.ctx()
			defer cancel()
			_, err := lroclient.Wait(ctx, &scripted{t: t}, "operations/x", nil)
			if status.Code(err) != tt.wantCode || !errors.Is(err, tt.wantIs) {
				t.Errorf("err %v: code %v, want %v and errors.Is %v", err, status.Code(err), tt.wantCode, tt.wantIs)
			}
		})
	}
}

// The context ending during a backoff pause stops Wait at once.
func TestWaitContextEndsDuringPause(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c := &scripted{t: t, steps: []step{{"get", running(), nil}}}
	_, err := lroclient.Wait(ctx, c, "operations/x", nil, lroclient.WithPollOnly(),
		lroclient.WithBackoff(time.Hour, time.Hour),
		lroclient.WithObserver(func(*longrunningpb.Operation) { cancel() }))
	if status.Code(err) != codes.Canceled {
		t.Errorf("err %v, want CANCELLED", err)
	}
}

// serve runs srv on a loopback gRPC server and returns a client for it.
func serve(t testing.TB, srv longrunningpb.OperationsServer) longrunningpb.OperationsClient {
	return longrunningpb.NewOperationsClient(lrotest.ServeGRPC(t, srv))
}

func newManager(t testing.TB) *lro.Manager {
	t.Helper()
	m, err := lro.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}

// noWait hides the Manager's WaitOperation, as many servers lack it.
type noWait struct {
	longrunningpb.OperationsServer
}

func (noWait) WaitOperation(context.Context, *longrunningpb.WaitOperationRequest) (*longrunningpb.Operation, error) {
	return nil, status.Error(codes.Unimplemented, "WaitOperation is not implemented")
}

// TestWaitManager waits through a real gRPC connection to the Manager, with
// and without WaitOperation on the server.
func TestWaitManager(t *testing.T) {
	for _, tt := range []struct {
		name string
		wrap func(*lro.Manager) longrunningpb.OperationsServer
	}{
		{"long poll", func(m *lro.Manager) longrunningpb.OperationsServer { return m }},
		{"get fallback", func(m *lro.Manager) longrunningpb.OperationsServer { return noWait{m} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			m := newManager(t)
			client := serve(t, tt.wrap(m))

			release := make(chan struct{})
			op, err := m.Start(ctx, func(context.Context, *lro.Op) (proto.Message, error) {
				<-release
				return wrapperspb.String("exported"), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			started := make(chan struct{})
			var once sync.Once
			type res struct {
				op  *longrunningpb.Operation
				err error
			}
			out := make(chan res, 1)
			resp := &wrapperspb.StringValue{}
			go func() {
				got, err := lroclient.Wait(ctx, client, op.GetName(), resp,
					lroclient.WithBackoff(time.Millisecond, 10*time.Millisecond),
					lroclient.WithObserver(func(*longrunningpb.Operation) { once.Do(func() { close(started) }) }),
					lroclient.WithWaitTimeout(50*time.Millisecond))
				out <- res{got, err}
			}()
			<-started // the waiter has seen the running operation
			close(release)
			r := <-out
			if r.err != nil || !r.op.GetDone() || resp.GetValue() != "exported" {
				t.Fatalf("Wait = %v, %v; response %q", r.op, r.err, resp.GetValue())
			}

			// A failed operation: the status comes back with its details.
			bad, err := anypb.New(&errdetails.ErrorInfo{Reason: "QUOTA", Domain: "example.com"})
			if err != nil {
				t.Fatal(err)
			}
			fop, err := m.Start(ctx, func(context.Context, *lro.Op) (proto.Message, error) {
				st, err := status.New(codes.ResourceExhausted, "quota exceeded").WithDetails(&errdetails.ErrorInfo{Reason: "QUOTA", Domain: "example.com"})
				if err != nil {
					return nil, err
				}
				return nil, st.Err()
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := lroclient.Wait(ctx, client, fop.GetName(), &emptypb.Empty{}, lroclient.WithBackoff(time.Millisecond, 10*time.Millisecond))
			st, ok := status.FromError(err)
			if !ok || st.Code() != codes.ResourceExhausted || st.Message() != "quota exceeded" || !got.GetDone() {
				t.Fatalf("failed op: %v, %v", got, err)
			}
			if d := st.Proto().GetDetails(); len(d) != 1 || !proto.Equal(d[0], bad) {
				t.Errorf("details %v, want %v", d, bad)
			}
			var oe *lroclient.OperationError
			if !errors.As(err, &oe) || oe.Name != fop.GetName() {
				t.Errorf("error %v is not an OperationError for %s", err, fop.GetName())
			}

			// Unknown names are NOT_FOUND.
			if _, err := lroclient.Wait(ctx, client, "operations/nope", nil); status.Code(err) != codes.NotFound {
				t.Errorf("unknown: %v, want NOT_FOUND", err)
			}
		})
	}
}
