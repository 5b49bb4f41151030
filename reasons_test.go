package lro_test

import (
	"context"
	"testing"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// reasonsDomain is the error domain of the Managers of these tests, so
// that they also check that the domain comes from WithErrorDomain.
const reasonsDomain = "reasons.example.com"

// TestReasonLeaseLost: while the Manager does not hold its owner lease,
// Start and StartKind fail with UNAVAILABLE and ErrorInfo LEASE_LOST, which
// names no operation (none was made).
func TestReasonLeaseLost(t *testing.T) {
	ctx := context.Background()
	clk := lrotest.NewClock(epoch)
	store := &failingRenewals{Store: lro.NewMemoryStore()}
	m := newManager(t, lro.WithStore(store), lro.WithClock(clk), lro.WithOwner("a"), lro.WithLease(testLease), lro.WithErrorDomain(reasonsDomain))
	if err := lro.Register(m, "kind", func(context.Context, *lro.Op, *wrapperspb.StringValue) (proto.Message, error) {
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	rounds := maintained(m)
	store.fail.Store(true)
	for range 3 { // the third round finds the lease run out
		tick(clk, rounds)
	}
	work := func(context.Context, *lro.Op) (proto.Message, error) { return nil, nil }
	for name, start := range map[string]func() error{
		"Start": func() error { _, err := m.Start(ctx, work); return err },
		"StartKind": func() error {
			_, err := m.StartKind(ctx, "kind", wrapperspb.String("x"))
			return err
		},
	} {
		err := start()
		if err == nil {
			t.Fatalf("%s succeeded while the lease is lost", name)
		}
		p := status.Convert(err).Proto()
		wantReason(t, p, codes.Unavailable, reasonsDomain, lro.ReasonLeaseLost, nil)
		if info, _ := errorDetails(t, p); len(info.GetMetadata()) != 0 {
			t.Errorf("%s: ErrorInfo metadata %v, want none", name, info.GetMetadata())
		}
	}
}

// TestReasonRequestUndecodable: an operation of a registered kind whose
// stored request the kind's handler cannot take ends with INTERNAL and
// ErrorInfo REQUEST_UNDECODABLE naming the kind and the operation, without
// running the handler: a request whose bytes do not decode, and a request
// of another type (stored by a replica whose kind took another type).
func TestReasonRequestUndecodable(t *testing.T) {
	ctx := context.Background()
	ran := make(chan struct{}, 1)
	handler := func(context.Context, *lro.Op, *wrapperspb.Int32Value) (proto.Message, error) {
		ran <- struct{}{}
		return nil, nil
	}

	t.Run("bytes", func(t *testing.T) {
		m := newManager(t, lro.WithErrorDomain(reasonsDomain))
		if err := lro.Register(m, "kind", handler); err != nil {
			t.Fatal(err)
		}
		// The right type, but a length that runs past the end of the bytes.
		garbage := &anypb.Any{TypeUrl: "type.googleapis.com/google.protobuf.Int32Value", Value: []byte{0x0a, 0x05, 'a'}}
		op, err := m.StartKind(ctx, "kind", garbage)
		if err != nil {
			t.Fatal(err)
		}
		got := waitDone(t, m, op.GetName()).GetError()
		wantReason(t, got, codes.Internal, reasonsDomain, lro.ReasonRequestUndecodable, map[string]string{"kind": "kind", "operation": op.GetName()})
	})

	t.Run("type", func(t *testing.T) {
		store := lro.NewMemoryStore()
		// This replica only accepts: its kind takes a StringValue.
		accepting := newManager(t, lro.WithStore(store), lro.WithOwner("accepting"), lro.WithMaxRunning(0))
		if err := lro.Register(accepting, "kind", func(context.Context, *lro.Op, *wrapperspb.StringValue) (proto.Message, error) {
			return nil, nil
		}); err != nil {
			t.Fatal(err)
		}
		op, err := accepting.StartKind(ctx, "kind", wrapperspb.String("x"))
		if err != nil {
			t.Fatal(err)
		}
		// This one runs the kind, which here takes an Int32Value; it claims
		// the queued operation when the kind is registered.
		running := newManager(t, lro.WithStore(store), lro.WithOwner("running"), lro.WithErrorDomain(reasonsDomain))
		if err := lro.Register(running, "kind", handler); err != nil {
			t.Fatal(err)
		}
		got := waitDone(t, running, op.GetName()).GetError()
		wantReason(t, got, codes.Internal, reasonsDomain, lro.ReasonRequestUndecodable, map[string]string{"kind": "kind", "operation": op.GetName()})
	})

	select {
	case <-ran:
		t.Error("the handler ran with a request it cannot take")
	default:
	}
}

// TestReasonResultUnstorable: a result the store refuses for good (a
// response whose type URL is not valid UTF-8, which no store can encode)
// ends the operation with INTERNAL and ErrorInfo RESULT_UNSTORABLE naming
// the operation, on a store with Finisher and on one without.
func TestReasonResultUnstorable(t *testing.T) {
	for _, path := range finishPaths {
		t.Run(path.name, func(t *testing.T) {
			m := newManager(t, lro.WithStore(path.store()), lro.WithErrorDomain(reasonsDomain))
			op, err := m.Start(context.Background(), func(context.Context, *lro.Op) (proto.Message, error) {
				return &anypb.Any{TypeUrl: "type.googleapis.com/\xff"}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			got := waitDone(t, m, op.GetName()).GetError()
			wantReason(t, got, codes.Internal, reasonsDomain, lro.ReasonResultUnstorable, map[string]string{"operation": op.GetName()})
		})
	}
}
