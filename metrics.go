package lro

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"
)

// The OpenTelemetry metrics a Manager records. docs/OBSERVABILITY.md has
// the table of instruments; WithMeterProvider lists them too. Every
// attribute set is built once per kind, status code or store method, so
// that recording a measurement allocates nothing of its own. The counts
// every operation changes (started, finished, queued) are kept in atomics
// per kind and status code and observed when the provider collects: one
// atomic add per operation instead of a measurement (an attribute-set
// lookup and an exemplar offer) in the SDK.

// instrumentationName is the scope of the Manager's meter and tracer.
const instrumentationName = "github.com/lrokit/lro"

// The attributes of the metrics and spans. None of them holds an
// operation name except lro.operation.name, which only spans carry.
const (
	attrKind          = attribute.Key("lro.kind")
	attrStatusCode    = attribute.Key("lro.status_code")
	attrStore         = attribute.Key("lro.store")
	attrStoreMethod   = attribute.Key("lro.store.method")
	attrAttempt       = attribute.Key("lro.attempt")
	attrOperationName = attribute.Key("lro.operation.name")
)

// durationBuckets are the bounds, in seconds, of lro.operation.duration:
// from a few milliseconds to a day, since operations take anything from
// an instant to hours.
var durationBuckets = []float64{
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
	60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400,
}

// WithMeterProvider sets where the Manager's metrics go; the default is
// the global provider (otel.GetMeterProvider), read once by New. New fails
// if mp is nil or refuses one of the instruments. The instruments, all
// with the scope "github.com/lrokit/lro" (docs/OBSERVABILITY.md has the
// full table):
//
//	lro.operations.started   Counter        {operation} lro.kind (observed)
//	lro.operations.finished  Counter        {operation} lro.kind, lro.status_code (observed)
//	lro.operation.duration   Histogram      s           lro.kind, lro.status_code
//	lro.operations.running   UpDownCounter  {operation} lro.kind (observed)
//	lro.operations.queued    UpDownCounter  {operation} lro.kind (observed)
//	lro.waiters              UpDownCounter  {waiter}    lro.kind
//	lro.list.rows_scanned    Counter        {row}       lro.store
//	lro.store.errors         Counter        {error}     lro.store, lro.store.method
//	lro.lease.takeovers      Counter        {operation} lro.kind
//	lro.retries              Counter        {retry}     lro.kind, lro.status_code
//
// lro.kind is the registered kind ("" for Start and Create), lro.status_code
// the canonical name of the final code ("OK", "DEADLINE_EXCEEDED"), and
// lro.store the store's name (StoreNamer). No metric carries an operation
// name. The observed counters carry no exemplars; the histogram's
// measurements, made in the run span's context, can.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) error {
		if mp == nil {
			return fmt.Errorf("lro: WithMeterProvider: nil provider")
		}
		c.meterProvider = mp
		return nil
	}
}

// StoreNamer is an optional interface of a Store: StoreName names the
// backend in the lro.store attribute of metrics, for example "memory" or
// "postgres". A Store without it is named after its Go type.
type StoreNamer interface {
	StoreName() string
}

// StoreName returns "memory"; it never fails.
func (s *MemoryStore) StoreName() string { return "memory" }

// storeName names s for the lro.store attribute.
func storeName(s Store) string {
	if n, ok := s.(StoreNamer); ok {
		return n.StoreName()
	}
	return strings.TrimLeft(fmt.Sprintf("%T", s), "*")
}

// The Store methods named by the lro.store.method attribute.
const (
	storeCreate             = "Create"
	storeGet                = "Get"
	storeUpdate             = "Update"
	storeFinish             = "Finish"
	storeDelete             = "Delete"
	storeList               = "List"
	storeDeleteExpired      = "DeleteExpired"
	storeRenewLeases        = "RenewLeases"
	storeClaimExpired       = "ClaimExpired"
	storeListCancelRequests = "ListCancelRequests"
	storeTokenSecret        = "TokenSecret"
)

var storeMethods = []string{
	storeCreate, storeGet, storeUpdate, storeFinish, storeDelete, storeList,
	storeDeleteExpired, storeRenewLeases, storeClaimExpired,
	storeListCancelRequests, storeTokenSecret,
}

