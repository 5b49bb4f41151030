package lro

import (
	"context"
	"sync"
)

// The MemoryStore's queue: the queued records of registered kinds, oldest
// first, for ClaimQueued, and the records nobody holds that have a
// deadline, for its Overdue mode.

// queueLess orders queued records oldest first, ties by name.
func queueLess(a, b *memRec) bool {
	if !a.rec.CreateTime.Equal(b.rec.CreateTime) {
		return a.rec.CreateTime.Before(b.rec.CreateTime)
	}
	return a.name < b.name
}

// claimable reports whether m is a queued record of a kind that nobody
// holds.
func (m *memRec) claimable() bool {
	return !m.done && m.rec.Kind != "" && m.rec.Owner == "" && m.rec.StartTime.IsZero()
}

// memQueue is the MemoryStore's queue bookkeeping, guarded by
// MemoryStore.mu except for the watchers.
type memQueue struct {
	unheld map[*memRec]struct{} // not done, no Owner, with a Deadline

	wmu      sync.Mutex
	watchers map[*func()]struct{}
}

// indexQueue adds one version of a record to the queue indexes, and tells
// the queue watchers when it may be work to claim. The caller holds s.mu.
func (s *MemoryStore) indexQueue(m *memRec) {
	if m.claimable() {
		s.queued.ReplaceOrInsert(m)
	}
	if !m.done && m.rec.Owner == "" && !m.rec.Deadline.IsZero() {
		if s.q.unheld == nil {
			s.q.unheld = make(map[*memRec]struct{})
		}
		s.q.unheld[m] = struct{}{}
	}
	if m.claimable() {
		s.notifyQueue()
	}
}

// notifyQueue calls the queue watchers.
func (s *MemoryStore) notifyQueue() {
	s.q.wmu.Lock()
	defer s.q.wmu.Unlock()
	for fn := range s.q.watchers {
		(*fn)()
	}
}

// NotifyQueue implements QueueWatcher. It never fails.
func (s *MemoryStore) NotifyQueue(ctx context.Context) error {
	s.notifyQueue()
	return nil
}

// unindexQueue undoes indexQueue. The caller holds s.mu.
func (s *MemoryStore) unindexQueue(m *memRec) {
	if m.claimable() {
		s.queued.Delete(m)
	}
	delete(s.q.unheld, m)
}

var _ QueueWatcher = (*MemoryStore)(nil)

// WatchQueue implements QueueWatcher: fn is called, before the writing
// call returns, after a queued record of a kind is written, and on
// NotifyQueue.
func (s *MemoryStore) WatchQueue(fn func()) (stop func()) {
	p := &fn
	s.q.wmu.Lock()
	if s.q.watchers == nil {
		s.q.watchers = make(map[*func()]struct{})
	}
	s.q.watchers[p] = struct{}{}
	s.q.wmu.Unlock()
	return func() {
		s.q.wmu.Lock()
		delete(s.q.watchers, p)
		s.q.wmu.Unlock()
	}
}

// ClaimQueued implements Store.
func (s *MemoryStore) ClaimQueued(ctx context.Context, p QueueClaimParams) ([]*Record, error) {
	if p.Limit <= 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var claim []*memRec
	if p.Overdue {
		for m := range s.q.unheld {
			if len(claim) >= p.Limit {
				break
			}
			if !m.rec.Deadline.After(p.Now) {
				claim = append(claim, m)
			}
		}
	} else {
		claim = s.pickQueued(p)
	}
	out := make([]*Record, 0, len(claim))
	for _, m := range claim {
		cp := *m
		cp.rec.Owner = p.Owner
		if !p.Overdue {
			cp.rec.StartTime = p.Now
			cp.rec.Attempt++
		}
		s.write(s.recs[m.name], &cp)
		s.event(&cp, false)
		r, err := cp.decode()
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// pickQueued chooses the records ClaimQueued claims without Overdue. The
// caller holds s.mu.
func (s *MemoryStore) pickQueued(p QueueClaimParams) []*memRec {
	take := make(map[string]int, len(p.Kinds))
	for k, n := range p.Kinds {
		if g, ok := p.GlobalLimits[k]; ok {
			n = min(n, g-s.runningOfKind(k))
		}
		if n > 0 {
			take[k] = n
		}
	}
	var claim []*memRec
	if len(take) == 0 {
		return nil
	}
	s.queued.Ascend(func(m *memRec) bool {
		if len(claim) >= p.Limit || len(take) == 0 {
			return false
		}
		k := m.rec.Kind
		if take[k] > 0 && !m.rec.RunAfter.After(p.Now) {
			claim = append(claim, m)
			if take[k]--; take[k] == 0 {
				delete(take, k)
			}
		}
		return true
	})
	return claim
}

// runningOfKind counts the records of kind that run: not done, held, and
// started. The caller holds s.mu.
func (s *MemoryStore) runningOfKind(kind string) int {
	n := 0
	for _, set := range s.owned {
		for m := range set {
			if m.rec.Kind == kind && !m.rec.StartTime.IsZero() {
				n++
			}
		}
	}
	return n
}
