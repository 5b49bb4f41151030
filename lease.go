package lro

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The Manager's owner lease: one lease in the store under its owner id,
// which every operation it runs shares (see Store.RegisterOwner). New
// registers it, the lease loop renews it every third of the lease, and
// Close releases it. When it is lost, the Manager cancels all its work,
// waits for that work to end, and registers again.

// leaseCallTimeout bounds the store calls that register and release the
// owner lease, which New and Close make without a caller's context.
const leaseCallTimeout = 10 * time.Second

// The causes of work cancelled because the owner lease was lost.
var (
	errLeaseLapsed = fmt.Errorf("%w: the store found this replica's owner lease lapsed when it came to renew it", ErrLeaseLost)
	errLeaseRanOut = fmt.Errorf("%w: this replica could not renew its owner lease before it ran out", ErrLeaseLost)
)

// leaseParams are the arguments of the owner lease calls for token, at now.
func (m *Manager) leaseParams(token string, now time.Time) LeaseParams {
	return LeaseParams{Owner: m.cfg.owner, Token: token, Now: now, Lease: m.cfg.lease}
}

// register takes the owner id under a new registration token. It fails,
// naming the id, when another live Manager holds it. New calls it before
// the lease loop starts; afterwards only the lease loop does.
func (m *Manager) register(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, leaseCallTimeout)
	defer cancel()
	token := newID()
	sent := m.now()
	if err := m.store.RegisterOwner(ctx, m.leaseParams(token, sent)); err != nil {
		if errors.Is(err, ErrOwnerTaken) {
			return fmt.Errorf("lro: owner id %q is taken: another live Manager holds it on this store, until it closes or its lease lapses: %w", m.cfg.owner, err)
		}
		return fmt.Errorf("lro: registering owner id %q: %w", m.cfg.owner, err)
	}
	m.leaseToken = token
	m.mu.Lock()
	m.registeredAt = sent
	m.mu.Unlock()
	// The store's lease began no earlier than sent, so by this Manager's
	// clock it lasts at least until sent plus the lease.
	m.leaseDeadline = sent.Add(m.cfg.lease)
	// Taken back at the next round, by when the host has registered its
	// kinds.
	m.reclaimPending = true
	return nil
}

// renewLease renews the owner lease and reports whether the Manager still
// holds it. A renewal that fails only for now is retried on the next
// round, unless the lease ran out meanwhile.
func (m *Manager) renewLease(ctx context.Context) bool {
	sent := m.now()
	// A renewal that returns after the lease ran out is no use.
	ctx, cancel := context.WithTimeout(ctx, max(m.leaseDeadline.Sub(sent), time.Millisecond))
	err := m.store.RenewLeases(ctx, m.leaseParams(m.leaseToken, sent))
	cancel()
	switch {
	case err == nil:
		m.leaseDeadline = sent.Add(m.cfg.lease)
		return true
	case errors.Is(err, ErrLeaseLost):
		m.loseLease(errLeaseLapsed)
		return false
	}
	m.log.Warn("lro: renewing the owner lease", "owner", m.cfg.owner, "error", err)
	m.checkLeaseDeadline()
	return false
}

// checkLeaseDeadline gives the owner lease up once it has run out by the
// Manager's clock without a renewal: another replica may have claimed any
// of its operations since.
func (m *Manager) checkLeaseDeadline() {
	if !m.now().Before(m.leaseDeadline) {
		m.loseLease(errLeaseRanOut)
	}
}

// holdsLease reports whether the Manager holds its owner lease, as far as
// it knows.
func (m *Manager) holdsLease() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.leaseLost
}

// loseLease records that the owner lease is lost and cancels all the work
// running here, with cause (which wraps ErrLeaseLost): any of it may be
// running on another replica by now. Starts of work fail until the
// Manager holds its lease again.
func (m *Manager) loseLease(cause error) {
	m.mu.Lock()
	if m.leaseLost {
		m.mu.Unlock()
		return
	}
	m.leaseLost = true
	n := len(m.running)
	for _, t := range m.running {
		t.cancel(cause)
	}
	m.mu.Unlock()
	m.log.Error("lro: this replica lost its owner lease: its work is cancelled and other replicas may take its operations over",
		"owner", m.cfg.owner, "cause", cause, "cancelled", n)
}