// observer records a Manager's metrics and spans. A nil observer records
// nothing: it is the uninstrumented baseline of the benchmarks.
type observer struct {
	started     metric.Int64ObservableCounter // observed from kindAttrs.started
	finished    metric.Int64ObservableCounter // observed from codeAttrs.finished
	duration    metric.Float64Histogram
	running     metric.Int64ObservableUpDownCounter
	queued      metric.Int64ObservableUpDownCounter // observed from kindAttrs.queued
	waiters     metric.Int64UpDownCounter
	rowsScanned metric.Int64Counter
	storeErrors metric.Int64Counter
	takeovers   metric.Int64Counter
	retries     metric.Int64Counter

	tracer trace.Tracer // nil when spans are off (a no-op TracerProvider)
	ends   *spanEnds    // ends the sampled spans of runs (spanend.go)
	meter  metric.Meter
	reg    metric.Registration // of the callback observing running work; nil before observeRunning
	// The callback observing the counts is never unregistered: the counts
	// are cumulative and stay reported after Close. It holds the observer,
	// not the Manager.

	storeAttrs  []metric.AddOption            // {lro.store}
	methodAttrs map[string][]metric.AddOption // {lro.store, lro.store.method}, by method
	store       string

	noKind *kindAttrs // kind "", the common case, without a map lookup
	mu     sync.RWMutex
	kinds  map[string]*kindAttrs // guarded by mu
}

// numCodes is how many canonical gRPC codes there are (OK to
// UNAUTHENTICATED); other codes are counted as UNKNOWN.
const numCodes = int(codes.Unauthenticated) + 1

// kindAttrs holds the attribute sets of one kind, built once, and the
// counts of its operations that the provider observes.
type kindAttrs struct {
	spanName string
	kind     attribute.KeyValue     // lro.kind, for the span
	one      []metric.AddOption     // {lro.kind}
	observe  []metric.ObserveOption // the same, for observations
	byCode   [numCodes]codeAttrs

	started atomic.Int64 // lro.operations.started
	queued  atomic.Int64 // lro.operations.queued, reported once queuedSeen
	// queuedSeen makes the queued count reported, zero included, from
	// the first work of the kind that queued.
	queuedSeen atomic.Bool
}

// codeAttrs holds the attribute sets of one kind and final code, and the
// count of its operations that ended with that code.
type codeAttrs struct {
	add      []metric.AddOption     // {lro.kind, lro.status_code}
	record   []metric.RecordOption  // the same, for the histogram
	observe  []metric.ObserveOption // the same, for lro.operations.finished
	finished atomic.Int64           // lro.operations.finished
}

// codeIndex maps c to its slot in kindAttrs.byCode.
func codeIndex(c codes.Code) int {
	if int(c) < 0 || int(c) >= numCodes {
		return int(codes.Unknown)
	}
	return int(c)
}

// codeName is the canonical name of c ("DEADLINE_EXCEEDED"), UNKNOWN for
// a code outside the canonical ones.
func codeName(c codes.Code) string {
	return code.Code(codeIndex(c)).String()
}

// newKindAttrs builds the attribute sets and span options of kind.
func newKindAttrs(kind string) *kindAttrs {
	k := &kindAttrs{spanName: "lro.run", kind: attrKind.String(kind)}
	if kind != "" {
		k.spanName = "lro.run " + kind
	}
	one := metric.WithAttributeSet(attribute.NewSet(attrKind.String(kind)))
	k.one, k.observe = []metric.AddOption{one}, []metric.ObserveOption{one}
	for i := range k.byCode {
		set := metric.WithAttributeSet(attribute.NewSet(attrKind.String(kind), attrStatusCode.String(codeName(codes.Code(i)))))
		c := &k.byCode[i]
		c.add, c.record, c.observe = []metric.AddOption{set}, []metric.RecordOption{set}, []metric.ObserveOption{set}
	}
	return k
}

// observer returns the observer of a Manager configured by c: nil when
// telemetry is off (withoutTelemetry), else newObserver's.
func (c *config) observer() (*observer, error) {
	if c.noTelemetry {
		return nil, nil
	}
	return newObserver(c.meterProvider, c.tracerProvider, storeName(c.store))
}

// withoutTelemetry makes a Manager that records no metrics and no spans:
// its hooks are not called at all. Only the benchmarks use it, as the
// uninstrumented baseline.
func withoutTelemetry() Option {
	return func(c *config) error { c.noTelemetry = true; return nil }
}

