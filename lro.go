// Package lro gives a gRPC service Google-style long-running operations
// (google.longrunning.Operations, AIP-151).
//
// A host creates a Manager, registers it as its Operations server, and calls
// Start from its API handlers:
//
//	m, err := lro.New()
//	longrunningpb.RegisterOperationsServer(grpcServer, m)
//	op, err := m.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
//		return &pb.ExportResponse{}, nil
//	})
//
// Clients then get, list, wait on, cancel and delete operations with any
// standard client. Operations live in a Store: in memory by default, or in
// PostgreSQL (package pgstore) so that several replicas share them.
package lro

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/cenkalti/backoff/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
)

// WorkFunc is the work behind an operation. It runs in its own goroutine
// with a context that outlives the request that started it and is
// cancelled by CancelOperation and by Close. Its response becomes the
// operation's response; its error, the operation's error (see ErrorMapper).
type WorkFunc func(ctx context.Context, op *Op) (proto.Message, error)

// Manager runs and keeps long-running operations and serves the
// google.longrunning.Operations service. It is safe for concurrent use.
type Manager struct {
	longrunningpb.UnimplementedOperationsServer

	cfg   config
	store Store
	clock Clock
	log   *slog.Logger

	mu       sync.Mutex
	closed   bool
	running  map[string]*task
	kinds    map[string]kindHandler
	tokenKey []byte

	closing chan struct{} // closed when Close starts
	stopBG  chan struct{} // closed when the work has ended, to stop the loops
	// abandonCtx ends when Close's context does: finishing stops retrying.
	abandonCtx    context.Context
	abandonCancel context.CancelFunc
	work          sync.WaitGroup
	bg            sync.WaitGroup

	// Goroutines are reused between operations: starting one and growing
	// its stack costs more than the rest of a short operation.
	idle        chan func()   // parked workers receive here
	parked      atomic.Int32  // how many workers are parked
	stopWorkers chan struct{} // closed by Close once the work has ended
	workers     sync.WaitGroup

	// Test hooks, nil outside tests.
	afterSweep    func(n int)
	afterMaintain func()
}

// task is work running in this Manager.
type task struct {
	name      string
	ctx       context.Context
	cancel    context.CancelCauseFunc
	stopWatch func()
}

var (
	errCancelled = errors.New("operation cancelled")
	errClosing   = errors.New("operations manager closing")
)

// New returns a Manager configured by opts. Call Close when done with it.
func New(opts ...Option) (*Manager, error) {
	c := config{
		retention:   DefaultRetention,
		maxWait:     DefaultMaxWait,
		pageSize:    DefaultPageSize,
		maxPageSize: MaxPageSize,
		lease:       DefaultLease,
		sweepPeriod: defaultSweepPeriod,
	}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if c.store == nil {
		c.store = NewMemoryStore()
	}
	if c.clock == nil {
		c.clock = systemClock{}
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if c.resolver == nil {
		c.resolver = protoregistry.GlobalTypes
	}
	if c.owner == "" {
		c.owner = "lro-" + newID()
	}
	m := &Manager{
		cfg:      c,
		store:    c.store,
		clock:    c.clock,
		log:      c.logger,
		running:  make(map[string]*task),
		kinds:    make(map[string]kindHandler),
		tokenKey: c.tokenKey,
		closing:  make(chan struct{}),
		stopBG:   make(chan struct{}),

		idle:        make(chan func()),
		stopWorkers: make(chan struct{}),
	}
	m.abandonCtx, m.abandonCancel = context.WithCancel(context.Background())
	m.bg.Add(2)
	go m.sweepLoop()
	go m.leaseLoop()
	return m, nil
}

// now is the Manager's time, truncated to microseconds so that every store
// keeps it exactly.
func (m *Manager) now() time.Time {
	return m.clock.Now().UTC().Truncate(time.Microsecond)
}

// Op is the handle work uses to learn about and update its operation.
type Op struct {
	m       *Manager
	name    string
	attempt int32

	mu sync.Mutex // serialises SetMetadata, so md is what the store holds
	md *anypb.Any // the metadata last written
}

// metadata returns the metadata the work last wrote.
func (o *Op) metadata() *anypb.Any {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.md
}

// Name returns the operation's name.
func (o *Op) Name() string { return o.name }

// Attempt returns which run of the operation this is, starting at 1. Only
// registered work (StartKind) is ever run more than once.
func (o *Op) Attempt() int { return int(o.attempt) }

// SetMetadata replaces the operation's metadata, for example to publish
// progress; the next Get shows it. It fails with NOT_FOUND once the
// operation was deleted, and with FAILED_PRECONDITION once this replica no
// longer owns it.
func (o *Op) SetMetadata(ctx context.Context, md proto.Message) error {
	a, err := packAny(md)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	_, err = o.m.store.Update(ctx, o.name, func(r *Record) error {
		if r.Owner != o.m.cfg.owner {
			return status.Errorf(codes.FailedPrecondition, "operation %q: this replica no longer owns it", o.name)
		}
		if r.Done() {
			return status.Errorf(codes.FailedPrecondition, "operation %q is done", o.name)
		}
		r.Operation.Metadata = a
		r.UpdateTime = o.m.now()
		return nil
	})
	if err != nil {
		return storeError(err, o.name)
	}
	o.md = a
	return nil
}

func packAny(msg proto.Message) (*anypb.Any, error) {
	if msg == nil {
		return nil, nil
	}
	if a, ok := msg.(*anypb.Any); ok {
		return proto.Clone(a).(*anypb.Any), nil
	}
	a, err := anypb.New(msg)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "packing %T: %v", msg, err)
	}
	return a, nil
}

