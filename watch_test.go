package lro_test

import (
	"context"
	"errors"
	"testing"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// watching runs WatchOperation in the background; each state it sends
// arrives on the returned channel, and its result on the other.
func watching(ctx context.Context, m *lro.Manager, name string) (<-chan *longrunningpb.Operation, <-chan error) {
	states := make(chan *longrunningpb.Operation)
	done := make(chan error, 1)
	go func() {
		done <- m.WatchOperation(ctx, name, func(op *longrunningpb.Operation) error {
			select {
			case states <- op:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	return states, done
}

func nextState(t *testing.T, states <-chan *longrunningpb.Operation) *longrunningpb.Operation {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	select {
	case op := <-states:
		return op
	case <-ctx.Done():
		t.Fatal("no state sent")
		return nil
	}
}

func watchResult(t *testing.T, done <-chan error) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		t.Fatal("WatchOperation did not return")
		return nil
	}
}

func TestWatchOperationSendsEveryChangeUntilDone(t *testing.T) {
	ctx := context.Background()
	m := newManager(t)
	op, err := m.Create(ctx, lro.WithMetadata(wrapperspb.String("queued")))
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	states, done := watching(wctx, m, op.GetName())
	if got := nextState(t, states); got.GetDone() || got.GetName() != op.GetName() {
		t.Fatalf("first state = %v, want the running operation", got)
	}
	if err := m.SetMetadata(ctx, op.GetName(), wrapperspb.String("half way")); err != nil {
		t.Fatal(err)
	}
	got := nextState(t, states)
	var md wrapperspb.StringValue
	if err := got.GetMetadata().UnmarshalTo(&md); err != nil || md.GetValue() != "half way" {
		t.Fatalf("second state's metadata = %v (%v), want \"half way\"", md.GetValue(), err)
	}
	if err := m.Complete(ctx, op.GetName(), wrapperspb.String("result")); err != nil {
		t.Fatal(err)
	}
	if got := nextState(t, states); !got.GetDone() || got.GetResponse() == nil {
		t.Fatalf("last state = %v, want done with a response", got)
	}
	if err := watchResult(t, done); err != nil {
		t.Fatalf("WatchOperation = %v, want nil after done", err)
	}
}

func TestWatchOperationEnds(t *testing.T) {
	ctx := context.Background()
	errSend := errors.New("client went away")
	tests := []struct {
		name string
		// end does what ends the watch, after its first state arrived.
		end  func(t *testing.T, m *lro.Manager, name string, cancel context.CancelFunc)
		send error
		want codes.Code
		same bool // the error is send's, unchanged
	}{
		{name: "deleted", want: codes.NotFound, end: func(t *testing.T, m *lro.Manager, name string, _ context.CancelFunc) {
			if _, err := m.DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: name}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "context ends", want: codes.Canceled, end: func(_ *testing.T, _ *lro.Manager, _ string, cancel context.CancelFunc) {
			cancel()
		}},
		{name: "manager closes", want: codes.Unavailable, end: func(t *testing.T, m *lro.Manager, _ string, _ context.CancelFunc) {
			if err := m.Close(ctx); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "send fails", send: errSend, same: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newManager(t)
			op, err := m.Create(ctx)
			if err != nil {
				t.Fatal(err)
			}
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			first := make(chan struct{})
			done := make(chan error, 1)
			go func() {
				done <- m.WatchOperation(wctx, op.GetName(), func(*longrunningpb.Operation) error {
					close(first)
					return tt.send
				})
			}()
			<-first
			if tt.end != nil {
				tt.end(t, m, op.GetName(), cancel)
			}
			err = watchResult(t, done)
			if tt.same {
				if err != errSend {
					t.Fatalf("WatchOperation = %v, want send's error unchanged", err)
				}
				return
			}
			if status.Code(err) != tt.want {
				t.Fatalf("WatchOperation = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestWatchOperationChecksNameAndAuthorizer(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, lro.WithAuthorizer(func(_ context.Context, method, _ string) error {
		if method == lro.MethodGet {
			return status.Error(codes.PermissionDenied, "no")
		}
		return nil
	}))
	op, err := m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	send := func(*longrunningpb.Operation) error { t.Error("send called"); return nil }
	wantCode(t, m.WatchOperation(ctx, op.GetName(), send), codes.PermissionDenied)
	wantCode(t, m.WatchOperation(ctx, "not a name", send), codes.InvalidArgument)
	wantCode(t, m.WatchOperation(ctx, op.GetName(), nil), codes.InvalidArgument)
}