// newObserver makes the instruments of mp and the tracer of tp (the
// global providers when nil) for a Manager whose store is named store.
// It fails if the provider refuses an instrument.
func newObserver(mp metric.MeterProvider, tp trace.TracerProvider, store string) (*observer, error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	meter := mp.Meter(instrumentationName)
	o := &observer{
		meter:       meter,
		tracer:      newTracer(tp),
		ends:        newSpanEnds(spanEndWait),
		store:       store,
		storeAttrs:  []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attrStore.String(store)))},
		methodAttrs: make(map[string][]metric.AddOption, len(storeMethods)),
		noKind:      newKindAttrs(""),
		kinds:       make(map[string]*kindAttrs),
	}
	for _, method := range storeMethods {
		o.methodAttrs[method] = methodAttrs(store, method)
	}
	var errs []error
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := meter.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	upDown := func(name, unit, desc string) metric.Int64UpDownCounter {
		c, err := meter.Int64UpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	observed := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := meter.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	observedUpDown := func(name, unit, desc string) metric.Int64ObservableUpDownCounter {
		c, err := meter.Int64ObservableUpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	o.started = observed("lro.operations.started", "{operation}", "Operations created by Start, StartKind or Create.")
	o.finished = observed("lro.operations.finished", "{operation}", "Operations that ended, by kind and final status code.")
	o.running = observedUpDown("lro.operations.running", "{operation}", "Work this Manager runs, from its start until its end is recorded.")
	o.queued = observedUpDown("lro.operations.queued", "{operation}", "Work waiting in this Manager for a free slot.")
	o.waiters = upDown("lro.waiters", "{waiter}", "WaitOperation calls blocked until their operation is done.")
	o.rowsScanned = counter("lro.list.rows_scanned", "{row}", "Records ListOperations read from the store.")
	o.storeErrors = counter("lro.store.errors", "{error}", "Store calls that failed, by store method.")
	o.takeovers = counter("lro.lease.takeovers", "{operation}", "Operations taken over from a replica whose lease lapsed.")
	o.retries = counter("lro.retries", "{retry}", "Runs of registered work scheduled again after a retryable error.")
	var err error
	o.duration, err = meter.Float64Histogram("lro.operation.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Time from an operation's creation to its end."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("lro: creating the metric instruments: %w", err)
	}
	if _, err := meter.RegisterCallback(o.observeCounts, o.started, o.finished, o.queued); err != nil {
		return nil, fmt.Errorf("lro: observing the operation counts: %w", err)
	}
	return o, nil
}

// observeCounts reports the counts kept by kind and code: started and
// finished where not zero (a counter's series appears with its first
// count, as a synchronous one's would), queued from the first work of
// the kind that queued.
func (o *observer) observeCounts(_ context.Context, obs metric.Observer) error {
	o.observeKind(obs, o.noKind)
	o.mu.RLock()
	defer o.mu.RUnlock()
	for _, k := range o.kinds {
		o.observeKind(obs, k)
	}
	return nil
}

// observeKind reports the counts of one kind (see observeCounts).
func (o *observer) observeKind(obs metric.Observer, k *kindAttrs) {
	if n := k.started.Load(); n != 0 {
		obs.ObserveInt64(o.started, n, k.observe...)
	}
	for i := range k.byCode {
		c := &k.byCode[i]
		if n := c.finished.Load(); n != 0 {
			obs.ObserveInt64(o.finished, n, c.observe...)
		}
	}
	if k.queuedSeen.Load() {
		obs.ObserveInt64(o.queued, k.queued.Load(), k.observe...)
	}
}

// methodAttrs is the attribute set of a failure of the store's method.
func methodAttrs(store, method string) []metric.AddOption {
	return []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attrStore.String(store), attrStoreMethod.String(method)))}
}

// observeRunning makes the provider observe lro.operations.running with
// count, which returns how much work runs here, by kind. It fails if the
// provider refuses the callback. close undoes it.
func (o *observer) observeRunning(count func() map[string]int64) error {
	if o == nil {
		return nil
	}
	reg, err := o.meter.RegisterCallback(func(_ context.Context, obs metric.Observer) error {
		for kind, n := range count() {
			obs.ObserveInt64(o.running, n, o.attrs(kind).observe...)
		}
		return nil
	}, o.running)
	if err != nil {
		return fmt.Errorf("lro: observing running work: %w", err)
	}
	o.reg = reg
	return nil
}

// close stops observing running work, so that the provider lets go of
// the closed Manager.
func (o *observer) close() {
	if o == nil {
		return
	}
	o.ends.close()
	if o.reg == nil {
		return
	}
	if err := o.reg.Unregister(); err != nil {
		otel.Handle(fmt.Errorf("lro: no longer observing running work: %w", err))
	}
}

// runningByKind counts the work running here by kind, with a zero for
// the kind of Start ("") and every registered kind, for
// lro.operations.running.
func (m *Manager) runningByKind() map[string]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := make(map[string]int64, len(m.kinds)+1)
	n[""] = 0
	for kind := range m.kinds {
		n[kind] = 0
	}
	for _, t := range m.running {
		n[t.kind]++
	}
	return n
}

