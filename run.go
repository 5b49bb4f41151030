package lro

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/cenkalti/backoff/v5"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// task is work running in this Manager.
type task struct {
	name      string
	owner     string // the Manager's owner id
	ctx       context.Context
	cancel    context.CancelCauseFunc
	stopWatch func()
	launched  bool        // given to a pool worker; guarded by Manager.mu
	abandoned atomic.Bool // Close gave up on it: its result is dropped
	kind      string      // the operation's kind, for metrics and spans
	// traceParent is the record's (Record.TraceParent): what the run's
	// span links to when ctx carries no span (runBegin).
	traceParent string
	created     time.Time // the operation's create time, for its duration
	k           *kindInfo // the registered kind; nil for a work function
	// stopDeadline stops the deadline timer; guarded by Manager.mu.
	stopDeadline func()
	slotFreed    bool // its slot was given back (freeSlot); guarded by Manager.mu
}

func (m *Manager) start(ctx context.Context, work WorkFunc, k *kindInfo, req *anypb.Any, opts []StartOption) (*longrunningpb.Operation, error) {
	rec, err := m.newRecord(ctx, k, req, opts)
	if err != nil {
		return nil, err
	}
	name, kind, now := rec.Operation.GetName(), rec.Kind, rec.CreateTime

	// Registered before the record exists, so a cancellation from another
	// replica cannot slip in between.
	t, mode, err := m.admit(ctx, name, work, k, !rec.RunAfter.IsZero())
	if err != nil {
		return nil, err
	}
	switch mode {
	case modeRun:
		t.kind, t.created = kind, now
		rec.StartTime = now
		rec.Attempt = 1
		rec.Owner = m.cfg.owner
	case modeLocal:
		rec.Owner = m.cfg.owner
	case modeExternal:
		rec.StartTime = now
	}
	stored, created, err := m.store.Create(ctx, rec)
	m.obs.storeError(ctx, storeCreate, err)
	if err != nil || !created {
		if t != nil {
			m.endTask(t)
		}
		if err != nil {
			if rec.Owner != "" {
				// The answer may have been lost after the record was
				// stored (a connection cut after the commit, a
				// failover): then it is this owner's and runs nowhere.
				m.mu.Lock()
				m.recheckOwned = append(m.recheckOwned, name)
				m.mu.Unlock()
			}
			return nil, m.storeError(err, name)
		}
		return stored.Operation, nil
	}
	m.obs.operationStarted(ctx, kind)
	switch mode {
	case modeRun:
		m.launch(t, work, stored)
	case modeLocal:
		m.enqueue(ctx, stored, work)
	case modeStore:
		m.mu.Lock()
		if m.cfg.maxRunning != 0 {
			m.q.pending[k.name] = true
		}
		m.mu.Unlock()
		m.wakeQueue()
		if !stored.RunAfter.IsZero() {
			m.claimAt(k.name, stored.RunAfter)
		}
	case modeExternal:
		if !stored.Deadline.IsZero() {
			m.mu.Lock()
			if !m.closed {
				m.armDeadline(name, stored.Deadline, true)
			}
			m.mu.Unlock()
		}
	}
	return stored.Operation, nil
}

