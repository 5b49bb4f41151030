package lro_test

// Core benchmarks (see BENCHMARKS.md). Each benchmark measures its baseline
// in the same run, interleaved with the measurement where it can be, and
// reports the ratio as a custom metric, so that a noisy shared machine
// moves both sides together.
//
//	go test -run '^$' -bench . -benchmem
//
// Every helper here is prefixed with "bench" so that it cannot clash with
// the package's other test files.

import (
	"context"
	"fmt"
	"net"
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
	"github.com/lrokit/lro/lrotest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
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

// --- 1. GetOperation over loopback gRPC vs an empty unary method ---------

// benchPingDesc is a hand-written service with two unary methods, the
// baselines for GetOperation. Ping takes and returns google.protobuf.Empty:
// the cheapest call gRPC can make. Static takes a GetOperationRequest and
// returns a fixed Operation (benchStaticOp, the same payload GetOperation
// returns), so GetOperation/Static is the cost of the library alone, without
// that of carrying an operation over the wire.
var benchPingDesc = grpc.ServiceDesc{
	ServiceName: "lrobench.Ping",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Ping", Handler: benchPingHandler},
		{MethodName: "Static", Handler: benchStaticHandler},
	},
	Metadata: "bench_test.go",
}

const (
	benchPingMethod   = "/lrobench.Ping/Ping"
	benchStaticMethod = "/lrobench.Ping/Static"
)

// benchStaticOp is what Static returns; the benchmark sets it to the
// operation GetOperation returns before it calls Static.
var benchStaticOp atomic.Pointer[longrunningpb.Operation]

// benchPingHandler serves Ping.
func benchPingHandler(_ any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
	in := new(emptypb.Empty)
	if err := dec(in); err != nil {
		return nil, err
	}
	h := func(context.Context, any) (any, error) { return &emptypb.Empty{}, nil }
	if icpt == nil {
		return h(ctx, in)
	}
	return icpt(ctx, in, &grpc.UnaryServerInfo{FullMethod: benchPingMethod}, h)
}

// benchStaticHandler serves Static.
func benchStaticHandler(_ any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
	in := new(longrunningpb.GetOperationRequest)
	if err := dec(in); err != nil {
		return nil, err
	}
	h := func(context.Context, any) (any, error) { return benchStaticOp.Load(), nil }
	if icpt == nil {
		return h(ctx, in)
	}
	return icpt(ctx, in, &grpc.UnaryServerInfo{FullMethod: benchStaticMethod}, h)
}

// benchGRPC serves m, the ping service and grpc health on 127.0.0.1:0 and
// returns a client connection to it.
func benchGRPC(b *testing.B, m *lro.Manager) *grpc.ClientConn {
	b.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer()
	longrunningpb.RegisterOperationsServer(srv, m)
	srv.RegisterService(&benchPingDesc, struct{}{})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatalf("grpc.NewClient: %v", err)
	}
	b.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
		<-served
	})
	return conn
}

// BenchmarkGRPCGetOperation compares GetOperation of a done operation with
// an empty unary call (Ping) on the same server and connection, and with a
// call that returns the same operation from memory (Static). "paired"
// makes one call of each kind per iteration, in a rotating order, times each,
// and reports get-ns/op, ping-ns/op, static-ns/op, get/ping (target ≤ 1.2)
// and get/static; the other sub-benchmarks time one kind of call alone, for
// allocations.
func BenchmarkGRPCGetOperation(b *testing.B) {
	setup := func(b *testing.B) (*grpc.ClientConn, longrunningpb.OperationsClient, *longrunningpb.GetOperationRequest) {
		ctx := context.Background()
		m := benchManager(b)
		name := benchDoneOperation(b, ctx, m)
		conn := benchGRPC(b, m)
		client := longrunningpb.NewOperationsClient(conn)
		req := &longrunningpb.GetOperationRequest{Name: name}
		// Warm the connection up (dial, HTTP/2 settings) outside the timer.
		op, err := client.GetOperation(ctx, req)
		if err != nil {
			b.Fatalf("GetOperation: %v", err)
		}
		benchStaticOp.Store(op)
		return conn, client, req
	}
	ping := func(ctx context.Context, conn *grpc.ClientConn) error {
		return conn.Invoke(ctx, benchPingMethod, &emptypb.Empty{}, new(emptypb.Empty))
	}
	static := func(ctx context.Context, conn *grpc.ClientConn, req *longrunningpb.GetOperationRequest) error {
		return conn.Invoke(ctx, benchStaticMethod, req, new(longrunningpb.Operation))
	}

	b.Run("paired", func(b *testing.B) {
		conn, client, req := setup(b)
		ctx := context.Background()
		var spent [3]time.Duration // get, ping, static
		calls := [3]func() error{
			func() error { _, err := client.GetOperation(ctx, req); return err },
			func() error { return ping(ctx, conn) },
			func() error { return static(ctx, conn, req) },
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			// Rotate the order so that no kind always follows another.
			for j := range 3 {
				k := (i + j) % 3
				t0 := time.Now()
				if err := calls[k](); err != nil {
					b.Fatal(err)
				}
				spent[k] += time.Since(t0)
			}
		}
		b.ReportMetric(float64(spent[0])/float64(b.N), "get-ns/op")
		b.ReportMetric(float64(spent[1])/float64(b.N), "ping-ns/op")
		b.ReportMetric(float64(spent[2])/float64(b.N), "static-ns/op")
		b.ReportMetric(float64(spent[0])/float64(spent[1]), "get/ping")
		b.ReportMetric(float64(spent[0])/float64(spent[2]), "get/static")
	})
	b.Run("ping", func(b *testing.B) {
		conn, _, _ := setup(b)
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := ping(ctx, conn); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("health", func(b *testing.B) {
		conn, _, _ := setup(b)
		ctx := context.Background()
		hc := healthpb.NewHealthClient(conn)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("static", func(b *testing.B) {
		conn, _, req := setup(b)
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := static(ctx, conn, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get", func(b *testing.B) {
		_, client, req := setup(b)
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := client.GetOperation(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get-inprocess", func(b *testing.B) {
		ctx := context.Background()
		m := benchManager(b)
		req := &longrunningpb.GetOperationRequest{Name: benchDoneOperation(b, ctx, m)}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := m.GetOperation(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
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
