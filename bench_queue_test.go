package lro_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"google.golang.org/protobuf/proto"
)

// BenchmarkQueuedMemory measures the memory a work function queued in
// process costs beyond its record (issue 10's target: ≤ 1 KiB).
//
// A Manager on the memory store with WithMaxRunning(1) has its one slot
// held by a blocked work function; b.N Starts of one shared no-op work
// function then all queue. The heap in use (runtime.MemStats.HeapAlloc,
// each time after two runtime.GC calls) grows by queued-B/op per Start:
// the record in the store with its indexes, and the Manager's queue entry
// (name, context, closure, list element, name index). The record's own
// cost is measured in the same run: b.N records equal to a queued one
// (copied from the store, renamed with names of the same length) created
// in a fresh memory store, record-B/op each. The difference is
// beyond-record-B/op. Use -benchtime 10000x or more; a small b.N is noise.
func BenchmarkQueuedMemory(b *testing.B) {
	ctx := context.Background()
	store := lro.NewMemoryStore()
	m, err := lro.New(lro.WithStore(store), lro.WithMaxRunning(1))
	if err != nil {
		b.Fatal(err)
	}
	hold := make(chan struct{})
	defer func() {
		close(hold)
		_ = m.Close(ctx)
	}()
	if _, err := m.Start(ctx, func(context.Context, *lro.Op) (proto.Message, error) { <-hold; return nil, nil }); err != nil {
		b.Fatal(err)
	}
	noop := func(context.Context, *lro.Op) (proto.Message, error) { return nil, nil }

	b.ResetTimer()
	before := benchHeap()
	var first string
	for i := range b.N {
		op, err := m.Start(ctx, noop)
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			first = op.GetName()
		}
	}
	queued := benchHeap() - before
	b.StopTimer()

	r, err := store.Get(ctx, first)
	if err != nil || !r.Queued() {
		b.Fatalf("the operation is not queued: %+v, %v", r, err)
	}
	alone := lro.NewMemoryStore()
	prefix := first[:len(first)-min(len(first), 8)]
	before = benchHeap()
	for i := range b.N {
		c := *r
		c.Operation = proto.Clone(r.Operation).(*longrunningpb.Operation)
		c.Operation.Name = fmt.Sprintf("%s%0*d", prefix, len(first)-len(prefix), i)
		if _, _, err := alone.Create(ctx, &c); err != nil {
			b.Fatal(err)
		}
	}
	record := benchHeap() - before
	runtime.KeepAlive(alone)

	n := float64(b.N)
	b.ReportMetric(queued/n, "queued-B/op")
	b.ReportMetric(record/n, "record-B/op")
	b.ReportMetric((queued-record)/n, "beyond-record-B/op")
	b.ReportMetric(0, "ns/op")
}

// benchHeap returns the bytes of heap in use after garbage collection.
func benchHeap() float64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc)
}
