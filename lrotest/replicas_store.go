package lrotest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lrokit/lro"
)

// replicaStore is one replica's Store in the multi-replica scenarios: it
// wraps the Store under test so that a scenario can watch what the
// replica's Manager does and fail the replica in-process.
//
//   - watched, when not nil, receives the name of every Watch call, so a
//     scenario knows when the Manager has started waiting;
//   - frozen makes every RenewLeases fail, as for a replica whose
//     heartbeat stopped (a long pause, a network partition) but whose
//     other writes still reach the store;
//   - kill cuts the replica off for good, as for a process that died:
//     every call fails, and no event reaches its watchers;
//   - every operation it brings to done is counted in ended (shared by the
//     replicas of a scenario), so a scenario can tell that each operation
//     ended once, and by whom;
//   - finishes, when not nil, receives the result of every Finish call.
//
// It passes on every optional interface a Manager uses (lro.Finisher,
// lro.Poller, lro.NotifyHealth, lro.StateReader, lro.CancelRequestLister,
// lro.TokenSecreter, lro.QueueWatcher), with the behaviour of its absence
// when the wrapped store lacks it.
type replicaStore struct {
	lro.Store
	name     string
	watched  chan string
	finishes chan error
	ended    *endings
	frozen   atomic.Bool
	dead     atomic.Bool

	secretOnce sync.Once
	secret     []byte // the signing key when the store has none to share

	queueMu  sync.Mutex
	queueFns map[*func()]struct{} // WatchQueue callbacks when the store has none
}

var (
	_ lro.Finisher            = (*replicaStore)(nil)
	_ lro.Poller              = (*replicaStore)(nil)
	_ lro.NotifyHealth        = (*replicaStore)(nil)
	_ lro.StateReader         = (*replicaStore)(nil)
	_ lro.CancelRequestLister = (*replicaStore)(nil)
	_ lro.TokenSecreter       = (*replicaStore)(nil)
	_ lro.QueueWatcher        = (*replicaStore)(nil)
)

// errKilled is what every call to a killed replica's store returns.
var errKilled = errors.New("lrotest: this replica was killed (cut off from the store)")

// endings counts, per operation, the writes that brought it to done, and
// which replica made each.
type endings struct {
	mu sync.Mutex
	by map[string][]string
}

func newEndings() *endings { return &endings{by: map[string][]string{}} }

func (e *endings) add(name, replica string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.by[name] = append(e.by[name], replica)
}

// of returns the replicas that ended the named operation, in order.
func (e *endings) of(name string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.by[name]...)
}

// newReplicaStore wraps s as the replica called name, counting its endings
// in ended.
func newReplicaStore(s lro.Store, name string, ended *endings) *replicaStore {
	return &replicaStore{Store: s, name: name, ended: ended, queueFns: map[*func()]struct{}{}}
}

// kill cuts the replica off from the store for good.
func (r *replicaStore) kill() { r.dead.Store(true) }

// cut returns errKilled once the replica is killed.
func (r *replicaStore) cut() error {
	if r.dead.Load() {
		return errKilled
	}
	return nil
}

func (r *replicaStore) Create(ctx context.Context, rec *lro.Record) (*lro.Record, bool, error) {
	if err := r.cut(); err != nil {
		return nil, false, err
	}
	return r.Store.Create(ctx, rec)
}

func (r *replicaStore) Get(ctx context.Context, name string) (*lro.Record, error) {
	if err := r.cut(); err != nil {
		return nil, err
	}
	return r.Store.Get(ctx, name)
}

// Update passes on to the store, and counts an ending when the write it
// made brought the record to done.
func (r *replicaStore) Update(ctx context.Context, name string, fn func(*lro.Record) error) (*lro.Record, error) {
	if err := r.cut(); err != nil {
		return nil, err
	}
	var wasDone bool
	out, err := r.Store.Update(ctx, name, func(rec *lro.Record) error {
		wasDone = rec.Done()
		return fn(rec)
	})
	if err == nil && !wasDone && out.Done() {
		r.ended.add(name, r.name)
	}
	return out, err
}