// Start records a new operation, runs work in its own goroutine and returns
// the operation (not done) at once. See StartOption for naming and
// idempotency. After Close it fails with UNAVAILABLE.
func (m *Manager) Start(ctx context.Context, work WorkFunc, opts ...StartOption) (*longrunningpb.Operation, error) {
	if work == nil {
		return nil, status.Error(codes.InvalidArgument, "lro: Start: nil work")
	}
	return m.start(ctx, work, "", nil, opts)
}

// Create records a new operation that nothing in this library runs: the
// caller finishes it later with Complete or Fail.
func (m *Manager) Create(ctx context.Context, opts ...StartOption) (*longrunningpb.Operation, error) {
	return m.start(ctx, nil, "", nil, opts)
}

func (m *Manager) start(ctx context.Context, work WorkFunc, kind string, req *anypb.Any, opts []StartOption) (*longrunningpb.Operation, error) {
	var sc startConfig
	for _, o := range opts {
		o(&sc)
	}
	if err := validateParent(sc.parent); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "lro: %v", err)
	}
	md, err := packAny(sc.metadata)
	if err != nil {
		return nil, err
	}
	now := m.now()
	name := operationName(sc.parent, newID())
	rec := &Record{
		Operation:  &longrunningpb.Operation{Name: name, Metadata: md},
		Parent:     sc.parent,
		CreateTime: now,
		UpdateTime: now,
		RequestID:  sc.requestID,
		Kind:       kind,
		Request:    req,
	}
	if work != nil {
		rec.Owner = m.cfg.owner
		rec.LeaseExpireTime = now.Add(m.cfg.lease)
		rec.Attempt = 1
	}

	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, status.Error(codes.Unavailable, "lro: the operations manager is closed")
	}
	var t *task
	if work != nil {
		// Registered before the record exists, so a cancellation from
		// another replica cannot slip in between.
		t = m.newTask(ctx, name)
		m.work.Add(1)
	}
	m.mu.Unlock()

	stored, created, err := m.store.Create(ctx, rec)
	if err != nil || !created {
		if t != nil {
			m.dropTask(t)
			m.work.Done()
		}
		if err != nil {
			return nil, storeError(err, name)
		}
		return stored.Operation, nil
	}
	if t != nil {
		op := &Op{m: m, name: name, attempt: stored.Attempt, md: stored.Operation.GetMetadata()}
		m.spawn(func() { m.run(t, work, op) })
	}
	return stored.Operation, nil
}

// maxParked bounds the workers kept waiting for the next operation.
const maxParked = 128

// spawn runs f on a parked worker, or on a new one if none is free.
func (m *Manager) spawn(f func()) {
	select {
	case m.idle <- f:
		return
	default:
	}
	m.workers.Add(1)
	go m.worker(f)
}

// worker runs f, then parks to run the next function spawned, unless
// enough workers are parked already or the Manager is closed.
func (m *Manager) worker(f func()) {
	defer m.workers.Done()
	for {
		f()
		if m.parked.Add(1) > maxParked {
			m.parked.Add(-1)
			return
		}
		select {
		case f = <-m.idle:
			m.parked.Add(-1)
		case <-m.stopWorkers:
			m.parked.Add(-1)
			return
		}
	}
}

// newTask registers running work and starts watching its record for
// cancellation requests, which may come from another replica. The caller
// holds m.mu.
func (m *Manager) newTask(ctx context.Context, name string) *task {
	wctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	t := &task{name: name, ctx: wctx, cancel: cancel}
	t.stopWatch = m.store.Watch(name, t.onEvent)
	m.running[name] = t
	return t
}

// onEvent cancels the task's work when a cancellation is requested,
// wherever the request came from.
func (t *task) onEvent(ev Event) {
	if ev.CancelRequested {
		t.cancel(errCancelled)
	}
}

