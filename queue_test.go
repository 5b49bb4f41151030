package lro_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// gate is work that announces its start on started (with its label) and
// returns when its label's channel in release is closed. It counts how
// many gated works run at once and the most that ever did.
type gate struct {
	started chan string
	mu      sync.Mutex
	release map[string]chan struct{}
	running atomic.Int32
	peak    atomic.Int32
}

func newGate() *gate {
	return &gate{started: make(chan string, 100), release: make(map[string]chan struct{})}
}

func (g *gate) ch(label string) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.release[label]
	if c == nil {
		c = make(chan struct{})
		g.release[label] = c
	}
	return c
}

func (g *gate) open(label string) { close(g.ch(label)) }

func (g *gate) enter(label string) {
	n := g.running.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			break
		}
	}
	g.started <- label
}

func (g *gate) work(label string) lro.WorkFunc {
	return func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		g.enter(label)
		defer g.running.Add(-1)
		<-g.ch(label)
		return wrapperspb.String(label), nil
	}
}

// handler is registered work gated by the request's value.
func (g *gate) handler(ctx context.Context, op *lro.Op, req *wrapperspb.StringValue) (proto.Message, error) {
	return g.work(req.GetValue())(ctx, op)
}

// next returns the label of the next work to start.
func (g *gate) next(t *testing.T) string {
	t.Helper()
	select {
	case l := <-g.started:
		return l
	case <-time.After(waitTimeout):
		t.Fatal("no work started")
		return ""
	}
}

// noneStarted checks that no work has started (so far).
func (g *gate) noneStarted(t *testing.T) {
	t.Helper()
	select {
	case l := <-g.started:
		t.Fatalf("work %q started; want none", l)
	default:
	}
}

func record(t *testing.T, m *lro.Manager, name string) *lro.Record {
	t.Helper()
	r, err := m.Store().Get(context.Background(), name)
	if err != nil {
		t.Fatalf("store Get(%q): %v", name, err)
	}
	return r
}

func listNames(t *testing.T, m *lro.Manager, filter string) map[string]bool {
	t.Helper()
	resp, err := m.ListOperations(context.Background(), &longrunningpb.ListOperationsRequest{Filter: filter})
	if err != nil {
		t.Fatalf("List(%q): %v", filter, err)
	}
	out := make(map[string]bool)
	for _, op := range resp.GetOperations() {
		out[op.GetName()] = true
	}
	return out
}

func TestMaxRunningQueuesFIFO(t *testing.T) {
	m := newManager(t, lro.WithMaxRunning(2))
	g := newGate()
	ctx := context.Background()
	labels := []string{"a", "b", "c", "d", "e"}
	names := make(map[string]string)
	for _, l := range labels {
		op, err := m.Start(ctx, g.work(l))
		if err != nil {
			t.Fatal(err)
		}
		if op.GetDone() {
			t.Fatalf("%s: done at start", l)
		}
		names[l] = op.GetName()
	}
	running := map[string]bool{g.next(t): true, g.next(t): true}
	if !running["a"] || !running["b"] {
		t.Fatalf("first to run: %v, want a and b", running)
	}
	g.noneStarted(t)
	// Queued operations are recorded, not started, and a filter finds them.
	for _, l := range []string{"c", "d", "e"} {
		if r := record(t, m, names[l]); !r.StartTime.IsZero() || r.Attempt != 0 || !r.Queued() {
			t.Errorf("%s: start time %v attempt %d; want queued", l, r.StartTime, r.Attempt)
		}
		if get(t, m, names[l]).GetDone() {
			t.Errorf("%s: done while queued", l)
		}
	}
	if r := record(t, m, names["a"]); r.StartTime.IsZero() || r.Attempt != 1 || r.Queued() {
		t.Errorf("a: start time %v attempt %d; want started", r.StartTime, r.Attempt)
	}
	queued := listNames(t, m, "queued = true")
	if len(queued) != 3 || !queued[names["c"]] || !queued[names["d"]] || !queued[names["e"]] {
		t.Errorf("queued = true lists %v; want c, d, e", queued)
	}
	if r := listNames(t, m, "done = false AND queued = false"); len(r) != 2 || !r[names["a"]] {
		t.Errorf("running: %v; want a and b", r)
	}
	// Slots go to the queue in order.
	for i, l := range labels {
		g.open(l)
		waitDone(t, m, names[l])
		if want := i + 2; want < len(labels) {
			if got := g.next(t); got != labels[want] {
				t.Fatalf("after %s ended, %s started; want %s", l, got, labels[want])
			}
		}
	}
	if p := g.peak.Load(); p != 2 {
		t.Errorf("at most %d ran at once; want 2", p)
	}
	if q := listNames(t, m, "queued = true"); len(q) != 0 {
		t.Errorf("queued after the end: %v", q)
	}
}

