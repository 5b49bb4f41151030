package lro

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Manager runs and keeps long-running operations and serves the
// google.longrunning.Operations service. It is safe for concurrent use.
type Manager struct {
	longrunningpb.UnimplementedOperationsServer

	// Set by New and never changed.
	cfg   config
	store Store
	clock Clock
	log   *slog.Logger

	// mu guards the fields below it up to the blank line: whether Close
	// has begun, the work running here, the registered kinds and the page
	// token key (set once, when first needed). mu is never held across a
	// Store read or write or a host hook; newTask holds it around
	// Store.Watch, which only registers a callback.
	mu        sync.Mutex
	closed    bool             // Close has begun; no new work is accepted
	leaseLost bool             // the owner lease is lost; no new work until it is held again
	running   map[string]*task // work running here, by operation name
	kinds     map[string]*kindInfo
	tokenKey  []byte
	q         workQueue // slots and queued work (queue.go)
	// registeredAt is when the owner id was last registered: work this
	// Manager started since is its own, never an orphan to take back.
	registeredAt time.Time

	// The owner lease (lease.go), used by New, then by the lease loop
	// alone, then by Close once the loop has ended.
	leaseToken     string    // the registration holding the lease
	leaseDeadline  time.Time // when the lease runs out, by m.clock, unless renewed
	reclaimPending bool      // the operations held before the registration are to be taken back

	closing chan struct{} // closed when Close starts
	stopBG  chan struct{} // closed when the work has ended, to stop the loops
	// abandonCtx ends when Close's context does: finishing stops retrying.
	abandonCtx    context.Context
	abandonCancel context.CancelFunc
	work          sync.WaitGroup // one count per task, from newTask to endTask
	bg            sync.WaitGroup // the sweep, lease and queue loops
	stopQueue     func()         // ends the store's queue notifications
	workers       *pool          // runs the work; closed by Close once the work has ended

	// Test hooks, nil outside tests.
	afterSweep    func(n int)
	afterMaintain func()
}

var (
	errCancelled = errors.New("operation cancelled")
	errClosing   = errors.New("operations manager closing")
)

// New returns a Manager configured by opts. Call Close when done with it.
// It fails with the error of the first option that refuses its value, and
// with an error naming the owner id when the store cannot register it: an
// error wrapping ErrOwnerTaken when another live Manager holds the id on
// the same store (see WithOwner), or the store's error.
func New(opts ...Option) (*Manager, error) {
	c := config{
		retention:   DefaultRetention,
		maxWait:     DefaultMaxWait,
		pageSize:    DefaultPageSize,
		maxPageSize: DefaultMaxPageSize,
		lease:       DefaultLease,
		sweepPeriod: defaultSweepPeriod,
		maxRunning:  -1,
	}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if c.store == nil {
		c.store = NewMemoryStore()
	}
	if c.clock == nil {
		c.clock = systemClock{}
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if c.resolver == nil {
		c.resolver = protoregistry.GlobalTypes
	}
	if c.owner == "" {
		c.owner = "lro-" + newID()
	}
	m := &Manager{
		cfg:      c,
		store:    c.store,
		clock:    c.clock,
		log:      c.logger,
		running:  make(map[string]*task),
		kinds:    make(map[string]*kindInfo),
		q:        newWorkQueue(),
		tokenKey: c.tokenKey,
		closing:  make(chan struct{}),
		stopBG:   make(chan struct{}),
		workers:  newPool(),
	}
	if err := m.register(context.Background()); err != nil {
		return nil, err
	}
	m.abandonCtx, m.abandonCancel = context.WithCancel(context.Background())
	m.stopQueue = noop
	if qw, ok := m.store.(QueueWatcher); ok {
		m.stopQueue = qw.WatchQueue(m.pokeQueue)
	}
	m.bg.Add(3)
	go m.sweepLoop()
	go m.leaseLoop()
	go m.queueLoop()
	return m, nil
}

// now is the Manager's time, truncated to microseconds so that every store
// keeps it exactly.
func (m *Manager) now() time.Time {
	return m.clock.Now().UTC().Truncate(time.Microsecond)
}

// Close stops the Manager. New starts fail with UNAVAILABLE at once.
// Running work may finish until ctx ends; then its context is cancelled
// and the operations it leaves unfinished end with UNAVAILABLE. Close
// returns when every goroutine the Manager started has ended, with ctx's
// error if it had to cut work short. Work functions still queued here end
// with UNAVAILABLE; queued operations of registered kinds stay queued in
// the store for other replicas. It then releases the owner id, so a new
// Manager may take it at once. Close does not close the Store.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	close(m.closing)
	queued := m.takeLocal()
	m.mu.Unlock()
	m.stopQueue()
	// Work functions still queued here can run nowhere else: they end.
	for _, e := range queued {
		e.stopDeadline()
		m.abandonQueued(ctx, e.name)
	}

	done := make(chan struct{})
	go func() {
		m.work.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("lro: closing: work cut short: %w", ctx.Err())
		m.mu.Lock()
		for _, t := range m.running {
			t.cancel(errClosing)
		}
		m.mu.Unlock()
		// Cut-short work still makes one attempt to record UNAVAILABLE;
		// retries stop, and the lease lets another replica take over.
		m.abandonCancel()
		<-done
	}
	m.abandonCancel()
	close(m.stopBG)
	m.bg.Wait()
	m.releaseLease()
	m.workers.close()
	return err
}
