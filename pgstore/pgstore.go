// Package pgstore keeps lro operations in PostgreSQL, so that several
// replicas of a service share them: any replica answers Get, List and Wait
// for any operation, and a change made by one replica wakes watchers on the
// others.
//
// A Store uses a pgx v5 pool for its queries and one dedicated connection,
// outside the pool, that LISTENs for changes. Update, Delete, DeleteExpired,
// ClaimExpired and Finish notify (pg_notify) in the statement that writes,
// so a notification is sent exactly when the change commits; Create and
// the owner lease calls change nothing a watcher waits for and send none.
// Concurrent calls of Create, Finish, Get and Update's write are each
// batched: the calls that arrive together share one statement (and one
// commit), and a lone call goes at once; while two insert batches are
// being written, Creates gather into a batch of up to 8 before the next
// one starts, since each statement and commit costs several rows' work.
// PostgreSQL lets only one notifying transaction commit at a time, through
// its WAL flush, so fewer and larger notifying commits are what keep
// wake-ups fast under load.
//
// Leases are kept per owner in lro_owners and judged by the database's
// clock, now(), whatever the clocks of the replicas say; renewing one is
// one UPDATE of one row, however many operations its owner runs (see
// RenewLeases).
//
// When the listening connection drops, the Store reconnects with
// exponential backoff and then reports every watched operation once more,
// since notifications sent meanwhile are lost. It implements lro.Poller, so
// that the Manager re-reads as a fallback, and lro.NotifyHealth, so that it
// re-reads the operations it waits on only while the listener is down:
// idle waiters cost the database nothing while notifications flow.
//
// Tables live in the pool's current schema (the first schema of its
// search_path): lro_operations, lro_owners, lro_token_secret and
// lro_schema_migrations. Create them with Migrate, or pass WithAutoMigrate
// to New. Migrate to a new schema version with every replica running the
// same version of this package: migration 2 moved leases from operations
// to owners, and a replica running older code would not keep them.
//
// Times are stored as timestamptz and therefore truncated to microseconds;
// the records a Store returns carry the stored, truncated times, in UTC.
//
// The listening connection needs a session of its own: point the pool at
// PostgreSQL itself or at a session-mode pooler, not at a pooler in
// transaction mode, where LISTEN does not work.
package pgstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lrokit/lro"
	"google.golang.org/grpc/codes"
)

// DefaultPollInterval is the PollInterval of a Store made without
// WithPollInterval.
const DefaultPollInterval = time.Second

const (
	// defaultChannel is the notification channel in the public schema.
	defaultChannel = "lro_changes"
	// maxChannelLen is the longest channel name PostgreSQL accepts
	// (NAMEDATALEN-1).
	maxChannelLen = 63
	// healthInterval is how long the listener waits for a notification
	// before it pings its connection to detect a silent drop.
	healthInterval = 15 * time.Second
	// unlockTimeout bounds clean-up queries run after a caller's context
	// ended.
	unlockTimeout = 5 * time.Second
	// secretLen is the size of the page token key.
	secretLen = 32
)

// Store is an lro.Store backed by PostgreSQL. It also implements
// lro.Poller, lro.NotifyHealth, lro.StateReader and lro.TokenSecreter. Make one with New or Open and release it
// with Close.
type Store struct {
	pool         *pgxpool.Pool
	ownPool      bool
	channel      string
	pollInterval time.Duration
	where        where // the database and schema of the tables (StartKindTx)
	logger       *slog.Logger
	health       time.Duration
	connectHook  func(pid uint32)

	mu       sync.Mutex
	watchers map[string][]*watcher // by watch key (see watchKey)
	// queueWatchers are the WatchQueue callbacks (queue.go).
	queueWatchers map[*func()]struct{}

	secretMu sync.Mutex
	secret   []byte

	finishes *batcher[*finishReq, error]        // Finish calls, written together
	creates  *batcher[*createReq, createAnswer] // Create calls, inserted together
	updates  *batcher[*updateReq, updateAnswer] // Update writes, made together
	// claimNotes sends the notifications of ClaimQueued (queue.go).
	claimNotes claimNotifier
	reads      *batcher[string, readAnswer] // Get calls, read together
	plans      plans                        // the plan generation of the batch statements (plan.go)

	listenerPID atomic.Uint32
	notifying   atomic.Bool // see Notifying
	cancel      context.CancelFunc
	done        chan struct{}
	closeOnce   sync.Once
}

var (
	_ lro.Store         = (*Store)(nil)
	_ lro.Poller        = (*Store)(nil)
	_ lro.NotifyHealth  = (*Store)(nil)
	_ lro.StateReader   = (*Store)(nil)
	_ lro.TokenSecreter = (*Store)(nil)
)

// Option configures a Store.
type Option func(*config)

type config struct {
	autoMigrate  bool
	pollInterval time.Duration
	channel      string
	logger       *slog.Logger
	health       time.Duration
	connectHook  func(pid uint32)
}

// WithAutoMigrate makes New run Migrate before it starts.
func WithAutoMigrate() Option {
	return func(c *config) { c.autoMigrate = true }
}

// WithPollInterval sets the Store's PollInterval, how often the Manager
// re-reads the operations it waits on while the listener is down, and
// checks the work it runs for cancellations, in case a notification was
// lost. It must be positive; the default is DefaultPollInterval.
func WithPollInterval(d time.Duration) Option {
	return func(c *config) { c.pollInterval = d }
}

// WithChannel sets the LISTEN/NOTIFY channel. Stores share notifications
// when they use the same channel, so every replica of one service must use
// the same one. The default is "lro_changes" when the tables are in the
// public schema and "lro_changes.{schema}" otherwise (a hash of the schema
// name when that is too long), so that services sharing a database in
// separate schemas do not wake each other.
func WithChannel(name string) Option {
	return func(c *config) { c.channel = name }
}

