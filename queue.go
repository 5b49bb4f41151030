package lro

import (
	"container/list"
	"context"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
)

// Bounded concurrency. A Manager runs at most WithMaxRunning works at once,
// and at most KindMaxRunning of a kind. Work that cannot start at once is
// recorded queued (StartTime zero) and waits:
//
//   - a work function (Start) waits in this Manager's local FIFO queue,
//     since its closure cannot move to another replica; the record is owned
//     by this Manager so that its lease keeps other replicas away;
//   - registered work (StartKind) waits in the store, unowned, for whichever
//     replica registered the kind and has a free slot to claim it
//     (Store.ClaimQueued), oldest first.
//
// One goroutine, queueLoop, starts queued work when woken: when a slot
// frees here, when this Manager queues work, when the store tells of queued
// work (QueueWatcher), when a retry or a delayed start (WithStartAfter)
// falls due, and on the maintenance tick.

// queueClaimBatch is the most queued records one claim takes when the Manager
// has no limit.
const queueClaimBatch = 64

// startMode is how start treats a new operation.
type startMode uint8

const (
	modeExternal startMode = iota // Create: nothing here runs it
	modeRun                       // a slot is free: run it now
	modeLocal                     // queue it here (a work function)
	modeStore                     // queue it in the store (a kind)
	modeRefuse                    // an accept-only Manager cannot run it
)

// localEntry is a work function waiting in the local queue.
type localEntry struct {
	name         string
	ctx          context.Context // the starting request's values, never cancelled
	work         WorkFunc
	stopDeadline func()
}

// workQueue is the Manager's bookkeeping of slots and queued work. Its
// fields are guarded by Manager.mu.
type workQueue struct {
	busy     int            // works running here, and slots reserved for claims
	kindBusy map[string]int // the same, per kind with a KindMaxRunning limit
	local    list.List      // of *localEntry, oldest first
	byName   map[string]*list.Element
	// pending holds the kinds that may have queued records in the store
	// this Manager could claim.
	pending map[string]bool
	due     dueTimes      // when queued work this Manager scheduled becomes claimable
	wake    chan struct{} // wakes queueLoop; capacity 1
	poked   atomic.Bool   // the store told of queued work (no lock needed)
}

func newWorkQueue() workQueue {
	return workQueue{
		kindBusy: make(map[string]int),
		byName:   make(map[string]*list.Element),
		pending:  make(map[string]bool),
		wake:     make(chan struct{}, 1),
	}
}

// wakeQueue makes queueLoop look for work to start. It never blocks.
func (m *Manager) wakeQueue() {
	select {
	case m.q.wake <- struct{}{}:
	default:
	}
}

// startMode decides how start treats new work of kind k (nil for a work
// function; nil work for Create). The caller holds m.mu.
func (m *Manager) startMode(work WorkFunc, k *kindInfo) startMode {
	switch {
	case work == nil:
		return modeExternal
	case m.cfg.maxRunning == 0:
		if k == nil {
			return modeRefuse
		}
		return modeStore
	case k != nil && k.maxGlobal > 0:
		return modeStore // only a claim can honour a cluster-wide limit
	case k == nil && m.q.local.Len() > 0:
		return modeLocal // first in, first out
	case m.hasSlot(k):
		return modeRun
	case k == nil:
		return modeLocal
	}
	return modeStore
}

// hasSlot reports whether work of kind k (nil for a work function) may
// start now. The caller holds m.mu.
func (m *Manager) hasSlot(k *kindInfo) bool {
	if m.cfg.maxRunning >= 0 && m.q.busy >= m.cfg.maxRunning {
		return false
	}
	return k == nil || k.maxRunning == 0 || m.q.kindBusy[k.name] < k.maxRunning
}

// reserve takes a slot for work of kind k. The caller holds m.mu.
func (m *Manager) reserve(k *kindInfo) {
	m.q.busy++
	if k != nil && k.maxRunning > 0 {
		m.q.kindBusy[k.name]++
	}
}

// release gives back a slot taken by reserve, and wakes queueLoop when
// work may be waiting for it. The caller holds m.mu.
func (m *Manager) release(k *kindInfo) {
	m.q.busy--
	if k != nil && k.maxRunning > 0 {
		m.q.kindBusy[k.name]--
	}
	if m.q.local.Len() > 0 || len(m.q.pending) > 0 {
		m.wakeQueue()
	}
}

// freeSlot gives back the slot of task t once its work has returned, so
// that queued work starts while the result is still being written: a limit
// counts work that runs, not the write of its result. For a kind with a
// global limit the store still counts the operation as running until the
// write is done; endTask tells the other replicas then (freedGlobalSlot).
func (m *Manager) freeSlot(t *task) {
	if m.cfg.maxRunning < 0 && (t.k == nil || t.k.maxRunning == 0) {
		return // no limit counts it: endTask releases it, with no extra lock here
	}
	m.mu.Lock()
	m.freeSlotLocked(t)
	m.mu.Unlock()
}