// regainLease registers the owner id again once the work cancelled when
// the lease was lost has ended; the operations the id still holds are then
// taken back (goReclaim). It reports whether the Manager holds its lease.
func (m *Manager) regainLease(ctx context.Context) bool {
	m.mu.Lock()
	wait := len(m.running) > 0 || m.closed
	m.mu.Unlock()
	if wait {
		return false
	}
	if err := m.register(ctx); err != nil {
		m.log.Warn("lro: registering the owner id again after losing its lease", "owner", m.cfg.owner, "error", err)
		return false
	}
	m.mu.Lock()
	m.leaseLost = false
	m.mu.Unlock()
	m.log.Info("lro: this replica holds its owner lease again", "owner", m.cfg.owner)
	return true
}

// releaseLease ends the owner lease, so that the id may be registered again
// at once and the operations still held may be claimed. Close calls it
// once the loops have ended.
func (m *Manager) releaseLease() {
	ctx, cancel := context.WithTimeout(context.Background(), leaseCallTimeout)
	defer cancel()
	if err := m.store.ReleaseOwner(ctx, m.leaseParams(m.leaseToken, m.now())); err != nil {
		m.log.Warn("lro: releasing the owner id; it is free once its lease lapses", "owner", m.cfg.owner, "error", err)
	}
}

// goReclaim takes back, in the background, the operations that the owner
// id held before its registration: a registration runs none of them yet,
// so each is run again (registered work) or ended (see adopt). A previous
// process with the same id, or this Manager before it lost its lease, left
// them. The lease loop calls it in the first round after a registration.
func (m *Manager) goReclaim() {
	m.reclaimPending = false
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		after := ""
		for {
			recs, err := m.store.ListOwned(m.abandonCtx, OwnedQuery{Owner: m.cfg.owner, After: after, Limit: claimBatch})
			if err != nil {
				m.log.Warn("lro: listing the operations this owner id held before; other replicas take them over once its lease lapses",
					"owner", m.cfg.owner, "error", err)
				return
			}
			for _, r := range recs {
				if !m.holdsLease() || m.isClosing() {
					return // left for whoever holds the id, or for others
				}
				if m.startedSinceRegistration(r) {
					continue // claimed from the queue by this registration
				}
				m.adopt(m.abandonCtx, r)
			}
			if len(recs) < claimBatch {
				return
			}
			after = recs[len(recs)-1].Operation.GetName()
		}
	}()
}

// goRecheck takes back, in the background, the named operations if this
// owner id holds them, not done, and runs them nowhere (see adopt): Starts
// whose Create failed may have stored them all the same. Unlike goReclaim
// it looks at these operations only, since the current registration holds
// others it claimed from the queue whose tasks may not be registered yet.
func (m *Manager) goRecheck(names []string) {
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		for _, name := range names {
			if !m.holdsLease() || m.isClosing() {
				return // left for whoever holds the id, or for others
			}
			r, err := m.store.Get(m.abandonCtx, name)
			m.obs.storeError(m.abandonCtx, storeGet, err)
			switch {
			case errors.Is(err, ErrNotFound):
				continue // the Create failed indeed
			case err != nil:
				m.log.Warn("lro: reading an operation whose Start failed; other replicas take it over once this owner's lease lapses",
					"operation", name, "error", err)
				continue
			case r.Done() || r.Owner != m.cfg.owner:
				continue
			}
			m.adopt(m.abandonCtx, r)
		}
	}()
}

// isClosing reports whether Close has begun.
func (m *Manager) isClosing() bool {
	select {
	case <-m.closing:
		return true
	default:
		return false
	}
}
