package lro

import (
	"context"
	"errors"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
)

// sweepLoop removes expired operations every sweep period.
func (m *Manager) sweepLoop() {
	defer m.bg.Done()
	t := m.clock.NewTimer(m.cfg.sweepPeriod)
	for {
		select {
		case <-m.closing:
			t.Stop()
			return
		case <-t.C():
		}
		n := m.sweep(m.abandonCtx)
		// Armed before the test hook runs (see waitPollLoop).
		t = m.clock.NewTimer(m.cfg.sweepPeriod)
		if m.afterSweep != nil {
			m.afterSweep(n)
		}
	}
}

// sweep deletes expired operations in batches and returns how many.
func (m *Manager) sweep(ctx context.Context) int {
	total := 0
	for {
		n, err := m.store.DeleteExpired(ctx, m.now(), sweepBatch)
		m.obs.storeError(ctx, storeDeleteExpired, err)
		total += n
		if err != nil {
			m.log.Warn("lro: removing expired operations", "error", err)
			return total
		}
		if n < sweepBatch {
			return total
		}
	}
}

// leaseLoop renews the owner lease every third of the lease, takes over
// operations whose owner stopped renewing, and, for stores whose
// notifications can be lost, re-checks running work for cancellation
// every poll interval. On every tick it checks that the owner lease has
// not run out unrenewed, and after a failed round it tries again on the
// next tick.
func (m *Manager) leaseLoop() {
	defer m.bg.Done()
	renewEvery := m.cfg.lease / 3
	tick := renewEvery
	p, polled := m.store.(Poller)
	if polled && p.PollInterval() > 0 {
		tick = min(tick, p.PollInterval())
	}
	// Renew at least every third of the lease, on a tick.
	ticksPerRenew := max(1, int(renewEvery/tick))
	ticks := 0
	t := m.clock.NewTimer(tick)
	for {
		select {
		case <-m.stopBG:
			t.Stop()
			return
		case <-t.C():
		}
		if m.holdsLease() {
			m.checkLeaseDeadline()
		}
		if polled {
			m.checkCancels(m.abandonCtx)
		}
		if ticks++; ticks >= ticksPerRenew {
			ticks = 0
			if !m.maintain(m.abandonCtx) {
				ticks = ticksPerRenew - 1 // try again on the next tick
			}
		}
		// Armed before the test hook runs (see waitPollLoop).
		t = m.clock.NewTimer(tick)
		if m.afterMaintain != nil {
			m.afterMaintain()
		}
	}
}

// claimBatch is the most operations one claim (or one page of the
// operations an owner id held before) takes over.
const claimBatch = 100

// maintain renews the owner lease, or registers the owner id again once
// it was lost, and takes over orphans: those this owner id held before
// its registration or holds after a Start whose Create failed (see
// recheckOwned), and those whose owner's lease lapsed. It reports
// whether the Manager holds its lease.
func (m *Manager) maintain(ctx context.Context) bool {
	if m.holdsLease() {
		if !m.renewLease(ctx) {
			return false
		}
	} else if !m.regainLease(ctx) {
		return false
	}
	if m.isClosing() {
		return true // a closing Manager takes on no new work
	}
	m.mu.Lock()
	recheck := m.recheckOwned
	m.recheckOwned = nil
	m.mu.Unlock()
	if m.reclaimPending {
		m.goReclaim()
	}
	if len(recheck) > 0 {
		m.goRecheck(recheck)
	}
	claimed, err := m.store.ClaimExpired(ctx, ClaimParams{Owner: m.cfg.owner, Now: m.now(), Limit: claimBatch})
	if err != nil {
		m.obs.storeError(ctx, storeClaimExpired, err)
		m.log.Warn("lro: claiming orphaned operations", "error", err)
	}
	m.adoptAll(ctx, claimed)
	m.expireOverdue(ctx)
	m.pokeQueue() // the fallback for lost queue notifications and others' retries
	return true
}

// checkCancels re-reads the running operations for cancellation requests
// whose notification may have been lost: in one query when the store is a
// CancelRequestLister, otherwise one read per running operation.
func (m *Manager) checkCancels(ctx context.Context) {
	m.mu.Lock()
	idle := len(m.running) == 0
	m.mu.Unlock()
	if idle {
		return
	}
	if cl, ok := m.store.(CancelRequestLister); ok {
		names, err := cl.ListCancelRequests(ctx, m.cfg.owner)
		if err != nil {
			m.obs.storeError(ctx, storeListCancelRequests, err)
			m.log.Warn("lro: checking for cancellations", "error", err)
			return
		}
		m.mu.Lock()
		for _, n := range names {
			if t := m.running[n]; t != nil {
				t.cancel(errCancelled)
			}
		}
		m.mu.Unlock()
		return
	}
	m.mu.Lock()
	tasks := make([]*task, 0, len(m.running))
	for _, t := range m.running {
		tasks = append(tasks, t)
	}
	m.mu.Unlock()
	for _, t := range tasks {
		r, err := m.store.Get(ctx, t.name)
		m.obs.storeError(ctx, storeGet, err)
		if err == nil && r.CancelRequested {
			t.cancel(errCancelled)
		}
	}
}

// adoptParallel is how many claimed operations the lease loop takes over
// at once.
const adoptParallel = 16

