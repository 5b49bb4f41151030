// Package spannerstore keeps lro operations in Cloud Spanner, so that
// replicas of a service anywhere share them: any replica answers Get, List
// and Wait for any operation.
//
// Operations live in lro_operations, keyed by name (operation ids are
// random, so writes spread over the key space), with secondary indexes for
// newest-first listing per parent and overall, a NULL_FILTERED unique index
// on (parent, request_id) for AIP-155 idempotency, and indexes for the
// expiry sweep and for the running operations of an owner. Create the
// schema with Migrate.
//
// Owner leases live in lro_owners and are judged by Spanner's clock
// (CURRENT_TIMESTAMP() inside read-write transactions, which TrueTime
// bounds), never by a replica's: LeaseParams.Now and ClaimParams.Now are
// ignored. Every write that depends on a lease or an owner (RegisterOwner,
// ClaimExpired, Finish) reads and writes in one read-write transaction, so
// it is fenced.
//
// Change notification: each Store reads the change stream lro_changes
// (schema version 2) and reports every change, whichever replica made it,
// to the watchers of its record; its own changes are reported at once too.
// It implements lro.NotifyHealth (true while the reader runs and has
// caught up), and lro.Poller, lro.StateReader and lro.CancelRequestLister,
// so that the Manager falls back to one batched re-read per PollInterval
// while the reader is down, or always with WithoutChangeStream. The stream
// also carries queued records and NotifyQueue's signal (schema version 4):
// the Store is an lro.QueueWatcher, so queued work recorded by one replica
// is found by another within the stream's latency.
//
// List pushes the filter down where its meaning is kept exactly (done,
// queued, name, error presence and code, metadata and response presence
// and type URLs; see pushdown.go), from derived columns (schema version 5).
//
// Retention is a sweep (DeleteExpired), not a row deletion policy: TTL
// deletes eventually (up to days later) and tells no watcher, while an
// expired operation must be NOT_FOUND at once and its deletion reported.
package spannerstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/spanner"
	"github.com/lrokit/lro"
	"google.golang.org/grpc/codes"
)

// DefaultPollInterval is the PollInterval of a Store made without
// WithPollInterval.
const DefaultPollInterval = time.Second

// Store is an lro.Store backed by Cloud Spanner. It also implements
// lro.Finisher, lro.Poller, lro.NotifyHealth, lro.StateReader,
// lro.CancelRequestLister, lro.TokenSecreter and lro.QueueWatcher. Make one with New and
// release it with Close (the client stays the caller's).
type Store struct {
	client       *spanner.Client
	pollInterval time.Duration
	stream       string // the change stream read, or "" for none
	logf         func(format string, args ...any)

	streamHook func(stage string) error // tests: called at "start" of each reader run and before each partition "query"

	notifying  atomic.Bool // see Notifying
	cancel     context.CancelFunc
	streamDone chan struct{} // closed when the reader has stopped
	closeOnce  sync.Once

	mu       sync.Mutex
	watchers map[string]map[*watcher]struct{}

	queueMu  sync.Mutex
	queueFns map[*func()]struct{} // see WatchQueue

	secretMu sync.Mutex
	secret   []byte
}

type watcher struct{ fn func(lro.Event) }

var (
	_ lro.Store               = (*Store)(nil)
	_ lro.Finisher            = (*Store)(nil)
	_ lro.Poller              = (*Store)(nil)
	_ lro.StateReader         = (*Store)(nil)
	_ lro.CancelRequestLister = (*Store)(nil)
	_ lro.TokenSecreter       = (*Store)(nil)
	_ lro.NotifyHealth        = (*Store)(nil)
	_ lro.QueueWatcher        = (*Store)(nil)
)

// Option configures a Store.
type Option func(*Store)

// WithPollInterval sets the Store's PollInterval: how often the Manager
// re-reads the operations it waits on and checks its running work for
// cancellation, which bounds how late a change made by another replica is
// seen. Values that are not positive leave DefaultPollInterval.
func WithPollInterval(d time.Duration) Option {
	return func(s *Store) {
		if d > 0 {
			s.pollInterval = d
		}
	}
}

// WithoutChangeStream makes the Store read no change stream: watchers see
// only this Store's changes at once, the Manager sees other replicas'
// changes through its poll, once per PollInterval, and queued work other
// replicas recorded on its maintenance tick.
func WithoutChangeStream() Option {
	return func(s *Store) { s.stream = "" }
}

// WithLogf sets where the Store logs failures it recovers from (the change
// stream reader's); the default is log.Printf.
func WithLogf(logf func(format string, args ...any)) Option {
	return func(s *Store) { s.logf = logf }
}

