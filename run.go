package lro

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/cenkalti/backoff/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// task is work running in this Manager.
type task struct {
	name         string
	owner        string    // the Manager's owner id
	kind         *kindInfo // nil for a work function
	ctx          context.Context
	cancel       context.CancelCauseFunc
	stopWatch    func()
	stopDeadline func()
}

func (m *Manager) start(ctx context.Context, work WorkFunc, k *kindInfo, req *anypb.Any, opts []StartOption) (*longrunningpb.Operation, error) {
	var sc startConfig
	for _, o := range opts {
		o(&sc)
	}
	if sc.err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "lro: %v", sc.err)
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
		Request:    req,
	}
	if k != nil {
		rec.Kind = k.name
	}
	if d := timeoutFor(sc, k); d > 0 {
		rec.Deadline = now.Add(d).Truncate(time.Microsecond) // as stores keep it
	}

	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, errManagerClosed()
	}
	if work != nil && m.leaseLost {
		m.mu.Unlock()
		return nil, status.Error(codes.Unavailable, "lro: this replica lost its owner lease and runs no new work until it holds it again")
	}
	mode := m.admit(work, k)
	var t *task
	switch mode {
	case modeRefuse:
		m.mu.Unlock()
		return nil, refuseAcceptOnly()
	case modeRun:
		// Registered before the record exists, so a cancellation from
		// another replica cannot slip in between.
		t = m.newTask(ctx, name, k)
		rec.StartTime = now
		rec.Attempt = 1
		fallthrough
	case modeLocal:
		rec.Owner = m.cfg.owner
	case modeExternal:
		rec.StartTime = now
	}
	m.mu.Unlock()

	stored, created, err := m.store.Create(ctx, rec)
	if err != nil || !created {
		if t != nil {
			m.endTask(t)
		}
		if err != nil {
			return nil, storeError(err, name)
		}
		return stored.Operation, nil
	}
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
	case modeExternal:
		if !stored.Deadline.IsZero() {
			m.mu.Lock()
			m.armDeadline(name, stored.Deadline, true)
			m.mu.Unlock()
		}
	}
	return stored.Operation, nil
}

// newTask registers work of kind k (nil for a work function) about to run
// here, counts it in m.work, and starts watching its record for
// cancellation requests, which may come from another replica. The caller
// holds m.mu, has reserved the task's slot, and ends the task with
// endTask, directly or through launch.
func (m *Manager) newTask(ctx context.Context, name string, k *kindInfo) *task {
	wctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	t := &task{name: name, owner: m.cfg.owner, kind: k, ctx: wctx, cancel: cancel, stopDeadline: noop}
	t.stopWatch = m.store.Watch(name, t.onEvent)
	m.running[name] = t
	m.work.Add(1)
	return t
}

func noop() {}

// endTask undoes newTask: it stops the watch and the deadline, unregisters
// the task, releases its slot, its context and its count in m.work.
func (m *Manager) endTask(t *task) {
	t.stopWatch()
	m.mu.Lock()
	t.stopDeadline()
	if m.running[t.name] == t {
		delete(m.running, t.name)
	}
	m.release(t.kind)
	m.mu.Unlock()
	t.cancel(nil)
	if t.kind != nil && t.kind.maxGlobal > 0 {
		m.freedGlobalSlot()
	}
	m.work.Done()
}

// launch runs work for task t on a pooled goroutine, as the run of the
// stored record r (its attempt, metadata and deadline).
func (m *Manager) launch(t *task, work WorkFunc, r *Record) {
	op := &Op{m: m, name: t.name, attempt: r.Attempt, md: r.Operation.GetMetadata(), lost: t.cancel}
	if !r.Deadline.IsZero() {
		m.mu.Lock()
		t.stopDeadline = m.armDeadline(t.name, r.Deadline, false)
		m.mu.Unlock()
	}
	m.workers.goRun(func() { m.run(t, work, op) })
}