// adoptAll takes over the claimed operations (see adopt), up to
// adoptParallel at a time, and returns when it has taken over every one.
// Taking them over together rather than one after another lets the store
// write them together (pgstore batches concurrent writes into one
// commit), so the lease loop is back to renewing sooner.
func (m *Manager) adoptAll(ctx context.Context, recs []*Record) {
	if len(recs) == 1 {
		m.adopt(ctx, recs[0])
		return
	}
	sem := make(chan struct{}, adoptParallel)
	var wg sync.WaitGroup
	for _, r := range recs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			m.adopt(ctx, r)
		}()
	}
	wg.Wait()
}

// adopt takes over an operation whose owner was lost, as r shows it:
// registered work runs again, here if this Manager's limits leave it a
// slot, otherwise wherever one frees (requeueOrphan); anything else ends
// with UNAVAILABLE. Each happens only while the operation is still at r's
// run and this Manager's, so two adopters never both run it.
func (m *Manager) adopt(ctx context.Context, r *Record) {
	name := r.Operation.GetName()
	m.mu.Lock()
	if m.running[name] != nil || m.q.byName[name] != nil {
		m.mu.Unlock()
		return // ours all along: it runs or waits queued here
	}
	if m.leaseLost {
		m.mu.Unlock()
		return // left for whoever holds its owner's lease next
	}
	k := m.kinds[r.Kind]
	if r.Kind == "" || k == nil || r.Request == nil || r.CancelRequested || m.closed {
		m.mu.Unlock()
		if m.abandonOrphan(ctx, r) {
			m.obs.takeover(ctx, r.Kind)
		}
		return
	}
	if !m.hasSlot(k) {
		// Running it here would break this Manager's limits (an
		// accept-only one runs nothing): it waits in the queue instead,
		// for whichever replica has a free slot.
		m.mu.Unlock()
		m.requeueOrphan(ctx, r, k)
		return
	}
	m.reserve(k)
	t := m.newTask(context.Background(), name, k)
	m.mu.Unlock()

	now := m.now()
	cur, err := m.store.Update(ctx, name, func(cur *Record) error {
		if cur.Owner != m.cfg.owner || cur.Attempt != r.Attempt || cur.Done() {
			return ErrLeaseLost
		}
		cur.Attempt++
		cur.StartTime = now
		cur.UpdateTime = now
		return nil
	})
	m.obs.storeError(ctx, storeUpdate, err)
	if err != nil {
		m.endTask(t)
		return
	}
	// Counted once the take-over is written: the same orphan may reach
	// adopt twice (a claim and the reclaim of the owner id's leftovers),
	// and only one of them takes it.
	m.obs.takeover(ctx, r.Kind)
	m.launch(t, kindWork(k, r.Request), cur)
}

// requeueOrphan puts an orphan of registered kind k, which adopt took over
// but has no free slot for, back in the queue: unowned and not started, so
// that whichever replica registered k and has a free slot claims it (as
// the next attempt), oldest first, as it does queued work.
func (m *Manager) requeueOrphan(ctx context.Context, r *Record, k *kindInfo) {
	name := r.Operation.GetName()
	now := m.now()
	_, err := m.store.Update(ctx, name, func(cur *Record) error {
		if cur.Owner != m.cfg.owner || cur.Attempt != r.Attempt || cur.Done() {
			return ErrLeaseLost
		}
		cur.Owner = ""
		cur.StartTime = time.Time{}
		cur.UpdateTime = now
		return nil
	})
	m.obs.storeError(ctx, storeUpdate, err)
	if err != nil {
		if !errors.Is(err, ErrLeaseLost) && !errors.Is(err, ErrNotFound) {
			// This owner id may hold it, running nowhere: the next
			// lease round looks again (goRecheck).
			m.log.Warn("lro: queueing an orphaned operation again; the next lease round tries again",
				"operation", name, "previous_owner", r.Owner, "error", err)
			m.mu.Lock()
			m.recheckOwned = append(m.recheckOwned, name)
			m.mu.Unlock()
		}
		return
	}
	m.obs.takeover(ctx, r.Kind)
	m.mu.Lock()
	m.q.pending[k.name] = true
	m.mu.Unlock()
	m.wakeQueue()
}

// abandonOrphan ends an operation whose owner was lost and that cannot be
// run again here. It reports whether it ended it.
func (m *Manager) abandonOrphan(ctx context.Context, r *Record) bool {
	prev := r.Owner
	ended, err := m.store.Update(ctx, r.Operation.GetName(), func(cur *Record) error {
		if cur.Owner != m.cfg.owner || cur.Attempt != r.Attempt || cur.Done() {
			return ErrLeaseLost
		}
		name := cur.Operation.GetName()
		st := m.newStatus(codes.Unavailable, ReasonOperationAbandoned, map[string]string{ErrorKeyOperation: name}, "operation abandoned: the replica running it stopped renewing its lease")
		if cur.CancelRequested {
			st = m.cancelledStatus(name)
		}
		m.endRecord(cur, failed(st))
		return nil
	})
	m.obs.storeError(ctx, storeUpdate, err)
	m.obs.ended(ctx, ended, err)
	if err != nil && !errors.Is(err, ErrLeaseLost) && !errors.Is(err, ErrNotFound) {
		m.log.Warn("lro: ending an orphaned operation", "operation", r.Operation.GetName(), "previous_owner", prev, "error", err)
	}
	return err == nil
}
