package pgstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/lrokit/lro"
)

// watcher is one Watch registration.
type watcher struct {
	name    string
	fn      func(lro.Event)
	stopped atomic.Bool
}

// watchKey is the key notifications about name arrive under: the name, or
// for names too long to send, a NUL byte (which no stored name holds)
// followed by the hex SHA-256 of the name.
func watchKey(name string) string {
	if len(name) <= maxInlineName {
		return name
	}
	return hashKey(name)
}

func hashKey(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "\x00" + hex.EncodeToString(sum[:])
}

// parsePayload decodes a notification payload into its watch key and
// event.
func parsePayload(p string) (key string, ev lro.Event, ok bool) {
	if p == "" {
		return "", ev, false
	}
	c, rest := p[0], p[1:]
	var flags byte
	hashed := false
	switch {
	case c >= '0' && c <= '0'+15:
		flags = c - '0'
	case c >= 'a' && c <= 'a'+15:
		flags, hashed = c-'a', true
	default:
		return "", ev, false
	}
	if flags&flagOwner != 0 {
		n, tail, found := strings.Cut(rest, ":")
		size, err := strconv.Atoi(n)
		if !found || err != nil || size <= 0 || size > len(tail) || strconv.Itoa(size) != n {
			return "", ev, false
		}
		ev.Owner, rest = tail[:size], tail[size:]
	}
	key = rest
	if hashed {
		key = "\x00" + rest
	}
	ev.Done = flags&flagDone != 0
	ev.CancelRequested = flags&flagCancel != 0
	ev.Deleted = flags&flagDeleted != 0
	return key, ev, true
}

// Watch implements lro.Store. Changes from every Store on the same database
// and channel are reported, in commit order, from the listener goroutine.
// After the listening connection is re-established, every watched record
// is reported once with its current state, since changes made while it was
// down were not delivered; a record that no longer exists (or never did) is
// reported as deleted.
func (s *Store) Watch(name string, fn func(lro.Event)) (stop func()) {
	w := &watcher{name: name, fn: fn}
	key := watchKey(name)
	s.mu.Lock()
	s.watchers[key] = append(s.watchers[key], w)
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			w.stopped.Store(true)
			s.mu.Lock()
			defer s.mu.Unlock()
			ws := s.watchers[key]
			for i, x := range ws {
				if x == w {
					ws = append(ws[:i:i], ws[i+1:]...)
					break
				}
			}
			if len(ws) == 0 {
				delete(s.watchers, key)
			} else {
				s.watchers[key] = ws
			}
		})
	}
}

// dispatch delivers one notification.
func (s *Store) dispatch(payload string) {
	if payload == queuePayload {
		s.dispatchQueue()
		return
	}
	key, ev, ok := parsePayload(payload)
	if !ok {
		s.logger.Warn("pgstore: ignoring a malformed notification", "channel", s.channel, "payload", payload)
		return
	}
	s.mu.Lock()
	ws := append([]*watcher(nil), s.watchers[key]...)
	s.mu.Unlock()
	for _, w := range ws {
		if w.stopped.Load() || (key[0] == 0 && watchKey(w.name) != key) {
			continue
		}
		ev.Name = w.name
		w.fn(ev)
	}
}

// connectListener opens the dedicated listening connection, with the pool's
// connection settings, and LISTENs on the channel.
func (s *Store) connectListener(ctx context.Context) (*pgx.Conn, error) {
	cfg := s.pool.Config().ConnConfig.Copy()
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "lro-pgstore-listener"
	}
	// The listener's waits time out every health interval: end them with a
	// socket deadline, which keeps the connection usable, rather than a
	// cancel request to the server.
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, storeErr("connecting the listener", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
		defer cancel()
		_ = conn.Close(cctx)
		return nil, storeErr("listening", err)
	}
	pid := conn.PgConn().PID()
	s.listenerPID.Store(pid)
	if s.connectHook != nil {
		s.connectHook(pid)
	}
	return conn, nil
}