// newRecord checks ctx and opts and builds the record of a new operation
// of kind k (nil for a work function or Create) with the stored request
// req: named, stamped with its creation, deadline, request id, RunAfter
// (WithStartAfter) and the trace context of ctx's span, and queued (StartTime zero, no owner,
// attempt 0) until start decides how it runs. It fails with
// INVALID_ARGUMENT for a nil ctx, an option that refused its value, an
// invalid parent, metadata over the payload cap, or a WithStartAfter that
// the operation cannot wait for (see startLater).
func (m *Manager) newRecord(ctx context.Context, k *kindInfo, req *anypb.Any, opts []StartOption) (*Record, error) {
	if err := m.checkContext(ctx, "starting an operation"); err != nil {
		return nil, err
	}
	var sc startConfig
	for _, o := range opts {
		o(&sc)
	}
	if sc.err != nil {
		return nil, m.errorf(codes.InvalidArgument, ReasonInvalidStartOption, nil, "lro: %v", sc.err)
	}
	if err := validateParent(sc.parent); err != nil {
		return nil, m.errorf(codes.InvalidArgument, ReasonInvalidParent, map[string]string{ErrorKeyParent: sc.parent}, "lro: %v", err)
	}
	md, err := m.packPayload("metadata", sc.metadata, "")
	if err != nil {
		return nil, err
	}
	kind := ""
	if k != nil {
		kind = k.name
	}
	now := m.now()
	name, traceParent := newOperationName(sc.parent, trace.SpanContextFromContext(ctx))
	md = m.stampMetadata(md, stdStamp{created: now})
	rec := &Record{
		Operation:  &longrunningpb.Operation{Name: name, Metadata: md},
		Parent:     sc.parent,
		CreateTime: now,
		UpdateTime: now,
		RequestID:  sc.requestID,
		Kind:       kind,
		Request:    req,
		// Runs the store hands out link to it (runBegin).
		TraceParent: traceParent,
	}
	if d := timeoutFor(sc, k); d > 0 {
		rec.Deadline = now.Add(d).Truncate(time.Microsecond) // as stores keep it
	}
	if err := m.startLater(rec, sc.startAfter); err != nil {
		return nil, err
	}
	return rec, nil
}

// admit refuses a new operation once Close has begun, and new work to run
// here while the owner lease is lost, with UNAVAILABLE; decides how start
// treats it (startMode; a delayed one, see WithStartAfter, waits in the
// store); and, when it runs now, reserves its slot and registers its task
// (see newTask).
func (m *Manager) admit(ctx context.Context, name string, work WorkFunc, k *kindInfo, delayed bool) (*task, startMode, error) {
	m.mu.Lock()
	// Deferred: newTask calls Store.Watch, host code that may panic, and a
	// panic must never leave m.mu held.
	defer m.mu.Unlock()
	if m.closed {
		return nil, 0, m.errManagerClosed()
	}
	mode := m.startMode(work, k)
	if delayed && mode == modeRun {
		mode = modeStore
	}
	switch mode {
	case modeRefuse:
		return nil, mode, m.refuseAcceptOnly()
	case modeRun, modeLocal:
		if m.leaseLost {
			return nil, mode, m.errorf(codes.Unavailable, ReasonLeaseLost, nil, "lro: this replica lost its owner lease and runs no new work until it holds it again")
		}
	}
	if mode != modeRun {
		return nil, mode, nil
	}
	m.reserve(k)
	return m.newTask(ctx, name, k), mode, nil
}

// newTask registers work of kind k (nil for a work function) about to run
// here, counts it in m.tasks, and starts watching its record for
// cancellation requests, which may come from another replica. The caller
// holds m.mu, has checked that Close has not begun, has reserved the
// task's slot, and ends the task with endTask, directly or through launch.
func (m *Manager) newTask(ctx context.Context, name string, k *kindInfo) *task {
	wctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	t := &task{name: name, owner: m.cfg.owner, ctx: wctx, cancel: cancel, k: k, stopDeadline: noop}
	if k != nil {
		t.kind = k.name
	}
	t.stopWatch = m.store.Watch(name, t.onEvent)
	m.running[name] = t
	m.tasks++
	return t
}

func noop() {}

// endTask undoes newTask: it stops the watch and the deadline, unregisters
// the task, releases its slot, its context and its count in m.tasks, and
// tells Close when the last task has ended.
func (m *Manager) endTask(t *task) {
	t.stopWatch()
	m.mu.Lock()
	t.stopDeadline()
	if m.running[t.name] == t {
		delete(m.running, t.name)
	}
	m.freeSlotLocked(t)
	m.tasks--
	if m.closed && m.tasks == 0 {
		close(m.drained)
	}
	m.mu.Unlock()
	t.cancel(nil)
	if t.k != nil && t.k.maxGlobal > 0 {
		m.freedGlobalSlot()
	}
}

