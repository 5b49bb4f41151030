package lro

import (
	"context"
	"fmt"
	"sync"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/btree"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// MemoryStore is the in-memory Store, the default of a Manager. It keeps
// each operation as its protobuf encoding, so a retained operation costs
// little more than its wire size. Operations are lost when the process
// exits; use package pgstore to keep them.
type MemoryStore struct {
	mu       sync.RWMutex
	version  int64
	recs     map[string]*memSlot
	all      *btree.BTreeG[*memSlot]            // every record, in List order
	byParent map[string]*btree.BTreeG[*memSlot] // per parent, in List order
	expiry   *btree.BTreeG[*memRec]             // done records by ExpireTime
	owned    map[string]map[*memRec]struct{}    // running records by Owner
	owners   map[string]memLease                // owner leases (RegisterOwner)
	requests map[requestKey]*memRec
	queued   *btree.BTreeG[*memRec] // claimable records, oldest first (memqueue.go)
	q        memQueue

	wmu      sync.Mutex // guards watchers; taken after mu when both are
	watchers map[string]*memWatcher

	betweenChunks func() // test hook: List calls it between chunks, unlocked
}

// memRec is a stored record: the bookkeeping fields of Record, with the
// Operation kept as its encoding.
type memRec struct {
	name string
	rec  Record // Operation is always nil here
	op   []byte
	done bool
}

// memSlot is a record's place in the List indexes. Its key (create time and
// name) never changes, so an update swaps cur and leaves the trees alone.
type memSlot struct {
	name       string
	createTime time.Time
	parent     string
	cur        *memRec // guarded by MemoryStore.mu
}

type requestKey struct{ parent, id string }

// memWatcher is one Watch call, in a list per name.
type memWatcher struct {
	s    *MemoryStore
	name string
	fn   func(Event)
	next *memWatcher
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty in-memory Store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		recs:     make(map[string]*memSlot),
		all:      btree.NewG(32, listLess),
		byParent: make(map[string]*btree.BTreeG[*memSlot]),
		expiry:   btree.NewG(32, expiryLess),
		owned:    make(map[string]map[*memRec]struct{}),
		owners:   make(map[string]memLease),
		requests: make(map[requestKey]*memRec),
		queued:   btree.NewG(32, queueLess),
		watchers: make(map[string]*memWatcher),
	}
}

// listLess orders records newest first, ties broken by ascending name.
func listLess(a, b *memSlot) bool {
	if !a.createTime.Equal(b.createTime) {
		return a.createTime.After(b.createTime)
	}
	return a.name < b.name
}

func expiryLess(a, b *memRec) bool {
	if !a.rec.ExpireTime.Equal(b.rec.ExpireTime) {
		return a.rec.ExpireTime.Before(b.rec.ExpireTime)
	}
	return a.name < b.name
}

// encodeOp returns the stored encoding of op. An operation that cannot be
// encoded (a string that is not valid UTF-8) is INVALID_ARGUMENT: writing
// it again would fail again.
func encodeOp(op *longrunningpb.Operation) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(op)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, validText(fmt.Sprintf("lro: encoding operation %q: %v", op.GetName(), err)))
	}
	return b, nil
}

// encodeRecord turns a caller's record into a stored one.
func encodeRecord(r *Record) (*memRec, error) {
	op := r.Operation
	if op == nil {
		return nil, status.Error(codes.InvalidArgument, "lro: the record has no operation")
	}
	b, err := encodeOp(op)
	if err != nil {
		return nil, err
	}
	m := &memRec{name: op.GetName(), rec: *r, op: b, done: op.GetDone()}
	m.rec.Operation = nil
	if r.Request != nil {
		m.rec.Request = proto.Clone(r.Request).(*anypb.Any)
	}
	return m, nil
}

// decode returns a caller-owned copy of a stored record.
func (m *memRec) decode() (*Record, error) {
	op := new(longrunningpb.Operation)
	if err := proto.Unmarshal(m.op, op); err != nil {
		return nil, fmt.Errorf("lro: decoding operation %q: %w", m.name, err)
	}
	r := m.rec.Clone() // Operation is nil in m.rec, so this copies Request only
	r.Operation = op
	return r, nil
}

