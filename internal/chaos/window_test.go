package chaos_test

import (
	"context"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/pgstore"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// cancelOnCreate is a Store that, right after it creates a record, has
// another replica cancel it and waits until its own listener has delivered
// the notification: the cancellation lands, and is announced, between the
// Create and whatever the Manager does next.
type cancelOnCreate struct {
	*pgstore.Store
	other *lro.Manager
	t     *testing.T
}

// Create implements lro.Store.
func (s *cancelOnCreate) Create(ctx context.Context, rec *lro.Record) (*lro.Record, bool, error) {
	got, created, err := s.Store.Create(ctx, rec)
	if err != nil || !created {
		return got, created, err
	}
	// Cancel through the other replica, and return only once this
	// store's listener has delivered the notification of it.
	heard := make(chan struct{}, 1)
	stop := s.Store.Watch(got.Operation.GetName(), func(ev lro.Event) {
		if ev.CancelRequested {
			select {
			case heard <- struct{}{}:
			default:
			}
		}
	})
	defer stop()
	if _, err := s.other.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: got.Operation.GetName()}); err != nil {
		s.t.Errorf("cancelling from the other replica: %v", err)
		return got, created, err
	}
	select {
	case <-heard:
	case <-ctx.Done():
		s.t.Error("the cancel notification never arrived")
	}
	return got, created, nil
}

// TestCancelRightAfterCreate cancels an operation from replica B in the
// window between replica A's store Create and A's subscription to the
// record's notifications, with the fallback poll and the lease an hour
// away, so only the notification can deliver it. (Until commit 3536716 the
// Manager subscribed only after Create returned, and such a cancellation
// waited for the periodic check, PollInterval later.)
func TestCancelRightAfterCreate(t *testing.T) {
	dbURL := testURL(t)
	schema := freshSchema(t, dbURL)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	newStore := func() *pgstore.Store {
		s, err := pgstore.New(ctx, newPool(t, dbURL, schema, 4), pgstore.WithAutoMigrate(), pgstore.WithPollInterval(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	}
	newManager := func(s lro.Store) *lro.Manager {
		m, err := lro.New(lro.WithStore(s), lro.WithLease(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cctx, ccancel := context.WithTimeout(context.Background(), time.Second)
			defer ccancel()
			_ = m.Close(cctx)
		})
		return m
	}
	b := newManager(newStore())
	a := newManager(&cancelOnCreate{Store: newStore(), other: b, t: t})

	stopped := make(chan struct{})
	op, err := a.Start(ctx, func(ctx context.Context, _ *lro.Op) (proto.Message, error) {
		<-ctx.Done()
		close(stopped)
		return nil, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-stopped:
	case <-ctx.Done():
		t.Fatal("the work never heard of a cancellation made right after its record was created")
	}
	got := waitDone(ctx, t, b, op.GetName())
	if codes.Code(got.GetError().GetCode()) != codes.Canceled {
		t.Errorf("got %v, want CANCELLED", got.GetResult())
	}
}
