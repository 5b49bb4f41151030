package lro

import (
	"context"
	"fmt"
	"strings"
)

// memListChunk is how many records List examines per hold of the read
// lock. Between chunks it lets writers in and resumes after the last
// record it examined, which keyset order makes safe.
const memListChunk = 256

// List implements Store. It holds the read lock for at most memListChunk
// records at a time, applies only the parent and Done conditions under it
// (Filter is left to the Manager), and decodes the records it returns
// after releasing it. A Filter that requires a name ("name = NAME AND
// ...") is the exception: List looks that one record up and ends the
// listing there, since no other can match.
func (s *MemoryStore) List(ctx context.Context, q ListQuery) (ListResult, error) {
	if q.Limit <= 0 {
		return ListResult{}, fmt.Errorf("lro: listing: Limit %d is not positive", q.Limit)
	}
	budget := q.Budget
	if budget <= 0 {
		budget = int(^uint(0) >> 1)
	}
	sc := memScan{q: q, after: q.After}
	if !q.AllParents && hasWildcard(q.Parent) {
		sc.pattern = strings.Split(q.Parent, "/")
	}
	if names := q.Filter.Parsed().Names(); len(names) > 0 {
		// Only the record of that name can match: look it up.
		s.mu.RLock()
		sc.lookup(s, names[0])
		s.mu.RUnlock()
		return sc.result()
	}
	for {
		if err := ctx.Err(); err != nil {
			return ListResult{}, fmt.Errorf("listing: %w", err)
		}
		s.mu.RLock()
		sc.chunk(s, min(memListChunk, budget-sc.examined))
		s.mu.RUnlock()
		if !sc.more || len(sc.found) == q.Limit || sc.examined >= budget {
			break
		}
		if s.betweenChunks != nil {
			s.betweenChunks()
		}
	}
	return sc.result()
}

// result is what the scan found, decoded. Stored versions are immutable,
// so decoding needs no lock.
func (sc *memScan) result() (ListResult, error) {
	res := ListResult{Examined: sc.examined, Records: make([]*Record, 0, len(sc.found))}
	if sc.more {
		res.Resume = sc.after
	}
	for _, m := range sc.found {
		r, err := m.decode()
		if err != nil {
			return ListResult{}, err
		}
		res.Records = append(res.Records, r)
	}
	return res, nil
}

// memScan is the state of one List call across the chunks it examines.
type memScan struct {
	q        ListQuery
	pattern  []string // the Parent's segments when it has a "-" one
	after    *Cursor  // the last record examined, or q.After
	examined int
	found    []*memRec
	more     bool // records follow after
}

// lookup examines the record named name, when it is one of the listing
// after the cursor: the listing of a filter that requires that name, which
// no other record can match. The caller holds s.mu for reading.
func (sc *memScan) lookup(s *MemoryStore, name string) {
	slot := s.recs[name]
	switch {
	case slot == nil:
		return
	case !sc.q.AllParents && sc.pattern == nil && slot.parent != sc.q.Parent:
		return
	case sc.after != nil && !sc.after.Precedes(slot.createTime, slot.name):
		return
	}
	sc.examined++
	m := slot.cur
	if sc.pattern != nil && !parentMatches(sc.pattern, slot.parent) {
		return
	}
	if sc.q.Done != nil && *sc.q.Done != m.done {
		return
	}
	sc.found = append(sc.found, m)
}

// chunk examines up to n more records, following after in List order.
// The caller holds s.mu for reading.
func (sc *memScan) chunk(s *MemoryStore, n int) {
	tree := s.all
	if !sc.q.AllParents && sc.pattern == nil {
		if tree = s.byParent[sc.q.Parent]; tree == nil {
			sc.more = false
			return
		}
	}
	sc.more = false
	seen := 0
	visit := func(slot *memSlot) bool {
		if sc.after != nil && !sc.after.Precedes(slot.createTime, slot.name) {
			return true
		}
		if seen == n || len(sc.found) == sc.q.Limit {
			sc.more = true // a record follows the last one examined
			return false
		}
		seen++
		sc.examined++
		sc.after = &Cursor{CreateTime: slot.createTime, Name: slot.name}
		m := slot.cur
		if sc.pattern != nil && !parentMatches(sc.pattern, slot.parent) {
			return true
		}
		if sc.q.Done != nil && *sc.q.Done != m.done {
			return true
		}
		sc.found = append(sc.found, m)
		return true
	}
	if sc.after != nil {
		tree.AscendGreaterOrEqual(&memSlot{name: sc.after.Name, createTime: sc.after.CreateTime}, visit)
	} else {
		tree.Ascend(visit)
	}
}

func hasWildcard(parent string) bool {
	for _, seg := range strings.Split(parent, "/") {
		if seg == "-" {
			return true
		}
	}
	return false
}

// parentMatches reports whether parent matches pattern, whose "-" segments
// match any one segment.
func parentMatches(pattern []string, parent string) bool {
	n := 0
	for len(parent) > 0 || n < len(pattern) {
		if n >= len(pattern) {
			return false
		}
		seg, rest, found := strings.Cut(parent, "/")
		if pattern[n] != "-" && pattern[n] != seg {
			return false
		}
		if pattern[n] == "-" && seg == "" {
			return false
		}
		n++
		parent = rest
		if !found {
			return n == len(pattern)
		}
	}
	return n == len(pattern)
}