// run executes work and finishes its operation (or puts it back in the
// queue for a retry), then ends the task. Work that failed after this
// replica lost the operation (see ErrLeaseLost) has its error dropped: it
// is most likely the cancellation's, and the operation is another
// replica's to end; a response is still offered to the store, which
// refuses it unless the operation is still this run's. Work cancelled at
// its deadline has its result dropped: the operation ended then.
func (m *Manager) run(t *task, work WorkFunc, op *Op) {
	defer m.endTask(t)
	resp, err := callWork(t.ctx, work, op)
	t.stopWatch()
	if errors.Is(context.Cause(t.ctx), errDeadline) {
		return // ended DEADLINE_EXCEEDED already; the result is dropped
	}
	if cause := context.Cause(t.ctx); err != nil && errors.Is(cause, ErrLeaseLost) {
		m.log.Warn("lro: result dropped: this replica lost the operation", "operation", t.name, "cause", cause, "error", err)
		return
	}
	if err != nil && m.retryLater(t, op, err) {
		return
	}
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

// result turns what work returned into the operation's final state.
func (m *Manager) result(t *task, resp proto.Message, err error) *longrunningpb.Operation {
	if err == nil {
		a, perr := packResponse(resp)
		if perr == nil {
			return succeeded(a)
		}
		err = perr
	}
	var pe *panicError
	switch cause := context.Cause(t.ctx); {
	case errors.As(err, &pe):
		m.log.Error("lro: work panicked", "operation", t.name, "panic", fmt.Sprint(pe.value), "stack", string(pe.stack))
		return failed(status.New(codes.Internal, pe.Error()))
	case errors.Is(cause, errCancelled):
		return failed(cancelledStatus())
	case errors.Is(cause, errClosing):
		return failed(status.New(codes.Unavailable, "operation cut short: the server shut down"))
	}
	return failed(m.errorStatus(err))
}

// finish records the end of work, retrying while the store is unavailable
// until it succeeds or Close gives up.
func (m *Manager) finish(t *task, o *Op, resp proto.Message, err error) {
	final := m.result(t, resp, err)
	var write func() (struct{}, error)
	if fin, ok := m.store.(Finisher); ok {
		final.Name = t.name
		final.Metadata = o.metadata()
		write = m.finishByFinisher(fin, t, o.attempt, final)
	} else {
		write = m.finishByUpdate(t, o.attempt, final)
	}
	// The first attempt runs outside backoff.Retry, which costs a few
	// allocations that the common case does not need.
	_, firstErr := write()
	if firstErr == nil || errors.Is(firstErr, ErrLeaseLost) {
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
	if err != nil && !errors.Is(err, ErrLeaseLost) {
		m.log.Error("lro: could not record the end of an operation; its lease will lapse and another replica will finish it", "operation", t.name, "error", err)
	}
}

// finishByFinisher records the end of run number attempt of work in one
// write, without a read: final is the whole Operation.
func (m *Manager) finishByFinisher(fin Finisher, t *task, attempt int32, final *longrunningpb.Operation) func() (struct{}, error) {
	return func() (struct{}, error) {
		now := m.now()
		err := fin.Finish(context.Background(), FinishParams{Owner: m.cfg.owner, Attempt: attempt, Operation: final, UpdateTime: now, ExpireTime: m.retainUntil(now)})
		switch {
		case err == nil, errors.Is(err, ErrNotFound):
			return struct{}{}, nil // deleted: the result is dropped
		case errors.Is(err, ErrNotOwner):
			m.log.Warn("lro: result refused: the operation is done or another replica took it over", "operation", t.name)
			return struct{}{}, backoff.Permanent(ErrLeaseLost)
		}
		return struct{}{}, err
	}
}

// finishByUpdate records the end of run number attempt of work with a
// read-modify-write, for stores that are not Finishers.
func (m *Manager) finishByUpdate(t *task, attempt int32, final *longrunningpb.Operation) func() (struct{}, error) {
	return func() (struct{}, error) {
		_, err := m.store.Update(context.Background(), t.name, func(r *Record) error {
			if r.Done() {
				return errNoChange
			}
			if r.Owner != m.cfg.owner || r.Attempt != attempt {
				return ErrLeaseLost
			}
			m.endRecord(r, final)
			return nil
		})
		switch {
		case err == nil, errors.Is(err, errNoChange):
			return struct{}{}, nil
		case errors.Is(err, ErrNotFound):
			return struct{}{}, nil // deleted: the result is dropped
		case errors.Is(err, ErrLeaseLost):
			m.log.Warn("lro: result refused: another replica took the operation over", "operation", t.name)
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	}
}
