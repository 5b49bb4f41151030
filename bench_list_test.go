package lro_test

// Benchmarks 4 and 5 (see bench_test.go and BENCHMARKS.md): List over many
// retained operations, and the memory a retained operation costs.

import (
	"cmp"
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
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

// --- 6. Bounded List work: a filter that matches nothing -----------------

// benchScanStores caches the stores of BenchmarkListNoMatch by size.
var benchScanStores sync.Map // int → func() (*lro.MemoryStore, error)

// benchScanStore returns a memory store of n done operations, each with
// metadata and a response, none of which has an error.
func benchScanStore(b *testing.B, n int) *lro.MemoryStore {
	b.Helper()
	build, _ := benchScanStores.LoadOrStore(n, sync.OnceValues(func() (*lro.MemoryStore, error) {
		s := lro.NewMemoryStore()
		md, _ := anypb.New(benchMetadata())
		resp, _ := anypb.New(benchResponse())
		for i := range n {
			r := lrotest.NewRecord(fmt.Sprintf("projects/p%d/operations/op%07d", i%10, i), lrotest.Epoch.Add(time.Duration(i)*time.Microsecond))
			r.Operation.Metadata = md
			r.Operation.Done = true
			r.Operation.Result = &longrunningpb.Operation_Response{Response: resp}
			r.ExpireTime = lrotest.Epoch.Add(24 * time.Hour)
			if _, _, err := s.Create(context.Background(), r); err != nil {
				return nil, err
			}
		}
		return s, nil
	}))
	s, err := build.(func() (*lro.MemoryStore, error))()
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// benchNoMatch is a filter that matches none of benchScanStore's
// operations and that only Go can evaluate on the memory store.
const benchNoMatch = "error.code = NOT_FOUND"

// BenchmarkListNoMatch lists the first page of a filter that matches
// nothing, at 20,000 and 200,000 operations, with the default scan budget
// and a range of others: ns/op is one ListOperations call.
func BenchmarkListNoMatch(b *testing.B) {
	for _, tc := range []struct {
		ops, budget int
	}{
		{20_000, 0}, {200_000, 0},
		{200_000, 1_000}, {200_000, 2_500}, {200_000, 5_000}, {200_000, 20_000}, {200_000, 50_000},
	} {
		name := fmt.Sprintf("ops=%d/budget=%d", tc.ops, cmp.Or(tc.budget, lro.DefaultListScanBudget))
		b.Run(name, func(b *testing.B) {
			s := benchScanStore(b, tc.ops)
			opts := []lro.Option{lro.WithStore(s), lro.WithClock(lrotest.NewClock(lrotest.Epoch))}
			if tc.budget > 0 {
				opts = append(opts, lro.WithListScanBudget(tc.budget))
			}
			m := benchManager(b, opts...)
			req := &longrunningpb.ListOperationsRequest{Filter: benchNoMatch, PageSize: 50}
			b.ReportAllocs()
			for b.Loop() {
				resp, err := m.ListOperations(context.Background(), req)
				if err != nil || len(resp.GetOperations()) != 0 || resp.GetNextPageToken() == "" {
					b.Fatalf("ListOperations = %d operations, token %q, %v; want none and a token", len(resp.GetOperations()), resp.GetNextPageToken(), err)
				}
			}
		})
	}
}

// BenchmarkCreateGetBesideScans measures Create then Get on a memory store
// of 200,000 operations, alone and beside four clients that keep listing
// with a filter that matches nothing. It reports p50-ns and p99-ns of the
// pair (target p99 ≤ 20 ms beside the scans).
func BenchmarkCreateGetBesideScans(b *testing.B) {
	for _, scanners := range []int{0, 4} {
		b.Run(fmt.Sprintf("scanners=%d", scanners), func(b *testing.B) {
			s := benchScanStore(b, 200_000)
			m := benchManager(b, lro.WithStore(s))
			ctx := context.Background()
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range scanners {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req := &longrunningpb.ListOperationsRequest{Filter: benchNoMatch, PageSize: 50}
					for {
						select {
						case <-stop:
							return
						default:
						}
						if _, err := m.ListOperations(ctx, req); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				t0 := time.Now()
				op, err := m.Create(ctx, lro.WithParent("projects/new"))
				if err == nil {
					_, err = m.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: op.GetName()})
				}
				lat = append(lat, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
			}
			close(stop)
			wg.Wait()
			slices.Sort(lat)
			b.ReportMetric(float64(benchPercentile(lat, 0.5)), "p50-ns")
			b.ReportMetric(float64(benchPercentile(lat, 0.99)), "p99-ns")
		})
	}
}
