package lro_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/go-cmp/cmp"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestWaitersAndExternalEnds: a blocked WaitOperation is counted while it
// blocks, and operations made by Create count as finished when Complete,
// Fail or Cancel ends them.
func TestWaitersAndExternalEnds(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	h := newOTelHarness(t, lro.WithClock(clk))
	ctx := context.Background()
	done, _ := h.m.Create(ctx)
	failed, _ := h.m.Create(ctx)
	cancelled, _ := h.m.Create(ctx)

	waited := make(chan error, 1)
	go func() {
		_, err := h.m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: done.GetName()})
		waited <- err
	}()
	clk.WaitForTimers(3, nil) // the sweep, the lease loop and the waiter's cap
	checkInts(t, h.collect(t), "lro.waiters", map[string]int64{kindAttr(""): 1})

	clk.Advance(2 * time.Second)
	if err := h.m.Complete(ctx, done.GetName(), nil); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	checkInts(t, h.collect(t), "lro.waiters", map[string]int64{kindAttr(""): 0})

	clk.Advance(2 * time.Second)
	if err := h.m.Fail(ctx, failed.GetName(), status.Error(codes.PermissionDenied, "no")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: cancelled.GetName()}); err != nil {
		t.Fatal(err)
	}
	// Neither a refused Complete nor a second Cancel ends anything again.
	if err := h.m.Complete(ctx, cancelled.GetName(), nil); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("Complete after Cancel: %v", err)
	}
	if _, err := h.m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: cancelled.GetName()}); err != nil {
		t.Fatal(err)
	}
	ms := h.collect(t)
	checkInts(t, ms, "lro.operations.started", map[string]int64{kindAttr(""): 3})
	checkInts(t, ms, "lro.operations.finished", map[string]int64{
		kindCode("", "OK"):                1,
		kindCode("", "PERMISSION_DENIED"): 1,
		kindCode("", "CANCELLED"):         1,
	})
	want := map[string][2]float64{
		kindCode("", "OK"):                {1, 2},
		kindCode("", "PERMISSION_DENIED"): {1, 4},
		kindCode("", "CANCELLED"):         {1, 4},
	}
	if diff := cmp.Diff(want, histogram(t, ms, "lro.operation.duration")); diff != "" {
		t.Errorf("lro.operation.duration [count, sum] (-want +got):\n%s", diff)
	}
	if spans := h.spans.Ended(); len(spans) != 0 {
		t.Errorf("operations nothing here runs have spans: %v", spanNames(spans))
	}
}

// flakyStore fails every call with errDisk while broken is set.
type flakyStore struct {
	lro.Store
	broken bool
}

var errDisk = errors.New("disk on fire")

func (s *flakyStore) StoreName() string { return "flaky" }

func (s *flakyStore) Get(ctx context.Context, name string) (*lro.Record, error) {
	if s.broken {
		return nil, errDisk
	}
	return s.Store.Get(ctx, name)
}

func (s *flakyStore) Update(ctx context.Context, name string, fn func(*lro.Record) error) (*lro.Record, error) {
	if s.broken {
		return nil, errDisk
	}
	return s.Store.Update(ctx, name, fn)
}

func (s *flakyStore) List(ctx context.Context, q lro.ListQuery) (lro.ListResult, error) {
	if s.broken {
		return lro.ListResult{}, errDisk
	}
	return s.Store.List(ctx, q)
}

// TestStoreErrorsAndRowsScanned: failures of the store are counted by
// method under the store's name; missing records and refused updates are
// not failures. List counts the records it read.
func TestStoreErrorsAndRowsScanned(t *testing.T) {
	store := &flakyStore{Store: lro.NewMemoryStore()}
	clk := lrotest.NewClock(epoch) // no background store calls
	h := newOTelHarness(t, lro.WithStore(store), lro.WithClock(clk))
	ctx := context.Background()
	var names []string
	for range 3 {
		op, _ := h.m.Create(ctx)
		names = append(names, op.GetName())
	}
	if _, err := h.m.ListOperations(ctx, &longrunningpb.ListOperationsRequest{}); err != nil {
		t.Fatal(err)
	}
	// Not failures of the store: an unknown name, a refused update.
	_, err := h.m.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: "operations/nosuchthing"})
	wantCode(t, err, codes.NotFound)
	if err := h.m.Complete(ctx, names[0], nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, h.m.Complete(ctx, names[0], nil), codes.FailedPrecondition)

	store.broken = true
	_, err = h.m.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: names[1]})
	wantCode(t, err, codes.Unavailable)
	_, err = h.m.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: names[1]})
	wantCode(t, err, codes.Unavailable)
	wantCode(t, h.m.SetMetadata(ctx, names[1], wrapperspb.Int32(1)), codes.Unavailable)
	_, err = h.m.ListOperations(ctx, &longrunningpb.ListOperationsRequest{})
	wantCode(t, err, codes.Unavailable)
	store.broken = false

	ms := h.collect(t)
	method := func(m string) string {
		return attrs(attribute.String("lro.store", "flaky"), attribute.String("lro.store.method", m))
	}
	checkInts(t, ms, "lro.store.errors", map[string]int64{method("Get"): 2, method("Update"): 1, method("List"): 1})
	checkInts(t, ms, "lro.list.rows_scanned", map[string]int64{attrs(attribute.String("lro.store", "flaky")): 3})
}

