package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/pgstore"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// BenchmarkIdleWaiters measures what idle waiters cost the database: 1000
// operations run on replica A, and 1000 WaitOperation calls block on them
// on replica B, each replica a Manager on its own pgstore Store, in a
// database of the benchmark's own. It reports xact/s, the database's
// committed transactions per second (pg_stat_database.xact_commit) over a
// 10 s window once every waiter is blocked: everything both replicas do,
// lease renewals and the cancellation check included. Run it once:
//
//	go test -run '^$' -bench IdleWaiters -benchtime 1x
//
// "notifying" is pgstore as it is. "listener-down" makes B's store report
// that its notifications do not flow, so B re-reads the operations waited
// on every poll interval, in one query; "listener-down-no-batch" also
// hides pgstore's StateReader, so B re-reads with one Get per operation,
// as every waiter used to do all the time.
func BenchmarkIdleWaiters(b *testing.B) {
	for _, v := range []struct {
		name string
		wrap func(*pgstore.Store) lro.Store
	}{
		{"notifying", func(s *pgstore.Store) lro.Store { return s }},
		{"listener-down", func(s *pgstore.Store) lro.Store { return listenerDown{s} }},
		{"listener-down-no-batch", func(s *pgstore.Store) lro.Store { return pollOnly{s} }},
	} {
		b.Run(v.name, func(b *testing.B) { benchIdleWaiters(b, v.wrap) })
	}
}

// listenerDown is a pgstore Store that says its notifications do not flow.
type listenerDown struct{ *pgstore.Store }

func (listenerDown) Notifying() bool { return false }

// pollOnly is a Store that is a Poller and nothing more: no NotifyHealth,
// no StateReader.
type pollOnly struct{ lro.Store }

func (s pollOnly) PollInterval() time.Duration { return s.Store.(lro.Poller).PollInterval() }

// counted counts the Gets of the store it wraps, so the benchmark knows
// when every waiter has read its operation and blocked.
type counted struct {
	lro.Store
	gets atomic.Int64
}

func (s *counted) Get(ctx context.Context, name string) (*lro.Record, error) {
	s.gets.Add(1)
	return s.Store.Get(ctx, name)
}

func (s *counted) PollInterval() time.Duration { return s.Store.(lro.Poller).PollInterval() }

func (s *counted) Notifying() bool {
	h, ok := s.Store.(lro.NotifyHealth)
	return ok && h.Notifying()
}

func (s *counted) ReadStates(ctx context.Context, names []string) ([]lro.Event, error) {
	if sr, ok := s.Store.(lro.StateReader); ok {
		return sr.ReadStates(ctx, names)
	}
	// Without a StateReader underneath, read as the Manager would.
	var evs []lro.Event
	for _, n := range names {
		if r, err := s.Get(ctx, n); err == nil {
			evs = append(evs, lro.Event{Name: n, Done: r.Done(), CancelRequested: r.CancelRequested})
		}
	}
	return evs, nil
}

func benchIdleWaiters(b *testing.B, wrap func(*pgstore.Store) lro.Store) {
	const (
		waiters = 1000
		window  = 10 * time.Second
	)
	url := dbURL(b)
	db := freshDatabase(b, url)
	ctx := context.Background()
	sa := newDBStore(b, url, db, 16)
	sb := &counted{Store: wrap(newDBStore(b, url, db, 16))}
	ma := newManager(b, sa, lro.WithOwner("replica-a"))
	mb := newManager(b, sb, lro.WithOwner("replica-b"))

	release := make(chan struct{})
	names := make([]string, waiters)
	for i := range names {
		op, err := ma.Start(ctx, func(ctx context.Context, _ *lro.Op) (proto.Message, error) {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil, nil
		})
		if err != nil {
			b.Fatal(err)
		}
		names[i] = op.GetName()
	}
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Go(func() {
			op, err := mb.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: name, Timeout: durationpb.New(time.Minute)})
			if err == nil && !op.GetDone() {
				b.Errorf("%s: the wait ended before the operation", name)
			}
		})
	}
	defer func() {
		close(release)
		wg.Wait()
	}()
	for sb.gets.Load() < waiters {
		time.Sleep(10 * time.Millisecond)
	}
	// A backend that goes idle reports its statistics up to 10 s later
	// (PGSTAT_IDLE_INTERVAL): let the setup's transactions (the starts
	// and the waiters' first reads) be counted before the window opens.
	time.Sleep(11 * time.Second)
	b.ResetTimer()
	before := commits(b, url, db)
	time.Sleep(window)
	after := commits(b, url, db)
	b.StopTimer()
	b.ReportMetric(float64(after-before)/window.Seconds(), "xact/s")
	b.ReportMetric(0, "ns/op")
}

// freshDatabase creates a database of the benchmark's own, dropped at the
// end, so that its transaction count is the benchmark's alone.
func freshDatabase(b testing.TB, url string) string {
	b.Helper()
	buf := make([]byte, 6)
	_, _ = rand.Read(buf)
	db := "lro_idle_" + hex.EncodeToString(buf)
	exec := func(sql string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			b.Fatalf("connecting: %v", err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql); err != nil {
			b.Fatalf("%s: %v", sql, err)
		}
	}
	exec("CREATE DATABASE " + pgx.Identifier{db}.Sanitize())
	b.Cleanup(func() { exec("DROP DATABASE " + pgx.Identifier{db}.Sanitize() + " WITH (FORCE)") })
	return db
}

// newDBStore returns a migrated pgstore Store on its own pool in database
// db, closed at the end.
func newDBStore(b testing.TB, url, db string, maxConns int32) *pgstore.Store {
	b.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		b.Fatal(err)
	}
	cfg.ConnConfig.Database = db
	cfg.MaxConns = maxConns
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	s, err := pgstore.New(context.Background(), pool, pgstore.WithAutoMigrate(), pgstore.WithLogger(quiet))
	if err != nil {
		b.Fatalf("pgstore.New: %v", err)
	}
	b.Cleanup(s.Close)
	return s
}

// commits returns db's committed transactions so far, read through url's
// database so that reading adds nothing to them.
func commits(b testing.TB, url, db string) int64 {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int64
	if err := conn.QueryRow(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = $1`, db).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}