// launch runs work for task t on a pooled goroutine, as the run of the
// stored record r (its attempt, metadata and deadline); or, once Close has
// given up on the work, ends the task without running it.
func (m *Manager) launch(t *task, work WorkFunc, r *Record) {
	m.mu.Lock()
	giveUp := m.giveUp
	t.launched = !giveUp
	if !giveUp && !r.Deadline.IsZero() {
		t.stopDeadline = m.armDeadline(t.name, r.Deadline, false)
	}
	m.mu.Unlock()
	if giveUp {
		m.endTask(t)
		return
	}
	if t.created.IsZero() {
		t.created = r.CreateTime
	}
	t.traceParent = r.TraceParent
	op := &Op{m: m, name: t.name, attempt: r.Attempt, md: r.Operation.GetMetadata(), lost: t.cancel}
	m.workers.goRun(func() { m.run(t, work, op) })
}

// run executes work and finishes its operation, then ends the task. The
// result of work that Close gave up on is dropped. Work that failed after
// this replica lost the operation (see ErrLeaseLost) has its error dropped
// too: it is most likely the cancellation's, and the operation is another
// replica's to end; a response is still offered to the store, which
// refuses it unless the operation is still this run's. The result of work
// cancelled at its deadline is dropped: the operation ended then. A
// retryable failure of a kind with a KindRetry policy queues the operation
// again (retryLater).
func (m *Manager) run(t *task, work WorkFunc, op *Op) {
	defer m.endTask(t)
	r := m.obs.runBegin(t, op)
	resp, err := callWork(r.ctx, work, op)
	m.freeSlot(t)
	t.stopWatch()
	cause := context.Cause(t.ctx)
	if errors.Is(cause, errDeadline) || (err != nil && m.retryLater(t, op, err, &r)) {
		m.obs.runEnd(r, t, m.now(), cause, err, nil, false)
		return
	}
	if t.abandoned.Load() || (err != nil && errors.Is(cause, ErrLeaseLost)) {
		if !t.abandoned.Load() {
			m.log.Warn("lro: result dropped: this replica lost the operation", "operation", t.name, "cause", cause, "error", err)
		}
		m.obs.runEnd(r, t, m.now(), cause, err, nil, false)
		return
	}
	final, recorded := m.finish(t, op, resp, err)
	m.obs.runEnd(r, t, m.now(), cause, err, final, recorded)
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

// result turns what work returned into the operation's final state.
func (m *Manager) result(t *task, resp proto.Message, err error) *longrunningpb.Operation {
	if err == nil {
		return m.response(resp, t.name)
	}
	var pe *panicError
	switch cause := context.Cause(t.ctx); {
	case errors.As(err, &pe):
		m.log.Error("lro: work panicked", "operation", t.name, "panic", fmt.Sprint(pe.value), "stack", string(pe.stack))
		return failed(m.hostStatus(m.newStatus(codes.Internal, ReasonWorkPanicked, map[string]string{ErrorKeyOperation: t.name}, pe.Error())))
	case errors.Is(cause, errCancelled):
		return failed(m.cancelledStatus(t.name))
	case errors.Is(cause, errClosing):
		return failed(m.closingStatus(t.name))
	}
	return failed(m.errorStatus(err, t.name))
}

// response is the final state of work that returned resp: a response no
// larger than the payload cap, or else INTERNAL saying what went wrong.
func (m *Manager) response(resp proto.Message, name string) *longrunningpb.Operation {
	a, err := packResponse(resp)
	reason := ReasonInvalidResponse
	if err == nil {
		reason = ReasonPayloadTooLarge
		err = m.checkSize("response", a, name)
	}
	if err != nil {
		return failed(m.hostStatus(m.newStatus(codes.Internal, reason, map[string]string{ErrorKeyOperation: name},
			fmt.Sprintf("the work's response cannot be stored: %v", status.Convert(err).Message()))))
	}
	return succeeded(a)
}

// finish records the end of work. A failure that retrying cannot cure
// (see permanent), such as a result the store cannot hold, does not leave
// the operation running: it ends with INTERNAL instead, saying why. It
// returns the operation's end and whether the store took it.
func (m *Manager) finish(t *task, o *Op, resp proto.Message, err error) (*longrunningpb.Operation, bool) {
	final := m.result(t, resp, err)
	err = m.record(t, o, final)
	if err != nil && permanent(err) {
		m.log.Error("lro: the store refused the result of an operation; it ends with INTERNAL instead", "operation", t.name, "error", err)
		final = failed(m.hostStatus(m.newStatus(codes.Internal, ReasonResultUnstorable, map[string]string{ErrorKeyOperation: t.name},
			fmt.Sprintf("the operation's result could not be stored: %v", err))))
		err = m.record(t, o, final)
	}
	if err != nil && !errors.Is(err, ErrLeaseLost) {
		m.log.Error("lro: could not record the end of an operation; its lease will lapse and another replica will finish it", "operation", t.name, "error", err)
	}
	return final, err == nil
}

// record writes final as the end of t's operation, whose metadata o holds,
// retrying while the store fails in a way that may pass, until it succeeds
// or Close gives up. It returns nil once written, or dropped because the
// operation was deleted; ErrLeaseLost when the operation is done or owned
// by another replica; a permanent failure at once; otherwise the last
// failure when Close gave up.
func (m *Manager) record(t *task, o *Op, final *longrunningpb.Operation) error {
	var write func() error
	if fin, ok := m.store.(Finisher); ok {
		final.Name = t.name
		final.Metadata = m.stampMetadata(o.metadata(), stdStamp{cancel: errors.Is(context.Cause(t.ctx), errCancelled), ended: m.now()})
		write = m.finishByFinisher(m.writeCtx, fin, o.attempt, final)
	} else {
		write = m.finishByUpdate(m.writeCtx, t.name, o.attempt, final)
	}
	retry := func(err error) bool { return err != nil && !errors.Is(err, ErrLeaseLost) && !permanent(err) }
	// The first attempt runs outside backoff.Retry, which costs a few
	// allocations that the common case does not need.
	firstErr := write()
	if !retry(firstErr) {
		return firstErr
	}
	retried := false
	_, err := backoff.Retry(m.abandonCtx, func() (struct{}, error) {
		err := firstErr
		if retried {
			err = write()
		}
		retried = true // Retry calls at once; the first attempt just failed
		if err != nil && !retry(err) {
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	},
		backoff.WithBackOff(&backoff.ExponentialBackOff{
			InitialInterval:     10 * time.Millisecond,
			RandomizationFactor: 0.5,
			Multiplier:          2,
			MaxInterval:         2 * time.Second,
		}),
		backoff.WithMaxElapsedTime(0))
	return err
}

// finishByFinisher records the end of run number attempt of work in one
// write, without a read: final is the whole Operation, named.
func (m *Manager) finishByFinisher(ctx context.Context, fin Finisher, attempt int32, final *longrunningpb.Operation) func() error {
	return func() error {
		now := m.now()
		err := fin.Finish(ctx, FinishParams{Owner: m.cfg.owner, Attempt: attempt, Operation: final, UpdateTime: now, ExpireTime: m.retainUntil(now)})
		switch {
		case err == nil, errors.Is(err, ErrNotFound):
			return nil // deleted: the result is dropped
		case errors.Is(err, ErrNotOwner):
			m.log.Warn("lro: result refused: the operation is done or another replica took it over", "operation", final.GetName())
			return ErrLeaseLost
		}
		m.obs.storeError(ctx, storeFinish, err)
		return err
	}
}

// finishByUpdate records the end of run number attempt of the named
// operation's work (any run when attempt is 0) with a read-modify-write,
// for stores that are not Finishers, and for Close.
func (m *Manager) finishByUpdate(ctx context.Context, name string, attempt int32, final *longrunningpb.Operation) func() error {
	return func() error {
		_, err := m.store.Update(ctx, name, func(r *Record) error {
			if r.Done() {
				return errNoChange
			}
			if r.Owner != m.cfg.owner || (attempt != 0 && r.Attempt != attempt) {
				return ErrLeaseLost
			}
			m.endRecord(r, final)
			return nil
		})
		switch {
		case err == nil, errors.Is(err, errNoChange):
			return nil
		case errors.Is(err, ErrNotFound):
			return nil // deleted: the result is dropped
		case errors.Is(err, ErrLeaseLost):
			m.log.Warn("lro: result refused: another replica took the operation over", "operation", name)
			return ErrLeaseLost
		}
		m.obs.storeError(ctx, storeUpdate, err)
		return err
	}
}
