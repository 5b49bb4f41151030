package lro_test

// Benchmarks 4 and 5 (see bench_test.go and BENCHMARKS.md): List over many
// retained operations, and the memory a retained operation costs.

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"google.golang.org/protobuf/proto"
)

// --- 4. List: first page vs a deep page of 100,000 retained operations ---

const (
	benchListTotal    = 100_000
	benchListPageSize = 100
	benchListDeepPage = 500
)

// benchTokenKey signs the page tokens of the List benchmark, so a token
// made while building the fixture works for every Manager reading it.
var benchTokenKey = []byte("lro-bench-page-token-key-32bytes")

// benchListFixture is a store of benchListTotal done operations and the
// token of page benchListDeepPage of "operations" listed 100 at a time.
type benchListFixture struct {
	store     *lro.MemoryStore
	now       time.Time // the fake time right after the last operation
	deepToken string
}

var benchListFixtures sync.Map // step time.Duration → func() (*benchListFixture, error)

// benchList returns the fixture whose operations are created step apart
// (0: all at the same time), building it on first use.
func benchList(b *testing.B, step time.Duration) *benchListFixture {
	b.Helper()
	build, _ := benchListFixtures.LoadOrStore(step, sync.OnceValues(func() (*benchListFixture, error) {
		return benchBuildList(step)
	}))
	f, err := build.(func() (*benchListFixture, error))()
	if err != nil {
		b.Fatal(err)
	}
	return f
}

func benchBuildList(step time.Duration) (*benchListFixture, error) {
	ctx := context.Background()
	clk := lrotest.NewClock(lrotest.Epoch)
	store := lro.NewMemoryStore()
	m, err := lro.New(lro.WithStore(store), lro.WithClock(clk), lro.WithPageTokenKey(benchTokenKey))
	if err != nil {
		return nil, fmt.Errorf("building the List fixture: %w", err)
	}
	defer func() { _ = m.Close(ctx) }()
	for range benchListTotal {
		op, err := m.Create(ctx, lro.WithMetadata(benchMetadata()))
		if err != nil {
			return nil, fmt.Errorf("building the List fixture: Create: %w", err)
		}
		if err := m.Complete(ctx, op.GetName(), benchResponse()); err != nil {
			return nil, fmt.Errorf("building the List fixture: Complete: %w", err)
		}
		if step > 0 {
			clk.Advance(step)
		}
	}
	req := &longrunningpb.ListOperationsRequest{Name: "operations", PageSize: benchListPageSize}
	for page := 1; page < benchListDeepPage; page++ {
		resp, err := m.ListOperations(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("building the List fixture: listing page %d: %w", page, err)
		}
		if resp.GetNextPageToken() == "" {
			return nil, fmt.Errorf("building the List fixture: the listing ended at page %d, before page %d", page, benchListDeepPage)
		}
		req.PageToken = resp.GetNextPageToken()
	}
	return &benchListFixture{store: store, now: clk.Now(), deepToken: req.PageToken}, nil
}

// BenchmarkList lists a page of 100 from 100,000 retained operations: the
// first page and the 500th (through its keyset page token), one of each per
// iteration. It reports first-ns/op, deep-ns/op and deep/first (target
// ≤ 1.5), for operations created 1 µs apart and all at the same time.
func BenchmarkList(b *testing.B) {
	for _, tc := range []struct {
		name string
		step time.Duration
	}{
		{"distinct-times", time.Microsecond},
		{"equal-times", 0},
	} {
		b.Run(tc.name, func(b *testing.B) {
			f := benchList(b, tc.step)
			ctx := context.Background()
			m := benchManager(b, lro.WithStore(f.store), lro.WithClock(lrotest.NewClock(f.now)), lro.WithPageTokenKey(benchTokenKey))
			first := &longrunningpb.ListOperationsRequest{Name: "operations", PageSize: benchListPageSize}
			deep := &longrunningpb.ListOperationsRequest{Name: "operations", PageSize: benchListPageSize, PageToken: f.deepToken}
			list := func(req *longrunningpb.ListOperationsRequest) time.Duration {
				t0 := time.Now()
				resp, err := m.ListOperations(ctx, req)
				d := time.Since(t0)
				if err != nil {
					b.Fatal(err)
				}
				if len(resp.GetOperations()) != benchListPageSize {
					b.Fatalf("got %d operations, want %d", len(resp.GetOperations()), benchListPageSize)
				}
				return d
			}
			var firstNS, deepNS time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%2 == 0 {
					firstNS += list(first)
					deepNS += list(deep)
				} else {
					deepNS += list(deep)
					firstNS += list(first)
				}
			}
			b.ReportMetric(float64(firstNS)/float64(b.N), "first-ns/op")
			b.ReportMetric(float64(deepNS)/float64(b.N), "deep-ns/op")
			b.ReportMetric(float64(deepNS)/float64(firstNS), "deep/first")
		})
	}
}

// --- 5. Memory retained per done operation -------------------------------

// BenchmarkRetainedMemory creates b.N done operations (with metadata and a
// response) in a MemoryStore and reports the heap they retain per
// operation, retained-B/op, against proto-B, the wire size of one such
// operation, and target-B = 2×proto-B + 512. Run it with
// -benchtime=100000x: small b.N measure mostly noise.
func BenchmarkRetainedMemory(b *testing.B) {
	ctx := context.Background()
	store := lro.NewMemoryStore()
	m := benchManager(b, lro.WithStore(store))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	var name string
	for i := 0; i < b.N; i++ {
		name = benchDoneOperation(b, ctx, m)
	}
	b.StopTimer()
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if store.Len() != b.N {
		b.Fatalf("store holds %d operations, want %d", store.Len(), b.N)
	}
	op, err := m.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: name})
	if err != nil {
		b.Fatal(err)
	}
	runtime.KeepAlive(store)
	size := proto.Size(op)
	perOp := (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(b.N)
	b.ReportMetric(perOp, "retained-B/op")
	b.ReportMetric(float64(size), "proto-B")
	b.ReportMetric(float64(2*size+512), "target-B")
}
