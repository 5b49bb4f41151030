package lro_test

// Core benchmarks (see BENCHMARKS.md). Each benchmark measures its baseline
// in the same run, interleaved with the measurement where it can be, and
// reports the ratio as a custom metric, so that a noisy shared machine
// moves both sides together.
//
//	go test -run '^$' -bench . -benchmem
//
// Every helper here is prefixed with "bench" so that it cannot clash with
// the package's other test files. This file holds the shared helpers and
// benchmarks 2 (wake-up) and 3 (throughput); bench_grpc_test.go holds 1
// (GetOperation over gRPC), bench_list_test.go 4 (List) and 5 (memory).

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// benchMetadata and benchResponse are the payloads of the operations the
// benchmarks make: small, like the progress metadata and result of a
// typical export.
func benchMetadata() proto.Message {
	return &wrapperspb.StringValue{Value: "exporting projects/acme/datasets/sales to gs://acme-exports/2026-11"}
}

func benchResponse() proto.Message {
	return timestamppb.New(time.Date(2026, 11, 21, 23, 0, 0, 0, time.UTC))
}

// benchManager returns a Manager closed when the benchmark ends.
func benchManager(b *testing.B, opts ...lro.Option) *lro.Manager {
	b.Helper()
	m, err := lro.New(opts...)
	if err != nil {
		b.Fatalf("lro.New: %v", err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			b.Errorf("Close: %v", err)
		}
	})
	return m
}

// benchDoneOperation makes an operation with metadata and completes it.
func benchDoneOperation(b *testing.B, ctx context.Context, m *lro.Manager) string {
	op, err := m.Create(ctx, lro.WithMetadata(benchMetadata()))
	if err != nil {
		b.Fatalf("Create: %v", err)
	}
	if err := m.Complete(ctx, op.GetName(), benchResponse()); err != nil {
		b.Fatalf("Complete: %v", err)
	}
	return op.GetName()
}

// --- 2. Wake-up latency: completion to WaitOperation returning -----------

// benchWaitCap is the Manager's wait cap in the wake-up benchmark. It is a
// duration nothing else in the Manager asks a timer for, so benchClock can
// tell the timer WaitOperation arms just before it blocks.
const benchWaitCap = 17*time.Minute + 3*time.Second

// benchClock is the system clock that reports, on armed, every timer of
// benchWaitCap it makes: WaitOperation arms that timer after it has
// registered its watch and read the operation as not done, right before it
// blocks.
type benchClock struct {
	armed chan struct{}
}

func (c *benchClock) Now() time.Time { return time.Now() }

func (c *benchClock) NewTimer(d time.Duration) lro.Timer {
	t := &benchTimer{t: time.NewTimer(d)}
	if d == benchWaitCap {
		c.armed <- struct{}{}
	}
	return t
}

// benchTimer is a lro.Timer backed by a time.Timer.
type benchTimer struct{ t *time.Timer }

func (t *benchTimer) C() <-chan time.Time { return t.t.C }
func (t *benchTimer) Stop() bool          { return t.t.Stop() }

// benchPercentile returns the p-th percentile (0 < p ≤ 1) of sorted.
func benchPercentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// BenchmarkWaitWakeup measures, in process, the time from calling Complete
// on an operation to a WaitOperation blocked on it returning. Its baseline,
// measured in the same iterations, is the time from closing a channel to a
// goroutine blocked on it running again: the least any wake-up can cost.
// It reports p50-ns and p99-ns (target p99 ≤ 1 ms), base-p50-ns,
// base-p99-ns and p99/base-p99; ns/op is the whole iteration (Create,
// starting both waiters, Complete, both wake-ups).
func BenchmarkWaitWakeup(b *testing.B) {
	clk := &benchClock{armed: make(chan struct{}, 1)}
	m := benchManager(b, lro.WithClock(clk), lro.WithMaxWait(benchWaitCap))
	ctx := context.Background()
	lat := make([]time.Duration, b.N)
	base := make([]time.Duration, b.N)
	type result struct {
		at  time.Time
		err error
	}
	woke := make(chan result, 1)
	ready := make(chan struct{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Baseline: a goroutine blocked on a channel.
		release := make(chan struct{})
		go func() {
			ready <- struct{}{}
			<-release
			woke <- result{at: time.Now()}
		}()
		<-ready
		t0 := time.Now()
		close(release)
		r := <-woke
		base[i] = r.at.Sub(t0)

		op, err := m.Create(ctx)
		if err != nil {
			b.Fatal(err)
		}
		req := &longrunningpb.WaitOperationRequest{Name: op.GetName()}
		go func() {
			got, err := m.WaitOperation(ctx, req)
			at := time.Now()
			if err == nil && !got.GetDone() {
				err = fmt.Errorf("WaitOperation returned before the operation was done")
			}
			woke <- result{at, err}
		}()
		<-clk.armed
		t0 = time.Now()
		if err := m.Complete(ctx, op.GetName(), nil); err != nil {
			b.Fatal(err)
		}
		r = <-woke
		if r.err != nil {
			b.Fatal(r.err)
		}
		lat[i] = r.at.Sub(t0)
	}
	b.StopTimer()
	slices.Sort(lat)
	slices.Sort(base)
	p99, base99 := benchPercentile(lat, 0.99), benchPercentile(base, 0.99)
	b.ReportMetric(float64(benchPercentile(lat, 0.50)), "p50-ns")
	b.ReportMetric(float64(p99), "p99-ns")
	b.ReportMetric(float64(benchPercentile(base, 0.50)), "base-p50-ns")
	b.ReportMetric(float64(base99), "base-p99-ns")
	if base99 > 0 {
		b.ReportMetric(float64(p99)/float64(base99), "p99/base-p99")
	}
}

// --- 3. Start→done throughput of no-op operations ------------------------

// benchCountStore counts the writes that finish an operation, so the
// benchmark can wait for every operation to be done without reading them.
type benchCountStore struct {
	lro.Store
	done   atomic.Int64
	target int64
	all    chan struct{}
}

func (s *benchCountStore) Update(ctx context.Context, name string, fn func(*lro.Record) error) (*lro.Record, error) {
	r, err := s.Store.Update(ctx, name, fn)
	if err == nil && r.Done() {
		s.count()
	}
	return r, err
}

// Finish passes the Manager's one-step finish through to the memory
// store, so the benchmark measures the path the Manager really takes.
func (s *benchCountStore) Finish(ctx context.Context, p lro.FinishParams) error {
	err := s.Store.(lro.Finisher).Finish(ctx, p)
	if err == nil {
		s.count()
	}
	return err
}

func (s *benchCountStore) count() {
	if s.done.Add(1) == s.target {
		close(s.all)
	}
}

// benchStarters is how many goroutines start operations concurrently.
const benchStarters = 4

// benchFanOut calls item(i) for i in [0, n) from benchStarters goroutines
// and returns when every call has returned.
func benchFanOut(n int, item func(i int64)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range benchStarters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				item(i)
			}
		}()
	}
	wg.Wait()
}