// WithLogger sets where the Store reports listener connection trouble. The
// default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// withHealthInterval and withConnectHook are for tests.
func withHealthInterval(d time.Duration) Option {
	return func(c *config) { c.health = d }
}

func withConnectHook(fn func(pid uint32)) Option {
	return func(c *config) { c.connectHook = fn }
}

// Open connects a pool to the database at url (a PostgreSQL connection
// string or URL) and returns a Store using it. Close closes the pool too.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, storeErr("opening pool", err)
	}
	s, err := New(ctx, pool, opts...)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.ownPool = true
	return s, nil
}

// New returns a Store that uses pool and starts its listener; it returns an
// error if it cannot LISTEN. The caller keeps ownership of pool and closes
// it after Close.
func New(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	if pool == nil {
		return nil, errors.New("pgstore: New: nil pool")
	}
	c := config{pollInterval: DefaultPollInterval, health: healthInterval}
	for _, o := range opts {
		o(&c)
	}
	if c.pollInterval <= 0 {
		return nil, fmt.Errorf("pgstore: poll interval %v is not positive", c.pollInterval)
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if c.autoMigrate {
		if err := Migrate(ctx, pool); err != nil {
			return nil, err
		}
	} else if err := checkSchema(ctx, pool); err != nil {
		return nil, err
	}
	var (
		database string
		schema   *string
	)
	if err := pool.QueryRow(ctx, `SELECT current_database(), current_schema()`).Scan(&database, &schema); err != nil {
		return nil, storeErr("reading the current schema", err)
	}
	if c.channel == "" {
		if schema == nil {
			return nil, &Error{Op: "New", Code: codes.FailedPrecondition, Err: errors.New("no schema of the search_path exists")}
		}
		c.channel = channelFor(*schema)
	}
	if len(c.channel) > maxChannelLen {
		return nil, fmt.Errorf("pgstore: channel name %q is longer than %d bytes", c.channel, maxChannelLen)
	}
	s := &Store{
		pool:         pool,
		channel:      c.channel,
		pollInterval: c.pollInterval,
		logger:       c.logger,
		health:       c.health,
		connectHook:  c.connectHook,
		watchers:     make(map[string][]*watcher),
		done:         make(chan struct{}),
		where:        where{database: database, schema: schema},
	}
	conn, err := s.connectListener(ctx)
	if err != nil {
		return nil, err
	}
	s.plans.base = -1
	s.notifying.Store(true)
	lctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.listen(lctx, conn)
	s.finishes = newBatcher(finishWorkers, maxFinishBatch, s.finishBatch)
	s.creates = newGatheringBatcher(createWorkers, maxCreateBatch, createGathering, s.createBatch)
	s.updates = newBatcher(updateWorkers, maxUpdateBatch, s.updateBatch)
	s.reads = newBatcher(readWorkers, maxReadBatch, s.readBatch)
	return s, nil
}

// checkSchema fails with FAILED_PRECONDITION unless Migrate has applied
// every migration this package knows: a version missing below the newest
// applied one (a migration merged in after a later one ran) counts too.
func checkSchema(ctx context.Context, pool *pgxpool.Pool) error {
	rows, err := pool.Query(ctx, `SELECT version FROM lro_schema_migrations`)
	var applied []int64
	if err == nil {
		applied, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	}
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "42P01": // undefined_table
	case err != nil:
		return storeErr("checking the schema version", err)
	}
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	var missing []string
	for _, m := range ms {
		if !slices.Contains(applied, m.version) {
			missing = append(missing, m.name)
		}
	}
	if len(missing) > 0 {
		return &Error{Op: "New", Code: codes.FailedPrecondition,
			Err: fmt.Errorf("the lro tables lack migrations %s: run pgstore.Migrate or pass WithAutoMigrate", strings.Join(missing, ", "))}
	}
	return nil
}

// channelFor returns the default notification channel for schema.
func channelFor(schema string) string {
	if schema == "public" {
		return defaultChannel
	}
	ch := defaultChannel + "." + schema
	if len(ch) > maxChannelLen {
		sum := sha256.Sum256([]byte(schema))
		ch = defaultChannel + "#" + hex.EncodeToString(sum[:16])
	}
	return ch
}

// Close stops the listener and waits for it to end. It closes the pool only
// when the Store made it (Open). Close is idempotent.
func (s *Store) Close() {
	s.closeOnce.Do(func() {
		s.creates.close()
		s.updates.close()
		s.finishes.close()
		s.claimNotes.close()
		s.reads.close()
		s.cancel()
		<-s.done
		if s.ownPool {
			s.pool.Close()
		}
	})
}

// Pool returns the pool the Store uses.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// PollInterval implements lro.Poller.
func (s *Store) PollInterval() time.Duration { return s.pollInterval }

// TokenSecret implements lro.TokenSecreter: it returns a random key made by
// the first replica that asked and shared through lro_token_secret.
func (s *Store) TokenSecret(ctx context.Context) ([]byte, error) {
	s.secretMu.Lock()
	defer s.secretMu.Unlock()
	if s.secret != nil {
		return append([]byte(nil), s.secret...), nil
	}
	fresh := make([]byte, secretLen)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("pgstore: making a token secret: %w", err)
	}
	// Insert ours unless one exists, then read whichever won.
	var secret []byte
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO lro_token_secret (id, secret) VALUES (true, $1) ON CONFLICT (id) DO NOTHING`, fresh); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT secret FROM lro_token_secret WHERE id`).Scan(&secret)
	})
	if err != nil {
		return nil, storeErr("reading the token secret", err)
	}
	s.secret = secret
	return append([]byte(nil), secret...), nil
}