// attrs returns the attribute sets of kind.
func (o *observer) attrs(kind string) *kindAttrs {
	if kind == "" {
		return o.noKind
	}
	o.mu.RLock()
	k := o.kinds[kind]
	o.mu.RUnlock()
	if k != nil {
		return k
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if k = o.kinds[kind]; k == nil {
		k = newKindAttrs(kind)
		o.kinds[kind] = k
	}
	return k
}

// operationStarted counts an operation made by Start, StartKind or Create.
// The context is not used: an observed count has no exemplars.
func (o *observer) operationStarted(_ context.Context, kind string) {
	if o == nil {
		return
	}
	o.attrs(kind).started.Add(1)
}

// operationFinished counts an operation of kind that ended with c, d after
// it was created.
func (o *observer) operationFinished(ctx context.Context, k *kindAttrs, c codes.Code, d time.Duration) {
	a := &k.byCode[codeIndex(c)]
	a.finished.Add(1)
	o.duration.Record(live(ctx), d.Seconds(), a.record...)
}

// ended counts r as finished when err is nil and r is done: r and err
// are what a Store.Update that may have ended the operation returned,
// outside a run of work (Complete, Fail, cancelling a Create operation,
// giving up an orphan).
func (o *observer) ended(ctx context.Context, r *Record, err error) {
	if o == nil || err != nil || !r.Done() {
		return
	}
	o.operationFinished(ctx, o.attrs(r.Kind), finalCode(r.Operation), r.UpdateTime.Sub(r.CreateTime))
}

// enqueued counts work of kind that waits for a free slot in this
// Manager's local queue (WithMaxRunning); dequeued, work that leaves the
// queue (to run or not). The context is not used: an observed count has
// no exemplars.
func (o *observer) enqueued(_ context.Context, kind string) {
	if o == nil {
		return
	}
	k := o.attrs(kind)
	k.queued.Add(1)
	if !k.queuedSeen.Load() {
		k.queuedSeen.Store(true)
	}
}

func (o *observer) dequeued(_ context.Context, kind string) {
	if o == nil {
		return
	}
	o.attrs(kind).queued.Add(-1)
}

// waitBegin counts a WaitOperation that blocks on an operation of kind;
// waitEnd, one that stops blocking.
func (o *observer) waitBegin(ctx context.Context, kind string) {
	if o == nil {
		return
	}
	o.waiters.Add(live(ctx), 1, o.attrs(kind).one...)
}

func (o *observer) waitEnd(ctx context.Context, kind string) {
	if o == nil {
		return
	}
	o.waiters.Add(live(ctx), -1, o.attrs(kind).one...)
}

// listScanned counts n records a List read from the store.
func (o *observer) listScanned(ctx context.Context, n int) {
	if o == nil || n == 0 {
		return
	}
	o.rowsScanned.Add(live(ctx), int64(n), o.storeAttrs...)
}

// storeError counts err if it is a failure of the store's method: not a
// missing record, a refused write or a decision of the Manager's own
// update function, and not the caller going away.
func (o *observer) storeError(ctx context.Context, method string, err error) {
	if o == nil || !isStoreFailure(err) {
		return
	}
	attrs, ok := o.methodAttrs[method]
	if !ok {
		attrs = methodAttrs(o.store, method)
	}
	o.storeErrors.Add(live(ctx), 1, attrs...)
}

// isStoreFailure reports whether err, from a Store call, is a failure of
// the store: one that storeError turns into UNAVAILABLE, other than the
// Manager's own signals.
func isStoreFailure(err error) bool {
	if err == nil || errors.Is(err, errNoChange) || errors.Is(err, ErrLeaseLost) || errors.Is(err, ErrNotOwner) {
		return false
	}
	return storeErrorCode(err) == codes.Unavailable
}

// takeover counts an operation of kind taken over from a replica whose
// lease lapsed, whether it runs again here or is given up.
func (o *observer) takeover(ctx context.Context, kind string) {
	if o == nil {
		return
	}
	o.takeovers.Add(live(ctx), 1, o.attrs(kind).one...)
}

// finalCode is the code a done operation ended with: OK for a response.
func finalCode(op *longrunningpb.Operation) codes.Code {
	return codes.Code(op.GetError().GetCode())
}

// live returns ctx, or context.Background() for a nil ctx (which a caller
// may pass in process), so that a measurement never panics on it.
func live(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}