func (s *MemoryStore) event(m *memRec, deleted bool) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	w := s.watchers[m.name]
	if w == nil {
		return
	}
	ev := Event{Name: m.name, Done: m.done, CancelRequested: m.rec.CancelRequested, Deleted: deleted}
	if !deleted {
		ev.Owner = m.rec.Owner
	}
	for ; w != nil; w = w.next {
		w.fn(ev)
	}
}

// index adds a new record to every index. The caller holds s.mu.
func (s *MemoryStore) index(m *memRec) {
	slot := &memSlot{name: m.name, createTime: m.rec.CreateTime, parent: m.rec.Parent, cur: m}
	s.recs[m.name] = slot
	s.all.ReplaceOrInsert(slot)
	t := s.byParent[slot.parent]
	if t == nil {
		t = btree.NewG(32, listLess)
		s.byParent[slot.parent] = t
	}
	t.ReplaceOrInsert(slot)
	s.indexVersion(m)
}

// indexVersion adds one version of a record to the indexes whose keys
// change with it. The caller holds s.mu.
func (s *MemoryStore) indexVersion(m *memRec) {
	if m.done {
		if !m.rec.ExpireTime.IsZero() {
			s.expiry.ReplaceOrInsert(m)
		}
	} else if m.rec.Owner != "" {
		o := s.owned[m.rec.Owner]
		if o == nil {
			o = make(map[*memRec]struct{})
			s.owned[m.rec.Owner] = o
		}
		o[m] = struct{}{}
	}
	if m.rec.RequestID != "" {
		s.requests[requestKey{m.rec.Parent, m.rec.RequestID}] = m
	}
	s.indexQueue(m)
}

// unindexVersion undoes indexVersion. The caller holds s.mu.
func (s *MemoryStore) unindexVersion(m *memRec) {
	s.unindexQueue(m)
	if m.done && !m.rec.ExpireTime.IsZero() {
		s.expiry.Delete(m)
	}
	if o := s.owned[m.rec.Owner]; o != nil {
		delete(o, m)
		if len(o) == 0 {
			delete(s.owned, m.rec.Owner)
		}
	}
	if m.rec.RequestID != "" {
		k := requestKey{m.rec.Parent, m.rec.RequestID}
		if s.requests[k] == m {
			delete(s.requests, k)
		}
	}
}

// unindex removes a record from every index. The caller holds s.mu.
func (s *MemoryStore) unindex(slot *memSlot) {
	delete(s.recs, slot.name)
	s.all.Delete(slot)
	if t := s.byParent[slot.parent]; t != nil {
		t.Delete(slot)
		if t.Len() == 0 {
			delete(s.byParent, slot.parent)
		}
	}
	s.unindexVersion(slot.cur)
}

// replace makes m the current version of slot's record. The List trees are
// keyed by create time and name, which an update keeps, so only the
// version indexes change. The caller holds s.mu.
func (s *MemoryStore) replace(slot *memSlot, m *memRec) {
	if !slot.createTime.Equal(m.rec.CreateTime) || slot.parent != m.rec.Parent {
		s.unindex(slot)
		s.index(m)
		return
	}
	s.unindexVersion(slot.cur)
	slot.cur = m
	s.indexVersion(m)
}

// write makes m, stamped with the next version, the current version of
// slot's record. The caller holds s.mu.
func (s *MemoryStore) write(slot *memSlot, m *memRec) {
	s.version++
	m.rec.Version = s.version
	s.replace(slot, m)
}

// slot returns the slot of the named record, or an error wrapping
// ErrNotFound that says what was being done. The caller holds s.mu.
func (s *MemoryStore) slot(name, doing string) (*memSlot, error) {
	slot := s.recs[name]
	if slot == nil {
		return nil, fmt.Errorf("%s %q: %w", doing, name, ErrNotFound)
	}
	return slot, nil
}