// freeSlotLocked is freeSlot for a caller holding m.mu; it releases the
// slot once, whichever of run and endTask comes first.
func (m *Manager) freeSlotLocked(t *task) {
	if !t.slotFreed {
		t.slotFreed = true
		m.release(t.k)
	}
}

// refuseAcceptOnly is the error of Start on an accept-only Manager.
func (m *Manager) refuseAcceptOnly() error {
	return m.errorf(codes.FailedPrecondition, ReasonAcceptOnly, nil, "lro: Start: this replica is accept-only (WithMaxRunning(0)) and a work function cannot run on another replica; use a registered kind (StartKind)")
}

// enqueue puts a stored, queued work function at the back of the local
// queue.
func (m *Manager) enqueue(ctx context.Context, r *Record, work WorkFunc) {
	e := &localEntry{name: r.Operation.GetName(), ctx: context.WithoutCancel(ctx), work: work}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		// Close has taken the queue already; end this one as it does.
		go m.abandonQueued(m.abandonCtx, e.name)
		return
	}
	e.stopDeadline = m.armDeadline(e.name, r.Deadline, false)
	m.q.byName[e.name] = m.q.local.PushBack(e)
	m.obs.enqueued(ctx, "")
	m.wakeQueue()
}

// dropQueued forgets a local queue entry, after its operation was
// cancelled, deleted or timed out.
func (m *Manager) dropQueued(name string) {
	m.mu.Lock()
	el := m.q.byName[name]
	if el != nil {
		m.q.local.Remove(el)
		delete(m.q.byName, name)
	}
	m.mu.Unlock()
	if el != nil {
		el.Value.(*localEntry).stopDeadline()
		m.obs.dequeued(context.Background(), "")
	}
}

// queueLoop starts queued work whenever it is woken, until Close.
func (m *Manager) queueLoop() {
	defer m.bg.Done()
	var timer Timer
	for {
		var due <-chan time.Time
		m.mu.Lock()
		next := m.q.due.next()
		m.mu.Unlock()
		if !next.IsZero() {
			timer = m.clock.NewTimer(next.Sub(m.now()))
			due = timer.C()
		}
		select {
		case <-m.closing:
			if timer != nil {
				timer.Stop()
			}
			return
		case <-m.q.wake:
			if m.q.poked.Swap(false) {
				m.mu.Lock()
				m.markPending()
				m.mu.Unlock()
			}
		case <-due:
			m.mu.Lock()
			if m.q.due.popDue(m.now()) {
				m.markPending()
			}
			m.mu.Unlock()
		}
		if timer != nil {
			timer.Stop()
			timer = nil
		}
		m.dispatch(m.abandonCtx)
	}
}

// markPending notes that any registered kind may have queued records in
// the store. The caller holds m.mu.
func (m *Manager) markPending() {
	for name := range m.kinds {
		m.q.pending[name] = true
	}
}

// pokeQueue is the QueueWatcher callback and the periodic fallback: queued
// work may wait in the store. It takes no lock, as a store may call it
// under its own.
func (m *Manager) pokeQueue() {
	m.q.poked.Store(true)
	m.wakeQueue()
}

// dispatch starts queued work while slots are free, alternating between
// the local queue and claims from the store so that neither starves.
func (m *Manager) dispatch(ctx context.Context) {
	for {
		local := m.startLocal(ctx)
		claimed := m.claimQueued(ctx)
		if !local && claimed == 0 {
			return
		}
	}
}

// startLocal starts the oldest work function of the local queue if a slot
// is free, and reports whether it took one from the queue.
func (m *Manager) startLocal(ctx context.Context) bool {
	m.mu.Lock()
	front := m.q.local.Front()
	if m.closed || m.leaseLost || front == nil || !m.hasSlot(nil) {
		m.mu.Unlock()
		return false
	}
	e := m.q.local.Remove(front).(*localEntry)
	delete(m.q.byName, e.name)
	m.reserve(nil)
	t := m.newTask(e.ctx, e.name, nil)
	m.mu.Unlock()
	e.stopDeadline()
	m.obs.dequeued(ctx, "")

	now := m.now()
	r, err := m.store.Update(ctx, e.name, func(cur *Record) error {
		if !cur.Queued() || cur.Owner != m.cfg.owner {
			return ErrLeaseLost // cancelled, timed out, deleted or taken over
		}
		cur.StartTime = now
		cur.Attempt++
		cur.UpdateTime = now
		return nil
	})
	if err != nil {
		m.endTask(t)
		return true
	}
	m.launch(t, e.work, r)
	return true
}