// New returns a Store on client, whose database must hold the schema
// (Migrate), and starts its change stream reader (see WithoutChangeStream).
// It never fails: errors surface on use, and a reader that fails starts
// again with backoff, logged, while the Manager polls.
func New(client *spanner.Client, opts ...Option) *Store {
	s := &Store{client: client, pollInterval: DefaultPollInterval, stream: changeStream,
		logf: log.Printf, watchers: map[string]map[*watcher]struct{}{}, queueFns: map[*func()]struct{}{},
		streamDone: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	if s.stream == "" {
		close(s.streamDone)
		s.cancel = func() {}
		return s
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.runStream(ctx)
	return s
}

// Close stops the change stream reader, waits for it, and stops every
// watch and queue watch. It never fails; the Spanner client is the caller's to close, after
// Close.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		<-s.streamDone
		s.mu.Lock()
		s.watchers = map[string]map[*watcher]struct{}{}
		s.mu.Unlock()
		s.queueMu.Lock()
		s.queueFns = map[*func()]struct{}{}
		s.queueMu.Unlock()
	})
	return nil
}

// PollInterval implements lro.Poller.
func (s *Store) PollInterval() time.Duration { return s.pollInterval }

// Watch implements lro.Store: fn sees the changes this Store commits at
// once, after the commit; the Manager sees other replicas' changes through
// its poll (lro.Poller).
func (s *Store) Watch(name string, fn func(lro.Event)) (stop func()) {
	w := &watcher{fn: fn}
	s.mu.Lock()
	set := s.watchers[name]
	if set == nil {
		set = map[*watcher]struct{}{}
		s.watchers[name] = set
	}
	set[w] = struct{}{}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if set := s.watchers[name]; set != nil {
			delete(set, w)
			if len(set) == 0 {
				delete(s.watchers, name)
			}
		}
	}
}

// notify calls the watchers of each event's record. Called after commits,
// outside transactions. The lock is held while calling so that a stopped
// watcher is never called after stop returns.
func (s *Store) notify(evs ...lro.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range evs {
		for w := range s.watchers[ev.Name] {
			w.fn(ev)
		}
	}
}

// storeErr wraps an infrastructure error with what was being done.
func storeErr(doing string, err error) error {
	if errors.Is(err, lro.ErrNotFound) || errors.Is(err, lro.ErrAlreadyExists) || errors.Is(err, lro.ErrNotOwner) {
		return err
	}
	return fmt.Errorf("spannerstore: %s: %w", doing, err)
}

// isAlreadyExists reports whether err is Spanner's ALREADY_EXISTS.
func isAlreadyExists(err error) bool { return spanner.ErrCode(err) == codes.AlreadyExists }

// ReadStates implements lro.StateReader with one query.
func (s *Store) ReadStates(ctx context.Context, names []string) ([]lro.Event, error) {
	if len(names) == 0 {
		return nil, nil
	}
	stmt := spanner.Statement{
		SQL:    `SELECT name, done, cancel_requested, owner FROM lro_operations WHERE name IN UNNEST(@names)`,
		Params: map[string]any{"names": names},
	}
	var out []lro.Event
	err := s.client.Single().Query(ctx, stmt).Do(func(r *spanner.Row) error {
		var ev lro.Event
		if err := r.Columns(&ev.Name, &ev.Done, &ev.CancelRequested, &ev.Owner); err != nil {
			return err
		}
		out = append(out, ev)
		return nil
	})
	if err != nil {
		return nil, storeErr("reading operation states", err)
	}
	return out, nil
}

// ListCancelRequests implements lro.CancelRequestLister with one query.
func (s *Store) ListCancelRequests(ctx context.Context, owner string) ([]string, error) {
	stmt := spanner.Statement{
		SQL: `SELECT name FROM lro_operations@{FORCE_INDEX=lro_operations_owner_idx}
WHERE owner = @owner AND done = false AND cancel_requested`,
		Params: map[string]any{"owner": owner},
	}
	var out []string
	err := s.client.Single().Query(ctx, stmt).Do(func(r *spanner.Row) error {
		var n string
		if err := r.Columns(&n); err != nil {
			return err
		}
		out = append(out, n)
		return nil
	})
	if err != nil {
		return nil, storeErr(fmt.Sprintf("listing the cancel requests of %q", owner), err)
	}
	return out, nil
}

// TokenSecret implements lro.TokenSecreter: the key is made on first use
// and shared by every replica through lro_token_secret.
func (s *Store) TokenSecret(ctx context.Context) ([]byte, error) {
	s.secretMu.Lock()
	defer s.secretMu.Unlock()
	if s.secret != nil {
		return s.secret, nil
	}
	var secret []byte
	err := s.rw(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		row, err := tx.ReadRow(ctx, "lro_token_secret", spanner.Key{int64(1)}, []string{"secret"})
		if err == nil {
			return row.Columns(&secret)
		}
		if !errors.Is(err, spanner.ErrRowNotFound) {
			return err
		}
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
		return tx.BufferWrite([]*spanner.Mutation{spanner.Insert("lro_token_secret", []string{"id", "secret"}, []any{int64(1), secret})})
	})
	if err != nil {
		return nil, storeErr("reading the page token key", err)
	}
	s.secret = secret
	return secret, nil
}