// TestTakeoversAreCounted: operations taken over from a dead replica are
// counted by kind, whether they run again here (with a span of attempt 2
// and no link: no request started this run) or are given up.
func TestTakeoversAreCounted(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	store := lro.NewMemoryStore()
	h := newOTelHarness(t, lro.WithStore(store), lro.WithClock(clk), lro.WithOwner("survivor"))
	if err := lro.Register(h.m, "export", exportHandler); err != nil {
		t.Fatal(err)
	}
	orphan(t, store, "operations/kind", "export", wrapperspb.String("books"), false)
	orphan(t, store, "operations/func", "", nil, false)
	rounds := make(chan struct{}, 10)
	lro.SetAfterMaintain(h.m, func() { rounds <- struct{}{} })
	clk.WaitForTimers(2, nil)
	clk.Advance(lro.DefaultLease / 3)
	<-rounds
	h.close(t)

	ms := h.collect(t)
	checkInts(t, ms, "lro.lease.takeovers", map[string]int64{kindAttr("export"): 1, kindAttr(""): 1})
	checkInts(t, ms, "lro.operations.finished", map[string]int64{kindCode("export", "OK"): 1, kindCode("", "UNAVAILABLE"): 1})
	checkInts(t, ms, "lro.operations.started", map[string]int64{})
	// The orphans were made an hour before the epoch.
	age := (time.Hour + lro.DefaultLease/3).Seconds()
	want := map[string][2]float64{kindCode("export", "OK"): {1, age}, kindCode("", "UNAVAILABLE"): {1, age}}
	if diff := cmp.Diff(want, histogram(t, ms, "lro.operation.duration")); diff != "" {
		t.Errorf("lro.operation.duration [count, sum] (-want +got):\n%s", diff)
	}
	run := h.spanNamed(t, "lro.run export")
	if got := spanAttrs(run)["lro.attempt"].AsInt64(); got != 2 {
		t.Errorf("run span of the resumed operation: attempt %d, want 2", got)
	}
	if len(run.Links()) != 0 {
		t.Errorf("run span of a resumed operation links to %v, want no link", run.Links())
	}
}

// TestResultDroppedIsNotCounted: work whose operation another replica took
// over ends its span with lro.result_dropped, and is not counted as
// finished here, whichever way the Manager writes the end.
func TestResultDroppedIsNotCounted(t *testing.T) {
	for _, p := range finishPaths {
		t.Run(p.name, func(t *testing.T) {
			store := p.store()
			h := newOTelHarness(t, lro.WithStore(store), lro.WithOwner("a"))
			ctx := context.Background()
			takenOver := make(chan struct{})
			op, _ := h.m.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
				<-takenOver
				return nil, nil
			})
			ok, _ := h.m.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) { return nil, nil })
			if _, err := store.Update(ctx, op.GetName(), func(r *lro.Record) error { r.Owner = "b"; return nil }); err != nil {
				t.Fatal(err)
			}
			close(takenOver)
			h.close(t)
			ms := h.collect(t)
			checkInts(t, ms, "lro.operations.started", map[string]int64{kindAttr(""): 2})
			checkInts(t, ms, "lro.operations.finished", map[string]int64{kindCode("", "OK"): 1})
			var dropped, recorded int
			for _, s := range h.spans.Ended() {
				name := spanAttrs(s)["lro.operation.name"].AsString()
				switch events := eventNames(s); {
				case name == op.GetName() && cmp.Equal(events, []string{"lro.result_dropped"}):
					dropped++
				case name == ok.GetName() && len(events) == 0:
					recorded++
				default:
					t.Errorf("span %q of %s: events %v", s.Name(), name, events)
				}
			}
			if dropped != 1 || recorded != 1 {
				t.Errorf("%d spans with the result dropped, %d without; want 1 and 1", dropped, recorded)
			}
		})
	}
}

func TestTelemetryOptions(t *testing.T) {
	if _, err := lro.New(lro.WithMeterProvider(nil)); err == nil {
		t.Error("WithMeterProvider(nil): want an error")
	}
	if _, err := lro.New(lro.WithTracerProvider(nil)); err == nil {
		t.Error("WithTracerProvider(nil): want an error")
	}
}

// TestGlobalProvidersByDefault: without options, the Manager records
// through the global providers.
func TestGlobalProvidersByDefault(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	prevMP, prevTP := otel.GetMeterProvider(), otel.GetTracerProvider()
	otel.SetMeterProvider(mp)
	otel.SetTracerProvider(tp)
	t.Cleanup(func() {
		otel.SetMeterProvider(prevMP)
		otel.SetTracerProvider(prevTP)
		_ = mp.Shutdown(context.Background())
		_ = tp.Shutdown(context.Background())
	})
	h := &otelHarness{m: newManager(t), reader: reader, spans: spans, tp: tp}
	// Managers that other tests made with the global providers, closed
	// or not, report their counts (cumulative, observed) to the SDK just
	// installed too: this Manager's share is what its one run adds.
	before := ints(t, h.collect(t), "lro.operations.finished")[kindCode("", "OK")]
	if _, err := h.m.Start(context.Background(), func(context.Context, *lro.Op) (proto.Message, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	h.close(t)
	if got := ints(t, h.collect(t), "lro.operations.finished")[kindCode("", "OK")] - before; got != 1 {
		t.Errorf("lro.operations.finished{OK} went up by %d through the global provider, want 1", got)
	}
	h.spanNamed(t, "lro.run")
}

// TestRootImportsOnlyTheOTelAPI: the root package depends on the
// OpenTelemetry API, never on its SDK, nor on a database driver.
func TestRootImportsOnlyTheOTelAPI(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	api := false
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "go.opentelemetry.io/otel/sdk") || strings.HasPrefix(p, "github.com/jackc/") {
			t.Errorf("the root package depends on %s", p)
		}
		api = api || p == "go.opentelemetry.io/otel/metric"
	}
	if !api {
		t.Error("the root package does not use go.opentelemetry.io/otel/metric")
	}
}