func TestKindMaxRunning(t *testing.T) {
	m := newManager(t)
	g := newGate()
	ctx := context.Background()
	if err := lro.Register(m, "export", g.handler, lro.KindMaxRunning(1)); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range []string{"a", "b", "c"} {
		op, err := m.StartKind(ctx, "export", wrapperspb.String(l))
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, op.GetName())
	}
	// Work functions are not limited by the kind's limit.
	free, err := m.Start(ctx, g.work("free"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{g.next(t): true, g.next(t): true}
	if !got["a"] || !got["free"] {
		t.Fatalf("started %v; want a and free", got)
	}
	g.open("free")
	waitDone(t, m, free.GetName())
	g.noneStarted(t)
	if r := record(t, m, names[1]); !r.Queued() || r.Owner != "" || r.Kind != "export" {
		t.Errorf("queued kind record: owner %q queued %v; want unowned and queued", r.Owner, r.Queued())
	}
	for i, l := range []string{"a", "b", "c"} {
		if i > 0 {
			if s := g.next(t); s != l {
				t.Fatalf("started %s; want %s", s, l)
			}
		}
		g.open(l)
		op := waitDone(t, m, names[i])
		if op.GetResponse() == nil {
			t.Errorf("%s: %v", l, op)
		}
		if r := record(t, m, names[i]); r.Attempt != 1 {
			t.Errorf("%s ran as attempt %d; want 1", l, r.Attempt)
		}
	}
	if p := g.peak.Load(); p != 2 {
		t.Errorf("peak %d; want 2 (one export and the free work)", p)
	}
}

// TestQueuedCancelAndDelete: cancelling a queued operation ends it
// CANCELLED at once, and neither a cancelled nor a deleted queued operation
// ever runs, for work functions and kinds alike.
func TestQueuedCancelAndDelete(t *testing.T) {
	for _, kind := range []bool{false, true} {
		name := "work function"
		if kind {
			name = "kind"
		}
		t.Run(name, func(t *testing.T) {
			m := newManager(t, lro.WithMaxRunning(1))
			g := newGate()
			ctx := context.Background()
			if err := lro.Register(m, "k", g.handler); err != nil {
				t.Fatal(err)
			}
			start := func(l string) string {
				var op *longrunningpb.Operation
				var err error
				if kind {
					op, err = m.StartKind(ctx, "k", wrapperspb.String(l))
				} else {
					op, err = m.Start(ctx, g.work(l))
				}
				if err != nil {
					t.Fatal(err)
				}
				return op.GetName()
			}
			first := start("first")
			if s := g.next(t); s != "first" {
				t.Fatalf("started %s", s)
			}
			cancelled, deleted, last := start("cancelled"), start("deleted"), start("last")
			if _, err := m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: cancelled}); err != nil {
				t.Fatal(err)
			}
			op := get(t, m, cancelled)
			if !op.GetDone() || op.GetError().GetCode() != int32(codes.Canceled) {
				t.Fatalf("cancelled queued operation: %v; want done, CANCELLED", op)
			}
			if _, err := m.DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: deleted}); err != nil {
				t.Fatal(err)
			}
			g.open("first")
			waitDone(t, m, first)
			// FIFO: had either run, it would have started before last.
			if s := g.next(t); s != "last" {
				t.Fatalf("started %s; want last", s)
			}
			g.open("last")
			waitDone(t, m, last)
			g.noneStarted(t)
		})
	}
}

func TestWaitOnQueued(t *testing.T) {
	m := newManager(t, lro.WithMaxRunning(1))
	g := newGate()
	ctx := context.Background()
	first, _ := m.Start(ctx, g.work("first"))
	g.next(t)
	queued, err := m.Start(ctx, g.work("queued"))
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan *longrunningpb.Operation, 1)
	go func() { waited <- waitDone(t, m, queued.GetName()) }()
	g.open("first")
	waitDone(t, m, first.GetName())
	g.next(t)
	g.open("queued")
	if op := <-waited; op.GetResponse() == nil {
		t.Errorf("wait on a queued operation: %v", op)
	}
}

func TestAcceptOnlyReplica(t *testing.T) {
	store := lro.NewMemoryStore()
	acceptor := newManager(t, lro.WithStore(store), lro.WithMaxRunning(0), lro.WithOwner("acceptor"))
	ctx := context.Background()
	g := newGate()
	if err := lro.Register(acceptor, "export", g.handler); err != nil {
		t.Fatal(err)
	}
	_, err := acceptor.Start(ctx, g.work("closure"))
	wantCode(t, err, codes.FailedPrecondition)
	op, err := acceptor.StartKind(ctx, "export", wrapperspb.String("a"))
	if err != nil {
		t.Fatal(err)
	}
	g.noneStarted(t)
	if r := record(t, acceptor, op.GetName()); !r.Queued() || r.Owner != "" {
		t.Fatalf("accepted operation: owner %q queued %v; want unowned and queued", r.Owner, r.Queued())
	}
	// A worker sharing the store runs it.
	worker := newManager(t, lro.WithStore(store), lro.WithMaxRunning(4), lro.WithOwner("worker"))
	if err := lro.Register(worker, "export", g.handler); err != nil {
		t.Fatal(err)
	}
	if s := g.next(t); s != "a" {
		t.Fatalf("started %s", s)
	}
	if r := record(t, worker, op.GetName()); r.Owner != "worker" || r.Attempt != 1 || r.StartTime.IsZero() {
		t.Errorf("claimed record: owner %q attempt %d start %v", r.Owner, r.Attempt, r.StartTime)
	}
	// New operations accepted while the worker idles are claimed at once.
	op2, _ := acceptor.StartKind(ctx, "export", wrapperspb.String("b"))
	if s := g.next(t); s != "b" {
		t.Fatalf("started %s", s)
	}
	g.open("a")
	g.open("b")
	waitDone(t, acceptor, op.GetName())
	waitDone(t, acceptor, op2.GetName())
}

