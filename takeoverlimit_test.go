package lro_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestTakeoverKeepsLimits: registered work taken over from a replica whose
// lease lapsed runs within the taker's limits. An accept-only replica that
// takes it over runs none of it but queues it, unowned, for a worker; a
// worker with WithMaxRunning(1) runs one and queues the rest. Either way
// the worker runs them one at a time, each once more, as attempt 2.
func TestTakeoverKeepsLimits(t *testing.T) {
	for _, viaAcceptor := range []bool{true, false} {
		name := "worker takes over"
		if viaAcceptor {
			name = "accept-only takes over"
		}
		t.Run(name, func(t *testing.T) { takeoverKeepsLimits(t, viaAcceptor) })
	}
}

func takeoverKeepsLimits(t *testing.T, viaAcceptor bool) {
	ctx := context.Background()
	store := lro.NewMemoryStore()
	if err := store.RegisterOwner(ctx, lro.LeaseParams{Owner: "dead", Token: "dead", Now: epoch, Lease: testLease}); err != nil {
		t.Fatal(err)
	}
	labels := []string{"a", "b", "c"}
	for _, l := range labels {
		heldBy(t, store, "dead", "operations/"+l, "export", wrapperspb.String(l))
	}
	clk := lrotest.NewClock(epoch.Add(testLease + time.Microsecond))

	if viaAcceptor {
		acceptor := newManager(t, lro.WithStore(store), lro.WithClock(clk), lro.WithLease(testLease),
			lro.WithOwner("acceptor"), lro.WithMaxRunning(0))
		if err := lro.Register(acceptor, "export", func(ctx context.Context, op *lro.Op, req *wrapperspb.StringValue) (proto.Message, error) {
			t.Errorf("the accept-only replica ran %s", op.Name())
			return req, nil
		}); err != nil {
			t.Fatal(err)
		}
		tick(clk, maintained(acceptor))
		for _, l := range labels {
			if r := record(t, acceptor, "operations/"+l); !r.Queued() || r.Owner != "" || r.Attempt != 1 {
				t.Errorf("%s taken over by the accept-only replica: owner %q, queued %v, attempt %d; want unowned, queued, attempt 1",
					l, r.Owner, r.Queued(), r.Attempt)
			}
		}
	}
	g := newGate()
	worker := newManager(t, lro.WithStore(store), lro.WithClock(clk), lro.WithLease(testLease),
		lro.WithOwner("worker"), lro.WithMaxRunning(1))
	if err := lro.Register(worker, "export", g.handler); err != nil {
		t.Fatal(err)
	}
	started := map[string]bool{}
	t.Cleanup(func() { // before the Managers close, should the test fail
		for _, l := range labels {
			if !started[l] {
				g.open(l)
			}
		}
	})
	if !viaAcceptor {
		tick(clk, maintained(worker))
	}

	for range labels {
		l := g.next(t)
		g.noneStarted(t)
		started[l] = true
		g.open(l)
	}
	for _, l := range labels {
		name := "operations/" + l
		op := waitDone(t, worker, name)
		var resp wrapperspb.StringValue
		if err := op.GetResponse().UnmarshalTo(&resp); err != nil || resp.GetValue() != l || !started[l] {
			t.Errorf("%s: %v, %v (started: %v); want it run again by the worker", name, op.GetResult(), err, started[l])
		}
		if r := record(t, worker, name); r.Owner != "worker" || r.Attempt != 2 {
			t.Errorf("%s: finished by %q at attempt %d; want the worker, attempt 2", name, r.Owner, r.Attempt)
		}
	}
	if p := g.peak.Load(); p != 1 {
		t.Errorf("the worker ran %d works at once; want its limit, 1", p)
	}
}

// flakyUpdates is a store whose Updates fail while fail is set, as when
// the database cannot be reached, and that sends the name of every Update
// that went through on updated (when it has room).
type flakyUpdates struct {
	lro.Store
	fail    atomic.Bool
	updated chan string
}

func (f *flakyUpdates) Update(ctx context.Context, name string, fn func(*lro.Record) error) (*lro.Record, error) {
	if f.fail.Load() {
		return nil, errors.New("the store cannot be reached")
	}
	r, err := f.Store.Update(ctx, name, fn)
	if err == nil {
		select {
		case f.updated <- name:
		default:
		}
	}
	return r, err
}

// TestTakeoverRequeueRetried: when an accept-only replica takes an orphan
// over but cannot write it back to the queue, it holds the operation,
// running it nowhere; the next lease round queues it again.
func TestTakeoverRequeueRetried(t *testing.T) {
	ctx := context.Background()
	mem := lro.NewMemoryStore()
	if err := mem.RegisterOwner(ctx, lro.LeaseParams{Owner: "dead", Token: "dead", Now: epoch, Lease: testLease}); err != nil {
		t.Fatal(err)
	}
	const name = "operations/a"
	heldBy(t, mem, "dead", name, "export", wrapperspb.String("a"))
	store := &flakyUpdates{Store: mem, updated: make(chan string, 10)}
	store.fail.Store(true)
	clk := lrotest.NewClock(epoch.Add(testLease + time.Microsecond))
	acceptor := newManager(t, lro.WithStore(store), lro.WithClock(clk), lro.WithLease(testLease),
		lro.WithOwner("acceptor"), lro.WithMaxRunning(0))
	if err := lro.Register(acceptor, "export", exportHandler); err != nil {
		t.Fatal(err)
	}
	rounds := maintained(acceptor)
	tick(clk, rounds)
	if r := record(t, acceptor, name); r.Owner != "acceptor" || r.Attempt != 1 {
		t.Fatalf("after a take-over whose requeue failed: owner %q attempt %d; want the acceptor's, attempt 1", r.Owner, r.Attempt)
	}

	store.fail.Store(false)
	tick(clk, rounds)
	select {
	case got := <-store.updated:
		if got != name {
			t.Fatalf("updated %s, want %s", got, name)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the next lease round did not queue the operation again")
	}
	if r := record(t, acceptor, name); !r.Queued() || r.Owner != "" || r.Attempt != 1 || r.Done() {
		t.Errorf("after the next round: owner %q queued %v attempt %d done %v; want unowned, queued, attempt 1",
			r.Owner, r.Queued(), r.Attempt, r.Done())
	}
}
