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
	kind      string    // the operation's kind, for metrics and spans
	created   time.Time // the operation's create time, for its duration
}

func (m *Manager) start(ctx context.Context, work WorkFunc, kind string, req *anypb.Any, opts []StartOption) (*longrunningpb.Operation, error) {
	var sc startConfig
	for _, o := range opts {
		o(&sc)
	}
	if err := validateParent(sc.parent); err != nil {
		return nil, m.errorf(codes.InvalidArgument, ReasonInvalidParent, map[string]string{ErrorKeyParent: sc.parent}, "lro: %v", err)
	}
	md, err := m.pack(sc.metadata, ReasonInvalidMetadata, "")
	if err != nil {
		return nil, err
	}
	now := m.now()
	name := operationName(sc.parent, newID())
	md = m.stampMetadata(md, stdStamp{created: now})
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
		rec.Attempt = 1
	}

	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, m.errManagerClosed()
	}
	if work != nil && m.leaseLost {
		m.mu.Unlock()
		return nil, m.errorf(codes.Unavailable, ReasonLeaseLost, nil, "lro: this replica lost its owner lease and runs no new work until it holds it again")
	}
	var t *task
	if work != nil {
		// Registered before the record exists, so a cancellation from
		// another replica cannot slip in between.
		t = m.newTask(ctx, name)
		t.kind, t.created = kind, now
	}
	m.mu.Unlock()

	stored, created, err := m.store.Create(ctx, rec)
	m.obs.storeError(ctx, storeCreate, err)
	if err != nil || !created {
		if t != nil {
			m.endTask(t)
		}
		if err != nil {
			return nil, m.storeError(err, name)
		}
		return stored.Operation, nil
	}
	m.obs.operationStarted(ctx, kind)
	if t != nil {
		m.launch(t, work, stored.Attempt, stored.Operation.GetMetadata())
	}
	return stored.Operation, nil
}

// newTask registers work about to run here, counts it in m.work, and
// starts watching its record for cancellation requests, which may come
// from another replica. The caller holds m.mu and ends the task with
// endTask, directly or through launch.
func (m *Manager) newTask(ctx context.Context, name string) *task {
	wctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	t := &task{name: name, owner: m.cfg.owner, ctx: wctx, cancel: cancel}
	t.stopWatch = m.store.Watch(name, t.onEvent)
	m.running[name] = t
	m.work.Add(1)
	return t
}

// endTask undoes newTask: it stops the watch, unregisters the task,
// releases its context and its count in m.work.
func (m *Manager) endTask(t *task) {
	t.stopWatch()
	m.mu.Lock()
	if m.running[t.name] == t {
		delete(m.running, t.name)
	}
	m.mu.Unlock()
	t.cancel(nil)
	m.work.Done()
}

// launch runs work for task t on a pooled goroutine, as run number attempt
// of the operation, whose metadata is md so far.
func (m *Manager) launch(t *task, work WorkFunc, attempt int32, md *anypb.Any) {
	op := &Op{m: m, name: t.name, attempt: attempt, md: md, lost: t.cancel}
	m.workers.goRun(func() { m.run(t, work, op) })
}

// run executes work and finishes its operation, then ends the task. Work
// that failed after this replica lost the operation (see ErrLeaseLost) has
// its error dropped: it is most likely the cancellation's, and the
// operation is another replica's to end; a response is still offered to
// the store, which refuses it unless the operation is still this run's.
func (m *Manager) run(t *task, work WorkFunc, op *Op) {
	defer m.endTask(t)
	r := m.obs.runBegin(t, op)
	resp, err := callWork(r.ctx, work, op)
	t.stopWatch()
	if cause := context.Cause(t.ctx); err != nil && errors.Is(cause, ErrLeaseLost) {
		m.log.Warn("lro: result dropped: this replica lost the operation", "operation", t.name, "cause", cause, "error", err)
		m.obs.runEnd(r, t, m.now(), cause, err, nil, false)
		return
	}
	final, recorded := m.finish(t, op, resp, err)
	m.obs.runEnd(r, t, m.now(), context.Cause(t.ctx), err, final, recorded)
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
		a, perr := m.packResult(resp, t.name)
		if perr == nil {
			return succeeded(a)
		}
		err = perr
	}
	var pe *panicError
	switch cause := context.Cause(t.ctx); {
	case errors.As(err, &pe):
		m.log.Error("lro: work panicked", "operation", t.name, "panic", fmt.Sprint(pe.value), "stack", string(pe.stack))
		return failed(m.newStatus(codes.Internal, ReasonWorkPanicked, map[string]string{ErrorKeyOperation: t.name}, pe.Error()))
	case errors.Is(cause, errCancelled):
		return failed(m.cancelledStatus(t.name))
	case errors.Is(cause, errClosing):
		return failed(m.newStatus(codes.Unavailable, ReasonServerShutdown, map[string]string{ErrorKeyOperation: t.name}, "operation cut short: the server shut down"))
	}
	return failed(m.errorStatus(err, t.name))
}

// finish records the end of work, retrying while the store is unavailable
// until it succeeds or Close gives up. It returns the operation's end and
// whether the store took it.
func (m *Manager) finish(t *task, o *Op, resp proto.Message, err error) (*longrunningpb.Operation, bool) {
	final := m.result(t, resp, err)
	var write func() (struct{}, error)
	if fin, ok := m.store.(Finisher); ok {
		final.Name = t.name
		final.Metadata = m.stampMetadata(o.metadata(), stdStamp{cancel: errors.Is(context.Cause(t.ctx), errCancelled), ended: m.now()})
		write = m.finishByFinisher(fin, t, o.attempt, final)
	} else {
		write = m.finishByUpdate(t, o.attempt, final)
	}
	// The first attempt runs outside backoff.Retry, which costs a few
	// allocations that the common case does not need.
	_, firstErr := write()
	if firstErr == nil || errors.Is(firstErr, ErrLeaseLost) {
		return final, firstErr == nil
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
	return final, err == nil
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
		m.obs.storeError(context.Background(), storeFinish, err)
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
		m.obs.storeError(context.Background(), storeUpdate, err)
		return struct{}{}, err
	}
}