func (m *Manager) dropTask(t *task) {
	t.stopWatch()
	m.mu.Lock()
	if m.running[t.name] == t {
		delete(m.running, t.name)
	}
	m.mu.Unlock()
	t.cancel(nil)
}

// run executes work and finishes its operation. It owns one count of
// m.work.
func (m *Manager) run(t *task, work WorkFunc, op *Op) {
	defer m.work.Done()
	defer m.dropTask(t)
	resp, err := callWork(t.ctx, work, op)
	t.stopWatch()
	m.finish(t, op, resp, err)
}

// panicError is what work that panicked returns.
type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("work panicked: %v", p.value) }

func callWork(ctx context.Context, work WorkFunc, op *Op) (resp proto.Message, err error) {
	defer func() {
		if v := recover(); v != nil {
			resp, err = nil, &panicError{value: v, stack: debug.Stack()}
		}
	}()
	return work(ctx, op)
}

// packResponse packs a response; nil means google.protobuf.Empty, packed
// by hand (its encoding is empty), which saves a marshal per operation.
func packResponse(resp proto.Message) (*anypb.Any, error) {
	if resp == nil {
		return &anypb.Any{TypeUrl: emptyTypeURL}, nil
	}
	return packAny(resp)
}

// result turns what work returned into the operation's final state.
func (m *Manager) result(t *task, resp proto.Message, err error) *longrunningpb.Operation {
	op := &longrunningpb.Operation{Done: true}
	if err == nil {
		a, perr := packResponse(resp)
		if perr == nil {
			op.Result = &longrunningpb.Operation_Response{Response: a}
			return op
		}
		err = perr
	}
	var st *status.Status
	var pe *panicError
	switch cause := context.Cause(t.ctx); {
	case errors.As(err, &pe):
		m.log.Error("lro: work panicked", "operation", t.name, "panic", fmt.Sprint(pe.value), "stack", string(pe.stack))
		st = status.New(codes.Internal, pe.Error())
	case errors.Is(cause, errCancelled):
		st = status.New(codes.Canceled, "operation cancelled")
	case errors.Is(cause, errClosing):
		st = status.New(codes.Unavailable, "operation cut short: the server shut down")
	default:
		if m.cfg.mapError != nil {
			st = m.cfg.mapError(err)
		}
		if st == nil {
			st = defaultStatus(err)
		}
	}
	if st.Code() == codes.OK {
		st = status.New(codes.Unknown, st.Message())
	}
	op.Result = &longrunningpb.Operation_Error{Error: st.Proto()}
	return op
}

// defaultStatus is the status of a work error when no mapper decides.
func defaultStatus(err error) *status.Status {
	if s, ok := status.FromError(err); ok {
		return s
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err)
	}
	return status.New(codes.Unknown, err.Error())
}

// finish records the end of work, retrying while the store is unavailable
// until it succeeds or Close gives up.
func (m *Manager) finish(t *task, o *Op, resp proto.Message, err error) {
	final := m.result(t, resp, err)
	var write func() (struct{}, error)
	if fin, ok := m.store.(Finisher); ok {
		final.Name = t.name
		final.Metadata = o.metadata()
		write = func() (struct{}, error) {
			now := m.now()
			err := fin.Finish(context.Background(), FinishParams{Owner: m.cfg.owner, Operation: final, UpdateTime: now, ExpireTime: now.Add(m.cfg.retention)})
			switch {
			case err == nil, errors.Is(err, ErrNotFound):
				return struct{}{}, nil // deleted: the result is dropped
			case errors.Is(err, ErrNotOwner):
				m.log.Warn("lro: result refused: the operation is done or another replica took it over", "operation", t.name)
				return struct{}{}, backoff.Permanent(errLeaseLost)
			}
			return struct{}{}, err
		}
	} else {
		write = m.finishByUpdate(t, final)
	}
	// The first attempt runs outside backoff.Retry, which costs a few
	// allocations that the common case does not need.
	_, firstErr := write()
	if firstErr == nil || errors.Is(firstErr, errLeaseLost) {
		return
	}
	retried := false
	_, err = backoff.Retry(m.abandonCtx, func() (struct{}, error) {
		if !retried { // Retry calls at once; the first attempt just failed
			retried = true
			return struct{}{}, firstErr
		}
		return write()
	},
		backoff.WithBackOff(&backoff.ExponentialBackOff{
			InitialInterval:     10 * time.Millisecond,
			RandomizationFactor: 0.5,
			Multiplier:          2,
			MaxInterval:         2 * time.Second,
		}),
		backoff.WithMaxElapsedTime(0))
	if err != nil && !errors.Is(err, errLeaseLost) {
		m.log.Error("lro: could not record the end of an operation; its lease will lapse and another replica will finish it", "operation", t.name, "error", err)
	}
}