// benchCPUTime returns the CPU time (user and system) the process has used,
// read from /proc/self/stat in clock ticks of 10 ms; ok is false where that
// file does not exist. CPU time per operation hardly moves when other
// processes compete for the cores, unlike wall time.
func benchCPUTime() (d time.Duration, ok bool) {
	raw, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, false
	}
	// The fields after the command name (which may hold spaces) start with
	// the state, the third field; utime and stime are the 14th and 15th.
	i := strings.LastIndexByte(string(raw), ')')
	f := strings.Fields(string(raw[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, true
}

// BenchmarkStartThroughput measures how fast no-op operations go from
// Start to done, with benchStarters concurrent starters, against a baseline
// that starts a bare goroutine per item writing into a mutex-guarded map.
// Each iteration of b.N is one item of each; the two phases run one after
// the other. It reports lro-ops/s, base-ops/s and lro/base (target
// lro-ops/s ≥ 100,000); ns/op is the lro phase alone. Where it can, it
// also reports the CPU time each phase used per item (base-cpu-ns/op,
// lro-cpu-ns/op), which a busy machine distorts less than wall time: two
// cores give 100,000 ops/s when lro-cpu-ns/op is at most 20,000.
func BenchmarkStartThroughput(b *testing.B) {
	ctx := context.Background()
	work := func(context.Context, *lro.Op) (proto.Message, error) { return nil, nil }

	// Baseline.
	runtime.GC()
	var (
		mu   sync.Mutex
		done = make(map[int64]bool)
		wg   sync.WaitGroup
	)
	c0, cpuOK := benchCPUTime()
	t0 := time.Now()
	benchFanOut(b.N, func(i int64) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mu.Lock()
			done[i] = true
			mu.Unlock()
		}()
	})
	wg.Wait()
	base := time.Since(t0)
	c1, _ := benchCPUTime()
	if len(done) != b.N {
		b.Fatalf("baseline did %d items, want %d", len(done), b.N)
	}
	done = nil

	// lro.
	store := &benchCountStore{Store: lro.NewMemoryStore(), target: int64(b.N), all: make(chan struct{})}
	m := benchManager(b, lro.WithStore(store))
	runtime.GC()
	c2, _ := benchCPUTime()
	t0 = time.Now()
	var failed atomic.Pointer[error]
	benchFanOut(b.N, func(int64) {
		if _, err := m.Start(ctx, work); err != nil {
			failed.CompareAndSwap(nil, &err)
		}
	})
	if e := failed.Load(); e != nil {
		b.Fatalf("Start: %v", *e)
	}
	<-store.all
	took := time.Since(t0)
	c3, _ := benchCPUTime()
	b.StopTimer()

	b.ReportMetric(float64(took)/float64(b.N), "ns/op")
	b.ReportMetric(float64(b.N)/took.Seconds(), "lro-ops/s")
	b.ReportMetric(float64(b.N)/base.Seconds(), "base-ops/s")
	b.ReportMetric(base.Seconds()/took.Seconds(), "lro/base")
	if cpuOK {
		b.ReportMetric(float64(c1-c0)/float64(b.N), "base-cpu-ns/op")
		b.ReportMetric(float64(c3-c2)/float64(b.N), "lro-cpu-ns/op")
	}
}
