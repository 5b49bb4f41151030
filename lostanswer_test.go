package lro_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// lostAnswers is a store whose Creates, while lose is set, store the
// record and then fail, as when the connection is cut (or the database
// fails over) after the commit and before its answer arrives.
type lostAnswers struct {
	lro.Store
	lose atomic.Bool
}

func (s *lostAnswers) Create(ctx context.Context, rec *lro.Record) (*lro.Record, bool, error) {
	stored, created, err := s.Store.Create(ctx, rec)
	if err == nil && s.lose.Load() {
		return nil, false, errors.New("connection lost after the commit")
	}
	return stored, created, err
}

// TestStartWhoseAnswerWasLost: a Start whose Create fails may have stored
// its operation all the same, owned by this Manager, which runs nothing
// for it. The next round of the lease loop takes it back, as it does the
// operations of an owner id registered again: registered work runs again
// (attempt 2), a work function ends UNAVAILABLE. Without it the operation
// would stay running as long as the Manager lives.
func TestStartWhoseAnswerWasLost(t *testing.T) {
	ctx := context.Background()
	clk := lrotest.NewClock(epoch)
	store := &lostAnswers{Store: lro.NewMemoryStore()}
	m := newManager(t, lro.WithStore(store), lro.WithClock(clk), lro.WithOwner("a"), lro.WithLease(testLease))
	if err := lro.Register(m, "export", exportHandler); err != nil {
		t.Fatal(err)
	}
	rounds := maintained(m)
	tick(clk, rounds) // the first round takes back what the id held before: nothing

	store.lose.Store(true)
	if _, err := m.StartKind(ctx, "export", wrapperspb.String("books"), lro.WithRequestID("kind")); err == nil {
		t.Fatal("StartKind whose Create failed succeeded")
	}
	ran := make(chan struct{}, 1)
	if _, err := m.Start(ctx, func(context.Context, *lro.Op) (proto.Message, error) {
		ran <- struct{}{}
		return nil, nil
	}, lro.WithRequestID("func")); err == nil {
		t.Fatal("Start whose Create failed succeeded")
	}
	store.lose.Store(false)
	var names []string
	for _, rid := range []string{"kind", "func"} {
		// A client retrying with the request id gets the stored operation.
		op, err := m.Create(ctx, lro.WithRequestID(rid))
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, op.GetName())
	}

	tick(clk, rounds)
	var resp wrapperspb.StringValue
	if err := waitDone(t, m, names[0]).GetResponse().UnmarshalTo(&resp); err != nil || resp.GetValue() != "books#2" {
		t.Errorf("registered work whose Start failed after storing it: %q, %v; want it run as attempt 2", resp.GetValue(), err)
	}
	got := waitDone(t, m, names[1])
	if codes.Code(got.GetError().GetCode()) != codes.Unavailable || !strings.Contains(got.GetError().GetMessage(), "lease") {
		t.Errorf("work function whose Start failed after storing it: %v; want UNAVAILABLE", got.GetError())
	}
	select {
	case <-ran:
		t.Error("the work function of a failed Start ran")
	default:
	}
}