// Create implements Store.
func (s *MemoryStore) Create(ctx context.Context, rec *Record) (*Record, bool, error) {
	m, err := encodeRecord(rec)
	if err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	if m.rec.RequestID != "" {
		prev := s.requests[requestKey{m.rec.Parent, m.rec.RequestID}]
		if prev != nil && expiredAt(prev.done, prev.rec.ExpireTime, m.rec.CreateTime) {
			// Expired: it holds its request id no more.
			s.unindex(s.recs[prev.name])
			s.event(prev, true)
			prev = nil
		}
		if prev != nil {
			s.mu.Unlock()
			r, err := prev.decode()
			return r, false, err
		}
	}
	if _, ok := s.recs[m.name]; ok {
		s.mu.Unlock()
		return nil, false, fmt.Errorf("creating %q: %w", m.name, ErrAlreadyExists)
	}
	s.version++
	m.rec.Version = s.version
	s.index(m)
	s.mu.Unlock()
	// Stored versions are immutable, so decoding needs no lock.
	r, err := m.decode()
	return r, true, err
}

// Get implements Store.
func (s *MemoryStore) Get(ctx context.Context, name string) (*Record, error) {
	s.mu.RLock()
	slot, err := s.slot(name, "getting")
	var m *memRec
	if err == nil {
		m = slot.cur
	}
	s.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	// Stored records are immutable once indexed, so decoding outside the
	// lock is safe.
	return m.decode()
}

// Update implements Store.
func (s *MemoryStore) Update(ctx context.Context, name string, fn func(*Record) error) (*Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	slot, err := s.slot(name, "updating")
	if err != nil {
		return nil, err
	}
	r, err := slot.cur.decode()
	if err != nil {
		return nil, err
	}
	if err := fn(r); err != nil {
		return nil, err
	}
	if r.Operation.GetName() != name {
		return nil, fmt.Errorf("updating %q: the update renamed the operation to %q", name, r.Operation.GetName())
	}
	m, err := encodeRecord(r)
	if err != nil {
		return nil, err
	}
	s.write(slot, m)
	s.event(m, false)
	r.Version = m.rec.Version
	return r, nil
}

// Delete implements Store.
func (s *MemoryStore) Delete(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	slot, err := s.slot(name, "deleting")
	if err != nil {
		return err
	}
	m := slot.cur
	s.unindex(slot)
	s.event(m, true)
	return nil
}

// DeleteExpired implements Store.
func (s *MemoryStore) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var gone []*memRec
	s.expiry.Ascend(func(m *memRec) bool {
		if len(gone) >= limit || m.rec.ExpireTime.After(now) {
			return false
		}
		gone = append(gone, m)
		return true
	})
	for _, m := range gone {
		s.unindex(s.recs[m.name])
		s.event(m, true)
	}
	return len(gone), nil
}

// Watch implements Store. Events are delivered synchronously, in commit
// order, before the writing call returns. stop may be called more than
// once.
func (s *MemoryStore) Watch(name string, fn func(Event)) (stop func()) {
	w := &memWatcher{s: s, name: name, fn: fn}
	s.wmu.Lock()
	w.next = s.watchers[name]
	s.watchers[name] = w
	s.wmu.Unlock()
	return w.stop
}

func (w *memWatcher) stop() {
	s := w.s
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var prev *memWatcher
	for p := s.watchers[w.name]; p != nil; prev, p = p, p.next {
		if p != w {
			continue
		}
		switch {
		case prev != nil:
			prev.next = p.next
		case p.next != nil:
			s.watchers[w.name] = p.next
		default:
			delete(s.watchers, w.name)
		}
		return
	}
}

var _ Finisher = (*MemoryStore)(nil)

// Finish implements Finisher: it stores op without decoding the record.
func (s *MemoryStore) Finish(ctx context.Context, p FinishParams) error {
	op := p.Operation
	name := op.GetName()
	b, err := encodeOp(op)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	slot, err := s.slot(name, "finishing")
	if err != nil {
		return err
	}
	cur := slot.cur
	if cur.done || cur.rec.Owner != p.Owner || cur.rec.Attempt != p.Attempt {
		return fmt.Errorf("finishing %q: %w", name, ErrNotOwner)
	}
	m := &memRec{name: name, rec: cur.rec, op: b, done: op.GetDone()}
	m.rec.settle(p.UpdateTime, p.ExpireTime)
	s.write(slot, m)
	s.event(m, false)
	return nil
}
