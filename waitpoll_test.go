package lro_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"google.golang.org/protobuf/types/known/durationpb"
)

// lossyStore is a Poller whose notifications are lost while notifying is
// false (as over a dropped connection), and which counts its reads.
type lossyStore struct {
	*lro.MemoryStore
	notifying atomic.Bool
	reads     atomic.Int64
}

const lossyPoll = time.Second

func (s *lossyStore) PollInterval() time.Duration { return lossyPoll }
func (s *lossyStore) Notifying() bool             { return s.notifying.Load() }

func (s *lossyStore) Get(ctx context.Context, name string) (*lro.Record, error) {
	s.reads.Add(1)
	return s.MemoryStore.Get(ctx, name)
}

func (s *lossyStore) Watch(name string, fn func(lro.Event)) func() {
	return s.MemoryStore.Watch(name, func(ev lro.Event) {
		if s.notifying.Load() {
			fn(ev)
		}
	})
}

// lossyBatch is a lossyStore that reads many states in one query.
type lossyBatch struct{ *lossyStore }

func (s lossyBatch) ReadStates(ctx context.Context, names []string) ([]lro.Event, error) {
	s.reads.Add(1)
	var evs []lro.Event
	for _, n := range names {
		if r, err := s.MemoryStore.Get(ctx, n); err == nil {
			evs = append(evs, lro.Event{Name: n, Done: r.Done(), CancelRequested: r.CancelRequested})
		}
	}
	return evs, nil
}

// TestIdleWaitersCostNothing: while a Poller's notifications flow, blocked
// waiters read nothing; while they do not, one pass per poll interval
// reads the operations waited on (once each, or in one query for a
// StateReader) and wakes the waiters of an operation whose notification
// was lost.
func TestIdleWaitersCostNothing(t *testing.T) {
	const ops, perOp = 5, 10
	for _, tt := range []struct {
		desc      string
		store     func(*lossyStore) lro.Store
		pollReads int64 // reads of one pass while notifications do not flow
	}{
		{"Get", func(s *lossyStore) lro.Store { return s }, ops},
		{"StateReader", func(s *lossyStore) lro.Store { return lossyBatch{s} }, 1},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			lossy := &lossyStore{MemoryStore: lro.NewMemoryStore()}
			lossy.notifying.Store(true)
			clk := lrotest.NewClock(epoch)
			m := newManager(t, lro.WithStore(tt.store(lossy)), lro.WithClock(clk))
			polled := make(chan struct{}, 1)
			lro.SetAfterWaitPoll(m, func() { polled <- struct{}{} })
			round := func() int64 {
				t.Helper()
				// The loops re-arm their timers after each pass; advancing
				// before they have would skip a pass.
				clk.WaitForTimers(3+ops*perOp, nil)
				before := lossy.reads.Load()
				clk.Advance(lossyPoll)
				<-polled
				return lossy.reads.Load() - before
			}
			ctx := context.Background()
			names := make([]string, ops)
			results := make([]chan *longrunningpb.Operation, ops)
			for i := range names {
				op, err := m.Create(ctx)
				if err != nil {
					t.Fatal(err)
				}
				names[i] = op.GetName()
				results[i] = make(chan *longrunningpb.Operation, perOp)
				for range perOp {
					go func() {
						got, err := m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: names[i], Timeout: durationpb.New(time.Hour)})
						if err != nil {
							t.Errorf("WaitOperation: %v", err)
						}
						results[i] <- got
					}()
				}
			}
			// Every waiter has armed its timer: all are blocked.
			clk.WaitForTimers(3+ops*perOp, nil) // sweep, lease, the waiters' poll and the waiters

			for range 3 {
				if n := round(); n != 0 {
					t.Fatalf("a pass read the store %d times while notifications flow, want 0", n)
				}
			}
			lossy.notifying.Store(false)
			if n := round(); n != tt.pollReads {
				t.Errorf("a pass read the store %d times while notifications do not flow, want %d", n, tt.pollReads)
			}
			// A completion whose notification is lost wakes its waiters
			// at the next pass, and only them.
			if err := m.Complete(ctx, names[0], nil); err != nil {
				t.Fatal(err)
			}
			round()
			for range perOp {
				if got := <-results[0]; !got.GetDone() {
					t.Errorf("waiter woken by the pass: %v, want done", got)
				}
			}
			for _, r := range results[1:] {
				select {
				case got := <-r:
					t.Fatalf("a waiter on a running operation returned: %v", got)
				default:
				}
			}
			lossy.notifying.Store(true)
			for i, name := range names[1:] {
				if err := m.Complete(ctx, name, nil); err != nil {
					t.Fatal(err)
				}
				for range perOp {
					<-results[i+1]
				}
			}
		})
	}
}