// finishByUpdate records the end of work with a read-modify-write, for
// stores that are not Finishers.
func (m *Manager) finishByUpdate(t *task, final *longrunningpb.Operation) func() (struct{}, error) {
	return func() (struct{}, error) {
		_, err := m.store.Update(context.Background(), t.name, func(r *Record) error {
			if r.Done() {
				return errNoChange
			}
			if r.Owner != m.cfg.owner {
				return errLeaseLost
			}
			now := m.now()
			r.Operation.Done = true
			r.Operation.Result = final.Result
			r.CancelRequested = false
			r.UpdateTime = now
			r.ExpireTime = now.Add(m.cfg.retention)
			r.LeaseExpireTime = time.Time{}
			return nil
		})
		switch {
		case err == nil, errors.Is(err, errNoChange):
			return struct{}{}, nil
		case errors.Is(err, ErrNotFound):
			return struct{}{}, nil // deleted: the result is dropped
		case errors.Is(err, errLeaseLost):
			m.log.Warn("lro: result refused: another replica took the operation over", "operation", t.name)
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	}
}

const emptyTypeURL = "type.googleapis.com/google.protobuf.Empty"

var errLeaseLost = errors.New("lro: lease lost")

// SetMetadata replaces the metadata of an operation made by Create. It
// fails with FAILED_PRECONDITION once the operation is done.
func (m *Manager) SetMetadata(ctx context.Context, name string, md proto.Message) error {
	a, err := packAny(md)
	if err != nil {
		return err
	}
	return m.finishExternal(ctx, name, func(r *Record) {
		r.Operation.Metadata = a
	}, false)
}

// Complete ends an operation made by Create with resp as its response. It
// fails with FAILED_PRECONDITION when the operation is already done (for
// example, cancelled).
func (m *Manager) Complete(ctx context.Context, name string, resp proto.Message) error {
	a, err := packResponse(resp)
	if err != nil {
		return err
	}
	return m.finishExternal(ctx, name, func(r *Record) {
		r.Operation.Result = &longrunningpb.Operation_Response{Response: a}
	}, true)
}

// Fail ends an operation made by Create with err's status (see
// ErrorMapper); an OK or missing status becomes UNKNOWN.
func (m *Manager) Fail(ctx context.Context, name string, err error) error {
	var st *status.Status
	if err != nil && m.cfg.mapError != nil {
		st = m.cfg.mapError(err)
	}
	if st == nil && err != nil {
		st = defaultStatus(err)
	}
	if st == nil || st.Code() == codes.OK {
		msg := "operation failed"
		if st != nil && st.Message() != "" {
			msg = st.Message()
		}
		st = status.New(codes.Unknown, msg)
	}
	return m.finishExternal(ctx, name, func(r *Record) {
		r.Operation.Result = &longrunningpb.Operation_Error{Error: st.Proto()}
	}, true)
}

func (m *Manager) finishExternal(ctx context.Context, name string, change func(*Record), done bool) error {
	if _, err := parseOperationName(name); err != nil {
		return invalidArgument("%v", err)
	}
	_, err := m.store.Update(ctx, name, func(r *Record) error {
		if r.Done() {
			return status.Errorf(codes.FailedPrecondition, "operation %q is already done", name)
		}
		if r.Owner != "" {
			return status.Errorf(codes.FailedPrecondition, "operation %q is run by its work function", name)
		}
		now := m.now()
		change(r)
		r.UpdateTime = now
		if done {
			r.Operation.Done = true
			r.CancelRequested = false
			r.ExpireTime = now.Add(m.cfg.retention)
		}
		return nil
	})
	return storeError(err, name)
}

// Close stops the Manager. New starts fail with UNAVAILABLE at once.
// Running work may finish until ctx ends; then its context is cancelled
// and the operations it leaves unfinished end with UNAVAILABLE. Close
// returns when every goroutine the Manager started has ended, with ctx's
// error if it had to cut work short. Close does not close the Store.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	close(m.closing)
	m.mu.Unlock()

	done := make(chan struct{})
	go func() {
		m.work.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("lro: closing: work cut short: %w", ctx.Err())
		m.mu.Lock()
		for _, t := range m.running {
			t.cancel(errClosing)
		}
		m.mu.Unlock()
		// Cut-short work still makes one attempt to record UNAVAILABLE;
		// retries stop, and the lease lets another replica take over.
		m.abandonCancel()
		<-done
	}
	m.abandonCancel()
	close(m.stopBG)
	m.bg.Wait()
	close(m.stopWorkers)
	m.workers.Wait()
	return err
}

// Store returns the store the Manager keeps its operations in.
func (m *Manager) Store() Store { return m.store }