// TestKindMaxRunningGlobal: two replicas sharing a store never run more
// operations of a kind at once than its global limit.
func TestKindMaxRunningGlobal(t *testing.T) {
	store := lro.NewMemoryStore()
	g := newGate()
	var ms []*lro.Manager
	for _, owner := range []string{"a", "b"} {
		m := newManager(t, lro.WithStore(store), lro.WithOwner(owner), lro.WithMaxRunning(4))
		if err := lro.Register(m, "licensed", g.handler, lro.KindMaxRunningGlobal(2)); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	ctx := context.Background()
	labels := []string{"1", "2", "3", "4", "5", "6"}
	var names []string
	for i, l := range labels {
		op, err := ms[i%2].StartKind(ctx, "licensed", wrapperspb.String(l))
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, op.GetName())
	}
	started := []string{g.next(t), g.next(t)}
	g.noneStarted(t)
	for len(started) < len(labels) {
		g.open(started[len(started)-2])
		started = append(started, g.next(t))
	}
	g.open(started[len(started)-2])
	g.open(started[len(started)-1])
	for _, n := range names {
		waitDone(t, ms[0], n)
	}
	if p := g.peak.Load(); p != 2 {
		t.Errorf("peak %d; want the global limit 2", p)
	}
}

func TestCloseEndsLocallyQueuedWork(t *testing.T) {
	m, err := lro.New(lro.WithMaxRunning(1))
	if err != nil {
		t.Fatal(err)
	}
	g := newGate()
	ctx := context.Background()
	first, _ := m.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		g.enter("first")
		<-ctx.Done()
		return nil, ctx.Err()
	})
	g.next(t)
	queued, _ := m.Start(ctx, g.work("queued"))
	// A Close with no time left cuts the running work short; the queued
	// work never starts.
	cut, cancel := context.WithCancel(ctx)
	cancel()
	if err := m.Close(cut); err == nil {
		t.Error("Close cut work short but returned no error")
	}
	checkNoManagerGoroutines(t, m)
	g.noneStarted(t)
	for _, name := range []string{first.GetName(), queued.GetName()} {
		r, err := m.Store().Get(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Done() || codes.Code(r.Operation.GetError().GetCode()) != codes.Unavailable {
			t.Errorf("%s after Close: %v; want done with UNAVAILABLE", name, r.Operation)
		}
	}
}

func TestWorkControlSettingsRefused(t *testing.T) {
	if _, err := lro.New(lro.WithMaxRunning(-1)); err == nil {
		t.Error("WithMaxRunning(-1): want an error")
	}
	m := newManager(t)
	h := func(ctx context.Context, op *lro.Op, req *wrapperspb.StringValue) (proto.Message, error) {
		return nil, nil
	}
	for name, opt := range map[string]lro.KindOption{
		"KindMaxRunning(0)":       lro.KindMaxRunning(0),
		"KindMaxRunningGlobal(0)": lro.KindMaxRunningGlobal(-1),
		"KindTimeout(0)":          lro.KindTimeout(0),
		"KindTimeout(-1s)":        lro.KindTimeout(-time.Second),
		"MaxAttempts 0":           lro.KindRetry(lro.RetryPolicy{MaxAttempts: 0}),
		"negative backoff":        lro.KindRetry(lro.RetryPolicy{MaxAttempts: 2, InitialBackoff: -time.Second}),
		"max below initial":       lro.KindRetry(lro.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Minute, MaxBackoff: time.Second}),
	} {
		if err := lro.Register(m, "k", h, opt); err == nil {
			t.Errorf("%s: Register succeeded; want an error", name)
		}
	}
	if err := lro.Register(m, "k", h); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, d := range []time.Duration{0, -time.Second} {
		_, err := m.Start(ctx, func(context.Context, *lro.Op) (proto.Message, error) { return nil, nil }, lro.WithTimeout(d))
		wantCode(t, err, codes.InvalidArgument)
		_, err = m.StartKind(ctx, "k", wrapperspb.String("x"), lro.WithTimeout(d))
		wantCode(t, err, codes.InvalidArgument)
		_, err = m.Create(ctx, lro.WithTimeout(d))
		wantCode(t, err, codes.InvalidArgument)
	}
}