func (r *replicaStore) Delete(ctx context.Context, name string) error {
	if err := r.cut(); err != nil {
		return err
	}
	return r.Store.Delete(ctx, name)
}

func (r *replicaStore) List(ctx context.Context, q lro.ListQuery) (lro.ListResult, error) {
	if err := r.cut(); err != nil {
		return lro.ListResult{}, err
	}
	return r.Store.List(ctx, q)
}

func (r *replicaStore) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := r.cut(); err != nil {
		return 0, err
	}
	return r.Store.DeleteExpired(ctx, now, limit)
}

func (r *replicaStore) RegisterOwner(ctx context.Context, p lro.LeaseParams) error {
	if err := r.cut(); err != nil {
		return err
	}
	return r.Store.RegisterOwner(ctx, p)
}

// RenewLeases fails while the replica is frozen or dead.
func (r *replicaStore) RenewLeases(ctx context.Context, p lro.LeaseParams) error {
	if err := r.cut(); err != nil {
		return err
	}
	if r.frozen.Load() {
		return errors.New("lrotest: renewals frozen by the test")
	}
	return r.Store.RenewLeases(ctx, p)
}

func (r *replicaStore) ReleaseOwner(ctx context.Context, p lro.LeaseParams) error {
	if err := r.cut(); err != nil {
		return err
	}
	return r.Store.ReleaseOwner(ctx, p)
}

func (r *replicaStore) ClaimExpired(ctx context.Context, p lro.ClaimParams) ([]*lro.Record, error) {
	if err := r.cut(); err != nil {
		return nil, err
	}
	return r.Store.ClaimExpired(ctx, p)
}

func (r *replicaStore) ClaimQueued(ctx context.Context, p lro.QueueClaimParams) ([]*lro.Record, error) {
	if err := r.cut(); err != nil {
		return nil, err
	}
	return r.Store.ClaimQueued(ctx, p)
}

func (r *replicaStore) ListOwned(ctx context.Context, q lro.OwnedQuery) ([]*lro.Record, error) {
	if err := r.cut(); err != nil {
		return nil, err
	}
	return r.Store.ListOwned(ctx, q)
}

// Watch passes on to the store, reports the call on watched, and drops
// the events of a killed replica.
func (r *replicaStore) Watch(name string, fn func(lro.Event)) func() {
	stop := r.Store.Watch(name, func(ev lro.Event) {
		if !r.dead.Load() {
			fn(ev)
		}
	})
	if r.watched != nil {
		select {
		case r.watched <- name:
		default:
		}
	}
	return stop
}

// Finish implements lro.Finisher: the store's, or, when it has none, the
// same fenced write through Update. A successful Finish counts an ending.
func (r *replicaStore) Finish(ctx context.Context, p lro.FinishParams) error {
	if err := r.cut(); err != nil {
		return err
	}
	var err error
	if fin, ok := r.Store.(lro.Finisher); ok {
		err = fin.Finish(ctx, p)
	} else {
		_, err = r.Store.Update(ctx, p.Operation.GetName(), func(rec *lro.Record) error {
			if rec.Done() || rec.Owner != p.Owner || rec.Attempt != p.Attempt {
				return fmt.Errorf("finishing %q: %w", p.Operation.GetName(), lro.ErrNotOwner)
			}
			rec.Operation = p.Operation
			rec.UpdateTime, rec.ExpireTime = p.UpdateTime, p.ExpireTime
			rec.CancelRequested, rec.LeaseExpireTime = false, time.Time{}
			return nil
		})
	}
	if err == nil {
		r.ended.add(p.Operation.GetName(), r.name)
	}
	if r.finishes != nil {
		select {
		case r.finishes <- err:
		default:
		}
	}
	return err
}

func (r *replicaStore) PollInterval() time.Duration {
	if p, ok := r.Store.(lro.Poller); ok {
		return p.PollInterval()
	}
	return 0 // the Manager does not poll
}

