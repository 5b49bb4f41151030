package lro

import (
	"context"
	"errors"
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
	obs   *observer // metrics and spans; nil only in benchmarks

	// mu guards the fields below it up to the blank line: whether Close
	// has begun, the work running here, the registered kinds and the page
	// token key (set once, when first needed). mu is never held across a
	// Store read or write or a host hook; newTask holds it around
	// Store.Watch, which only registers a callback.
	mu        sync.Mutex
	closed    bool             // Close has begun; no new work is accepted
	leaseLost bool             // the owner lease is lost; no new work until it is held again
	running   map[string]*task // work running here, by operation name
	tasks     int              // tasks between newTask and endTask
	giveUp    bool             // Close gave up on the work still running
	// recheckOwned names the operations the lease loop is to take back if
	// this owner id holds them but runs them nowhere (goRecheck): a Start
	// whose Create failed may have stored its operation all the same, and a
	// take-over that could not queue its operation again holds it.
	recheckOwned []string
	kinds        map[string]*kindInfo
	tokenKey     []byte
	q            workQueue // slots and queued work (queue.go)
	// registeredAt is when the owner id was last registered: work this
	// Manager started since is its own, never an orphan to take back.
	registeredAt time.Time

	// The owner lease (lease.go), used by New, then by the lease loop
	// alone, then by Close once the loop has ended.
	leaseToken     string    // the registration holding the lease
	leaseDeadline  time.Time // when the lease runs out, by m.clock, unless renewed
	reclaimPending bool      // the operations held before the registration are to be taken back

	closing chan struct{} // closed when Close starts
	drained chan struct{} // closed once Close has begun and no task is left
	stopBG  chan struct{} // closed when the work has ended, to stop the loops
	// abandonCtx ends when Close's context does: finishing stops retrying.
	abandonCtx    context.Context
	abandonCancel context.CancelFunc
	// writeCtx ends when Close gives up on the work after its grace:
	// finishing writes still in flight are cancelled.
	writeCtx    context.Context
	writeCancel context.CancelFunc
	bg          sync.WaitGroup // the sweep, lease and queue loops, and deadline timers
	stopQueue   func()         // ends the store's queue notifications
	workers     *pool          // runs the work; closed by Close once the work has ended

	// Close's state: the first Close shuts down, the others wait for it.
	cutOnce  sync.Once
	cut      chan struct{} // closed by the first Close whose ctx ended
	cutCause error         // that ctx's error; set before cut closes
	stopped  chan struct{} // closed when the Manager has stopped
	closeErr error         // Close's result; set before stopped closes

	// polled is set when the store is a Poller: waiters register in
	// waiting, for the Manager's fallback re-read (waitPollLoop).
	polled  bool
	waiting waitPoll

	// Test hooks, nil outside tests.
	afterSweep    func(n int)
	afterMaintain func()
	afterWaitPoll func()
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
		maxPayload:  DefaultMaxPayloadSize,
		closeGrace:  DefaultCloseGrace,
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
	obs, err := c.observer()
	if err != nil {
		return nil, err
	}
	m := &Manager{
		obs:      obs,
		cfg:      c,
		store:    c.store,
		clock:    c.clock,
		log:      c.logger,
		running:  make(map[string]*task),
		kinds:    make(map[string]*kindInfo),
		q:        newWorkQueue(),
		tokenKey: c.tokenKey,
		closing:  make(chan struct{}),
		drained:  make(chan struct{}),
		cut:      make(chan struct{}),
		stopped:  make(chan struct{}),
		stopBG:   make(chan struct{}),
		workers:  newPool(),
	}
	if err := m.register(context.Background()); err != nil {
		return nil, err
	}
	if err := m.obs.observeRunning(m.runningByKind); err != nil {
		m.releaseLease()
		return nil, err
	}
	m.abandonCtx, m.abandonCancel = context.WithCancel(context.Background())
	m.writeCtx, m.writeCancel = context.WithCancel(context.Background())
	m.stopQueue = noop
	if qw, ok := m.store.(QueueWatcher); ok {
		m.stopQueue = qw.WatchQueue(m.pokeQueue)
	}
	m.bg.Add(3)
	go m.sweepLoop()
	go m.leaseLoop()
	go m.queueLoop()
	if p, ok := m.store.(Poller); ok && p.PollInterval() > 0 {
		m.polled = true
		m.bg.Add(1)
		go m.waitPollLoop(p.PollInterval())
	}
	return m, nil
}

// now is the Manager's time, truncated to microseconds so that every store
// keeps it exactly.
func (m *Manager) now() time.Time {
	return m.clock.Now().UTC().Truncate(time.Microsecond)
}