// listen runs the listener until ctx ends, reconnecting with backoff
// whenever its connection fails. Notifying reports false from the failure
// until the listener is back and has reported every watched record again.
func (s *Store) listen(ctx context.Context, conn *pgx.Conn) {
	defer close(s.done)
	for {
		err := s.receive(ctx, conn)
		s.notifying.Store(false)
		closeConn(conn)
		s.listenerPID.Store(0)
		if ctx.Err() != nil {
			return
		}
		s.logger.Warn("pgstore: listener connection lost; reconnecting", "channel", s.channel, "error", err)
		b := &backoff.ExponentialBackOff{
			InitialInterval:     50 * time.Millisecond,
			RandomizationFactor: 0.5,
			Multiplier:          2,
			MaxInterval:         5 * time.Second,
		}
		// Listening again, then reporting every watched record: a change
		// committed after LISTEN is notified, one before it is reported.
		conn, err = backoff.Retry(ctx, func() (*pgx.Conn, error) {
			c, err := s.connectListener(ctx)
			if err != nil {
				return nil, err
			}
			if err := s.resync(ctx); err != nil {
				closeConn(c)
				s.listenerPID.Store(0)
				return nil, err
			}
			return c, nil
		}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(0), backoff.WithNotify(func(err error, next time.Duration) {
			s.logger.Warn("pgstore: listener reconnect failed", "channel", s.channel, "error", err, "retry_in", next)
		}))
		if err != nil {
			return // ctx ended
		}
		s.notifying.Store(true)
		s.logger.Info("pgstore: listener reconnected", "channel", s.channel)
	}
}

// closeConn closes a listener connection, bounded by unlockTimeout.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), unlockTimeout)
	defer cancel()
	_ = conn.Close(ctx)
}

// Notifying implements lro.NotifyHealth: it reports false from the moment
// the listener's connection is found broken until the listener is back and
// has reported every watched record again. A connection that died silently
// is found broken within two health intervals (15 s each) of the last
// notification; the changes missed meanwhile are reported then.
func (s *Store) Notifying() bool { return s.notifying.Load() }

// receive delivers notifications from conn until it fails or ctx ends. When
// nothing arrives for the health interval it pings, so that a connection
// that died silently is noticed.
func (s *Store) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, s.health)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err == nil {
			s.dispatch(n.Payload)
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !pgconn.Timeout(err) && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		pctx, cancel := context.WithTimeout(ctx, s.health)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return err
		}
	}
}

// ReadStates implements lro.StateReader in one query.
func (s *Store) ReadStates(ctx context.Context, names []string) ([]lro.Event, error) {
	valid := names[:0:0]
	for _, n := range names {
		if validText(n) {
			valid = append(valid, n)
		}
	}
	if len(valid) == 0 {
		return nil, nil
	}
	evs, err := queryRows(ctx, s.pool, func(row pgx.CollectableRow) (lro.Event, error) {
		var ev lro.Event
		err := row.Scan(&ev.Name, &ev.Done, &ev.CancelRequested, &ev.Owner)
		return ev, err
	}, `SELECT name, done, cancel_requested, owner FROM lro_operations WHERE name = ANY($1)`, valid)
	if err != nil {
		return nil, storeErr("reading the state of operations", err)
	}
	return evs, nil
}

// resync reports the current state of every watched record, after
// notifications may have been lost. It fails when it cannot read them.
func (s *Store) resync(ctx context.Context) error {
	s.dispatchQueue() // queue notifications may have been lost too
	s.mu.Lock()
	var names []string
	for _, ws := range s.watchers {
		if len(ws) > 0 {
			names = append(names, ws[0].name)
		}
	}
	s.mu.Unlock()
	if len(names) == 0 {
		return nil
	}
	evs, err := s.ReadStates(ctx, names)
	if err != nil {
		return err
	}
	state := make(map[string]lro.Event, len(evs))
	for _, ev := range evs {
		state[ev.Name] = ev
	}
	for _, n := range names {
		ev, ok := state[n]
		if !ok {
			ev = lro.Event{Name: n, Deleted: true}
		}
		s.mu.Lock()
		ws := append([]*watcher(nil), s.watchers[watchKey(n)]...)
		s.mu.Unlock()
		for _, w := range ws {
			if w.name == n && !w.stopped.Load() {
				w.fn(ev)
			}
		}
	}
	return nil
}