// claimQueued claims as many queued records from the store as this
// Manager has free slots for, starts them, and returns how many.
func (m *Manager) claimQueued(ctx context.Context) int {
	m.mu.Lock()
	if m.closed || len(m.q.pending) == 0 || m.cfg.maxRunning == 0 {
		clear(m.q.pending) // an accept-only or closed Manager claims nothing
		m.mu.Unlock()
		return 0
	}
	if m.leaseLost {
		m.mu.Unlock()
		return 0 // the maintenance tick pokes the queue once the lease is back
	}
	free := queueClaimBatch
	if m.cfg.maxRunning > 0 {
		free = min(free, m.cfg.maxRunning-m.q.busy)
	}
	kinds := make(map[string]int, len(m.q.pending))
	var global map[string]int
	for name := range m.q.pending {
		k := m.kinds[name]
		n := free
		if k.maxRunning > 0 {
			n = min(n, k.maxRunning-m.q.kindBusy[name])
		}
		if n <= 0 {
			continue
		}
		kinds[name] = n
		if k.maxGlobal > 0 {
			if global == nil {
				global = make(map[string]int)
			}
			global[name] = k.maxGlobal
		}
	}
	if free <= 0 || len(kinds) == 0 {
		m.mu.Unlock()
		return 0
	}
	// Reserve the slots while the claim runs, so that Start cannot take them.
	m.q.busy += free
	for name, n := range kinds {
		if m.kinds[name].maxRunning > 0 {
			m.q.kindBusy[name] += n
		}
	}
	m.mu.Unlock()

	now := m.now()
	recs, err := m.store.ClaimQueued(ctx, QueueClaimParams{
		Owner: m.cfg.owner, Now: now, Kinds: kinds, GlobalLimits: global, Limit: free,
	})
	if err != nil {
		m.log.Warn("lro: claiming queued operations", "error", err)
	}

	m.mu.Lock()
	m.q.busy -= free
	got := make(map[string]int, len(kinds))
	tasks := make([]*task, len(recs))
	for i, r := range recs {
		k := m.kinds[r.Kind]
		got[r.Kind]++
		m.q.busy++
		tasks[i] = m.newTask(context.Background(), r.Operation.GetName(), k)
	}
	for name, n := range kinds {
		k := m.kinds[name]
		if k.maxRunning > 0 {
			m.q.kindBusy[name] += got[name] - n
		}
		if err == nil && got[name] < n && len(recs) < free {
			delete(m.q.pending, name) // none left that this Manager may claim
		}
	}
	m.mu.Unlock()

	_, polled := m.store.(Poller)
	for i, r := range recs {
		t := tasks[i]
		if !polled {
			// A cancellation between the claim and the watch found no task.
			if cur, err := m.store.Get(ctx, t.name); err == nil && cur.CancelRequested {
				t.cancel(errCancelled)
			}
		}
		m.launch(t, kindWork(t.k, r.Request), r)
	}
	return len(recs)
}

// abandonQueued ends a work function that Close found still queued here.
func (m *Manager) abandonQueued(ctx context.Context, name string) {
	_, err := m.store.Update(ctx, name, func(cur *Record) error {
		if !cur.Queued() || cur.Owner != m.cfg.owner {
			return errNoChange
		}
		m.endRecord(cur, failed(m.newStatus(codes.Unavailable, ReasonServerShutdown, map[string]string{ErrorKeyOperation: name}, "operation abandoned: the server shut down before its work started")))
		return nil
	})
	if err != nil && err != errNoChange {
		m.log.Warn("lro: ending a queued operation at close", "operation", name, "error", err)
	}
}

// takeLocal empties the local queue and returns its entries. The caller
// holds m.mu.
func (m *Manager) takeLocal() []*localEntry {
	out := make([]*localEntry, 0, m.q.local.Len())
	for el := m.q.local.Front(); el != nil; el = el.Next() {
		out = append(out, el.Value.(*localEntry))
		m.obs.dequeued(context.Background(), "")
	}
	m.q.local.Init()
	clear(m.q.byName)
	return out
}

// startedSinceRegistration reports whether r, held by this owner id,
// started under the current registration (a claim from the queue that may
// not have registered its task yet): it is no orphan to take back.
func (m *Manager) startedSinceRegistration(r *Record) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !r.StartTime.IsZero() && !r.StartTime.Before(m.registeredAt)
}

// freedGlobalSlot tells every replica that work of a kind with a global
// limit ended here, so one of them may claim queued work of the kind.
func (m *Manager) freedGlobalSlot() {
	qw, ok := m.store.(QueueWatcher)
	if !ok {
		m.pokeQueue() // at least this Manager looks again
		return
	}
	if err := qw.NotifyQueue(m.abandonCtx); err != nil {
		m.log.Warn("lro: notifying the queue; other replicas look again on their next tick", "error", err)
	}
}