func (r *replicaStore) Notifying() bool {
	if h, ok := r.Store.(lro.NotifyHealth); ok {
		return !r.dead.Load() && h.Notifying()
	}
	return false
}

func (r *replicaStore) ReadStates(ctx context.Context, names []string) ([]lro.Event, error) {
	if err := r.cut(); err != nil {
		return nil, err
	}
	if sr, ok := r.Store.(lro.StateReader); ok {
		return sr.ReadStates(ctx, names)
	}
	var out []lro.Event
	for _, n := range names {
		rec, err := r.Store.Get(ctx, n)
		if errors.Is(err, lro.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, lro.Event{Name: n, Done: rec.Done(), CancelRequested: rec.CancelRequested, Owner: rec.Owner})
	}
	return out, nil
}

func (r *replicaStore) ListCancelRequests(ctx context.Context, owner string) ([]string, error) {
	if err := r.cut(); err != nil {
		return nil, err
	}
	if l, ok := r.Store.(lro.CancelRequestLister); ok {
		return l.ListCancelRequests(ctx, owner)
	}
	var out []string
	for after := ""; ; {
		recs, err := r.Store.ListOwned(ctx, lro.OwnedQuery{Owner: owner, After: after, Limit: 100})
		if err != nil {
			return nil, err
		}
		for _, rec := range recs {
			if rec.CancelRequested {
				out = append(out, rec.Operation.GetName())
			}
		}
		if len(recs) < 100 {
			return out, nil
		}
		after = recs[len(recs)-1].Operation.GetName()
	}
}

// TokenSecret implements lro.TokenSecreter: the store's shared key, or,
// when it has none, a random key of this replica's own.
func (r *replicaStore) TokenSecret(ctx context.Context) ([]byte, error) {
	if err := r.cut(); err != nil {
		return nil, err
	}
	if ts, ok := r.Store.(lro.TokenSecreter); ok {
		return ts.TokenSecret(ctx)
	}
	r.secretOnce.Do(func() {
		r.secret = make([]byte, 32)
		_, _ = rand.Read(r.secret)
	})
	return r.secret, nil
}

// WatchQueue implements lro.QueueWatcher: the store's, or, when it has
// none, the callbacks NotifyQueue calls.
func (r *replicaStore) WatchQueue(fn func()) (stop func()) {
	guarded := func() {
		if !r.dead.Load() {
			fn()
		}
	}
	if qw, ok := r.Store.(lro.QueueWatcher); ok {
		return qw.WatchQueue(guarded)
	}
	r.queueMu.Lock()
	defer r.queueMu.Unlock()
	r.queueFns[&guarded] = struct{}{}
	return func() {
		r.queueMu.Lock()
		defer r.queueMu.Unlock()
		delete(r.queueFns, &guarded)
	}
}

// NotifyQueue implements lro.QueueWatcher: the store's, or, when it has
// none, a call of this replica's own callbacks, as a Manager without a
// QueueWatcher looks again itself.
func (r *replicaStore) NotifyQueue(ctx context.Context) error {
	if err := r.cut(); err != nil {
		return err
	}
	if qw, ok := r.Store.(lro.QueueWatcher); ok {
		return qw.NotifyQueue(ctx)
	}
	r.queueMu.Lock()
	defer r.queueMu.Unlock()
	for fn := range r.queueFns {
		(*fn)()
	}
	return nil
}

// notifiesQueue reports whether s tells every replica of queued work
// within moments (an lro.QueueWatcher that does not rely on a short poll),
// so that a scenario may leave the Managers' maintenance tick an hour
// away; otherwise the tick is what finds queued work another replica
// recorded.
func notifiesQueue(s lro.Store) bool {
	if _, ok := s.(lro.QueueWatcher); !ok {
		return false
	}
	p, ok := s.(lro.Poller)
	return !ok || p.PollInterval() >= time.Minute
}
