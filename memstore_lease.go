package lro

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The owner leases of the MemoryStore: one lease per owner, which all its
// records share, judged by the Manager's clock (LeaseParams.Now).

// memLease is an owner's lease: the registration holding it and when it
// runs out.
type memLease struct {
	token  string
	expire time.Time
}

// holdsLease reports whether owner holds an unexpired lease at now. The
// caller holds s.mu.
func (s *MemoryStore) holdsLease(owner string, now time.Time) bool {
	l, ok := s.owners[owner]
	return ok && !l.expire.Before(now)
}

// RegisterOwner implements Store, judging leases by p.Now.
func (s *MemoryStore) RegisterOwner(ctx context.Context, p LeaseParams) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holdsLease(p.Owner, p.Now) && s.owners[p.Owner].token != p.Token {
		return fmt.Errorf("registering owner %q: %w", p.Owner, ErrOwnerTaken)
	}
	s.owners[p.Owner] = memLease{token: p.Token, expire: p.Now.Add(p.Lease)}
	return nil
}

// RenewLeases implements Store, judging leases by p.Now: one map write,
// however many records the owner holds.
func (s *MemoryStore) RenewLeases(ctx context.Context, p LeaseParams) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.holdsLease(p.Owner, p.Now) || s.owners[p.Owner].token != p.Token {
		return fmt.Errorf("renewing the lease of %q: %w", p.Owner, ErrLeaseLost)
	}
	s.owners[p.Owner] = memLease{token: p.Token, expire: p.Now.Add(p.Lease)}
	return nil
}

// ReleaseOwner implements Store.
func (s *MemoryStore) ReleaseOwner(ctx context.Context, p LeaseParams) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.owners[p.Owner]; ok && l.token == p.Token {
		delete(s.owners, p.Owner)
	}
	return nil
}

// ClaimExpired implements Store, judging leases by p.Now.
func (s *MemoryStore) ClaimExpired(ctx context.Context, p ClaimParams) ([]*Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var claim []*memRec
	for owner, set := range s.owned {
		if len(claim) >= p.Limit {
			break
		}
		if s.holdsLease(owner, p.Now) {
			continue
		}
		for m := range set {
			if len(claim) >= p.Limit {
				break
			}
			claim = append(claim, m)
		}
	}
	out := make([]*Record, 0, len(claim))
	for _, m := range claim {
		// Stored records are immutable: replace rather than change.
		cp := *m
		cp.rec.Owner = p.Owner
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

// ListOwned implements Store.
func (s *MemoryStore) ListOwned(ctx context.Context, q OwnedQuery) ([]*Record, error) {
	if q.Limit <= 0 {
		return nil, nil
	}
	s.mu.RLock()
	var held []*memRec
	for m := range s.owned[q.Owner] {
		if q.After == "" || m.name > q.After {
			held = append(held, m)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(held, func(a, b *memRec) int { return strings.Compare(a.name, b.name) })
	held = held[:min(len(held), q.Limit)]
	out := make([]*Record, 0, len(held))
	for _, m := range held {
		// Stored versions are immutable, so decoding needs no lock.
		r, err := m.decode()
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
