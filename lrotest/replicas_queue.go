package lrotest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lrokit/lro"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// testReplicasQueue: an accept-only replica records operations of a kind;
// two workers with small limits drain them, never running more than the
// kind's global limit at once; each runs exactly once. When the store
// notifies queued work (see notifiesQueue), the maintenance tick is an
// hour away, so only the notification can wake the workers.
func testReplicasQueue(t *testing.T, c *cluster) {
	const (
		ops    = 60
		global = 3
	)
	var (
		running, peak atomic.Int32
		mu            sync.Mutex
		runs          = map[string]int{}
	)
	handler := func(ctx context.Context, op *lro.Op, req *wrapperspb.StringValue) (proto.Message, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		mu.Lock()
		runs[op.Name()]++
		mu.Unlock()
		time.Sleep(time.Millisecond) // some work, so that limits bind
		return req, nil
	}
	acceptorStore := c.replica(t, "acceptor")
	tick := lro.WithLease(time.Hour) // no maintenance tick during the test
	if !notifiesQueue(acceptorStore.Store) {
		tick = lro.WithLease(3 * time.Second) // the tick (every second) finds the queued work
	}
	acceptor := NewManager(t, acceptorStore, lro.WithMaxRunning(0), tick)
	if err := lro.Register(acceptor, "job", handler); err != nil {
		t.Fatal(err)
	}
	var workers []*lro.Manager
	for i := range 2 {
		name := fmt.Sprintf("worker-%d", i)
		w := NewManager(t, c.replica(t, name), lro.WithMaxRunning(2), lro.WithOwner(name), tick)
		if err := lro.Register(w, "job", handler, lro.KindMaxRunningGlobal(global)); err != nil {
			t.Fatal(err)
		}
		workers = append(workers, w)
	}
	_, err := acceptor.Start(context.Background(), func(context.Context, *lro.Op) (proto.Message, error) { return nil, nil })
	if err == nil {
		t.Error("an accept-only replica ran a work function")
	}
	var names []string
	for i := range ops {
		op, err := acceptor.StartKind(context.Background(), "job", wrapperspb.String(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, op.GetName())
	}
	for _, n := range names {
		if op := WaitDone(t, acceptor, n); op.GetResponse() == nil {
			t.Errorf("%s: %v", n, op)
		}
	}
	closeManagers(t, workers...) // their Finish calls have all returned
	mu.Lock()
	defer mu.Unlock()
	for _, n := range names {
		if runs[n] != 1 {
			t.Errorf("%s ran %d times", n, runs[n])
		}
		if by := c.ended.of(n); len(by) != 1 || by[0] == "acceptor" {
			t.Errorf("%s ended by %v; want once, by a worker", n, by)
		}
	}
	if p := peak.Load(); p > global {
		t.Errorf("%d ran at once; the global limit is %d", p, global)
	}
}
