package pgstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestQueueAcrossReplicas: an accept-only replica records operations of a
// kind; two workers with small limits drain them, woken by notifications
// (the maintenance tick is an hour away, so polling cannot), never running
// more than the kind's global limit at once; each runs exactly once.
func TestQueueAcrossReplicas(t *testing.T) {
	t.Parallel()
	schema := freshSchema(t)
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
	slow := lro.WithLease(time.Hour) // no maintenance tick during the test
	acceptor := newManager(t, newStore(t, schema), lro.WithMaxRunning(0), slow)
	if err := lro.Register(acceptor, "job", handler); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		w := newManager(t, newStore(t, schema), lro.WithMaxRunning(2), lro.WithOwner(fmt.Sprintf("worker-%d", i)), slow)
		if err := lro.Register(w, "job", handler, lro.KindMaxRunningGlobal(global)); err != nil {
			t.Fatal(err)
		}
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
		if op := waitDone(t, acceptor, n); op.GetResponse() == nil {
			t.Errorf("%s: %v", n, op)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, n := range names {
		if runs[n] != 1 {
			t.Errorf("%s ran %d times", n, runs[n])
		}
	}
	if p := peak.Load(); p > global {
		t.Errorf("%d ran at once; the global limit is %d", p, global)
	}
}

// TestListQueuedFilter: the filter queued = true, pushed down to SQL,
// lists the queued operations and only them.
func TestListQueuedFilter(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	m := newManager(t, s, lro.WithMaxRunning(0))
	if err := lro.Register(m, "job", func(ctx context.Context, op *lro.Op, req *wrapperspb.StringValue) (proto.Message, error) {
		return req, nil
	}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	queued, err := m.StartKind(ctx, "job", wrapperspb.String("q"))
	if err != nil {
		t.Fatal(err)
	}
	created, err := m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for filter, want := range map[string]string{
		"queued = true":                    queued.GetName(),
		"queued = false":                   created.GetName(),
		"done = false AND NOT queued:true": created.GetName(),
	} {
		resp, err := m.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Filter: filter})
		if err != nil {
			t.Fatalf("List(%q): %v", filter, err)
		}
		if ops := resp.GetOperations(); len(ops) != 1 || ops[0].GetName() != want {
			t.Errorf("List(%q) = %v; want only %s", filter, ops, want)
		}
	}
}
