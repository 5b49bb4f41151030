package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lrokit/lro"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// latencyKind is the kind BenchmarkQueueToStart queues.
const latencyKind = "gated"

// gatedWork is the work of latencyKind: it sends the time it started on
// started, waits for a token on release, and stores the time it returns
// in freed just before returning; the slot it held frees right after.
type gatedWork struct {
	started chan time.Time
	release chan struct{}
	freed   atomic.Pointer[time.Time]
}

func newGatedWork() *gatedWork {
	return &gatedWork{started: make(chan time.Time, 1), release: make(chan struct{})}
}

func (g *gatedWork) handler(ctx context.Context, _ *lro.Op, _ *emptypb.Empty) (proto.Message, error) {
	g.started <- time.Now()
	select {
	case <-g.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	now := time.Now()
	g.freed.Store(&now)
	return nil, nil
}

// BenchmarkQueueToStart measures the queue-to-start latency on pgstore:
// how long after a slot frees the next queued operation starts running.
// Each sample is the time from the moment the running work returns (its
// last statement; the slot frees just after) to the moment the next queued
// operation's work begins (its first statement), both read from the same
// monotonic clock in this process. Before each sample, an accept-only
// replica A (WithMaxRunning(0), its own Store and pool) records the next
// operation of the kind, so that one operation is queued, unowned, in the
// database when the slot frees. Only one operation can run at a time, so
// the next one always waits for that slot.
//
//   - slot-on-worker: one worker replica B (its own Store, WithMaxRunning(1))
//     runs the kind. When its work returns, B looks for queued work at once
//     and claims the operation A queued: this is the claim path (one
//     ClaimQueued statement) plus handing the work to a goroutine.
//   - global-limit: two worker replicas B and C run the kind under
//     KindMaxRunningGlobal(1). When the work returns on one, that one
//     writes the result, then notifies every replica (NotifyQueue); the
//     next start may be on either, so a freed slot reaches the other
//     replica through a PostgreSQL notification. This adds the result
//     write, the notification and the claim's advisory lock and count.
//
// It reports p50-ms, p99-ms and max-ms over b.N samples (-benchtime 300x
// for 300); the target is p99 ≤ 20 ms.
func BenchmarkQueueToStart(b *testing.B) {
	b.Run("slot-on-worker", func(b *testing.B) { benchQueueToStart(b, 1) })
	b.Run("global-limit", func(b *testing.B) { benchQueueToStart(b, 2, lro.KindMaxRunningGlobal(1)) })
}

// benchQueueToStart runs BenchmarkQueueToStart with workers worker
// replicas, each with WithMaxRunning(1) unless the kind's options limit it.
func benchQueueToStart(b *testing.B, workers int, opts ...lro.KindOption) {
	url := dbURL(b)
	ctx := context.Background()
	schema := freshSchema(b, url)
	acceptor := newManager(b, newStore(b, url, schema, 4), lro.WithMaxRunning(0))
	g := newGatedWork()
	if err := lro.Register(acceptor, latencyKind, g.handler); err != nil {
		b.Fatal(err)
	}
	for i := range workers {
		limit := 1
		if len(opts) > 0 {
			limit = 4 // the global limit binds, not the replica's
		}
		w := newManager(b, newStore(b, url, schema, 4), lro.WithMaxRunning(limit), lro.WithOwner(fmt.Sprintf("worker-%d", i)))
		if err := lro.Register(w, latencyKind, g.handler, opts...); err != nil {
			b.Fatal(err)
		}
	}
	queue := func() {
		if _, err := acceptor.StartKind(ctx, latencyKind, &emptypb.Empty{}); err != nil {
			b.Fatal(err)
		}
	}
	awaitStart := func() time.Time {
		select {
		case t := <-g.started:
			return t
		case <-time.After(30 * time.Second):
			b.Fatal("no queued operation started within 30s")
		}
		return time.Time{}
	}
	queue()
	awaitStart()
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		queue()
		g.release <- struct{}{}
		began := awaitStart()
		ds = append(ds, began.Sub(*g.freed.Load()))
	}
	b.StopTimer()
	g.release <- struct{}{}
	reportLatencies(b, ds)
}
