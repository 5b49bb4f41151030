package chaos_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/internal/chaos"
	"github.com/lrokit/lro/pgstore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// TestPostgresFailover runs 1000 registered operations on three Managers
// that share a primary with a synchronous standby, through a multi-host
// URL with target_session_attrs=read-write. Once a third of the starts
// have answered, the primary crashes and the standby is promoted, while
// operations run, clients start, cancel and wait. Calls that fail during
// the failover answer UNAVAILABLE and the clients retry them (starts with
// the same request id). Afterwards every operation is in the new primary,
// done exactly once (an observer trigger counts its transitions to done),
// with its work's response or CANCELLED if it was cancelled, every Wait
// returned, and every store listens on the new primary.
//
// In the first run the outage is shorter than the Managers' owner lease,
// so they keep their work; in the second it is longer, so they cancel
// their work, and it runs again (attempt 2) once the database is back.
func TestPostgresFailover(t *testing.T) {
	testURL(t)
	t.Run("outage shorter than the lease", func(t *testing.T) {
		// Promoted once a client has seen the outage.
		runFailover(t, 10*time.Second, false)
	})
	t.Run("outage longer than the lease", func(t *testing.T) {
		// Promoted once a Manager has reported losing its lease.
		runFailover(t, 2*time.Second, true)
	})
}

// runFailover runs TestPostgresFailover with Managers whose owner lease
// is lease; the standby is promoted once a client saw UNAVAILABLE, or,
// with outlast, once a Manager reported that it lost its lease.
func runFailover(t *testing.T, lease time.Duration, outlast bool) {
	const (
		managers = 3
		total    = 1000
		failAt   = total / 3 // the failover begins once this many starts answered
		clients  = 32
		maxWork  = 1500 // ms
	)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("LRO_CHAOS_SEED"); s != "" {
		if _, err := fmt.Sscan(s, &seed); err != nil {
			t.Fatalf("LRO_CHAOS_SEED: %v", err)
		}
	}
	t.Logf("seed %d (set LRO_CHAOS_SEED to plan the same run again)", seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	// The hard deadline of the test: every wait below gives up when it
	// passes, and the test fails.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	pair := newHAPair(ctx, t)
	url := pair.url("postgres", 8)
	setupObserver(ctx, t, url)

	logw := newCappedLog(t, 40)
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ms := make([]*lro.Manager, managers)
	stores := make([]*pgstore.Store, managers)
	for i := range ms {
		ms[i], stores[i] = failoverManager(ctx, t, url, fmt.Sprintf("m%d", i), lease, log)
	}

	type planned struct {
		ms     int
		cancel bool
		name   string
		final  *longrunningpb.Operation
	}
	plan := make([]*planned, total)
	for i := range plan {
		plan[i] = &planned{ms: rng.IntN(maxWork + 1), cancel: rng.IntN(10) == 0}
	}

	var (
		answered, waiting atomic.Int64
		waitingAtFailover int64
		failoverBegan     time.Time
		failoverTook      time.Duration
		failoverErr       = make(chan error, 1)
		errMu             sync.Mutex
		errs              []error
		retries           = map[string]*atomic.Int64{"start": {}, "cancel": {}, "wait": {}}
		waiters           sync.WaitGroup
	)
	unavailable := func() (n int64) {
		for _, r := range retries {
			n += r.Load()
		}
		return n
	}
	fail := func(err error) {
		errMu.Lock()
		errs = append(errs, err)
		errMu.Unlock()
	}
	// retry calls f with the Managers in turn, from the i-th, until it
	// returns something other than UNAVAILABLE or ctx ends.
	retry := func(what string, i int, f func(m *lro.Manager) error) error {
		tick := time.NewTicker(25 * time.Millisecond)
		defer tick.Stop()
		for k := i; ; k++ {
			err := f(ms[k%managers])
			if status.Code(err) != codes.Unavailable {
				return err
			}
			retries[what].Add(1)
			select {
			case <-tick.C:
			case <-ctx.Done():
				return fmt.Errorf("%s: still UNAVAILABLE at the deadline: %w", what, err)
			}
		}
	}
	wait := func(i int, p *planned) {
		defer waiters.Done()
		defer waiting.Add(-1)
		for {
			var op *longrunningpb.Operation
			err := retry("wait", i+1, func(m *lro.Manager) (err error) {
				op, err = m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: p.name, Timeout: durationpb.New(20 * time.Second)})
				return err
			})
			if err != nil {
				fail(fmt.Errorf("wait %d %s: %w", i, p.name, err))
				return
			}
			if op.GetDone() {
				p.final = op
				return
			}
		}
	}

	began := time.Now()
	parallel(ctx, clients, total, func(i int) {
		p := plan[i]
		err := retry("start", i, func(m *lro.Manager) error {
			op, err := m.StartKind(ctx, chaos.KindSleep, durationpb.New(time.Duration(p.ms)*time.Millisecond),
				lro.WithRequestID(fmt.Sprintf("failover-%d", i)))
			p.name = op.GetName()
			return err
		})
		if err != nil {
			fail(fmt.Errorf("start %d: %w", i, err))
			return
		}
		waiting.Add(1)
		waiters.Add(1)
		go wait(i, p)
		if answered.Add(1) == failAt {
			waitingAtFailover = waiting.Load()
			failoverBegan = time.Now()
			go func() {
				err := pair.crashPrimary()
				if err == nil {
					// Promote only once the outage has been seen, so
					// that every run goes through it.
					err = awaitCond(ctx, func() bool {
						if outlast {
							return logw.leaseLost.Load() > 0
						}
						return unavailable() > 0
					})
				}
				if err == nil {
					err = pair.promote()
				}
				failoverTook = time.Since(failoverBegan)
				failoverErr <- err
			}()
		}
		if p.cancel {
			if err := retry("cancel", i+2, func(m *lro.Manager) error {
				_, err := m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: p.name})
				return err
			}); err != nil {
				fail(fmt.Errorf("cancel %d %s: %w", i, p.name, err))
			}
		}
	})
	select {
	case err := <-failoverErr:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("the failover did not happen before the deadline")
	}
	t.Logf("failover began %v into the run, with %d Waits in flight; the standby accepted writes %v later ", failoverBegan.Sub(began), waitingAtFailover, failoverTook)
	waiters.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d calls failed, first: %v", len(errs), errs[0])
	}
	t.Logf("every Wait returned done %v after the run began, %v after the failover began; UNAVAILABLE answers retried: start %d, cancel %d, wait %d",
		time.Since(began), time.Since(failoverBegan), retries["start"].Load(), retries["cancel"].Load(), retries["wait"].Load())
	if waitingAtFailover == 0 {
		t.Error("no Wait was in flight when the failover began: the test exercised nothing")
	}

	// The run is over: the checks get a deadline of their own.
	vctx, vcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer vcancel()
	pool, err := pgxpool.New(vctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var port int
	if err := pool.QueryRow(vctx, `SELECT inet_server_port()`).Scan(&port); err != nil || port != pair.standby.port {
		t.Fatalf("the multi-host URL reaches port %d (%v), want the promoted standby's %d", port, err, pair.standby.port)
	}
	// Each store's LISTEN connection is back, on the new primary.
	if err := awaitCond(vctx, func() bool {
		var listeners int
		err := pool.QueryRow(vctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lro-pgstore-listener'`).Scan(&listeners)
		for _, s := range stores {
			if !s.Notifying() {
				return false
			}
		}
		return err == nil && listeners == managers
	}); err != nil {
		t.Errorf("the stores' listeners did not all reconnect to the new primary: %v", err)
	}
	done := doneCounts(vctx, t, pool)
	var stored, storedDone int
	if err := pool.QueryRow(vctx, `SELECT count(*), count(*) FILTER (WHERE done) FROM lro_operations`).Scan(&stored, &storedDone); err != nil {
		t.Fatal(err)
	}
	if stored != total || storedDone != total {
		t.Errorf("the new primary holds %d operations, %d done; want %d, all done (one per request id)", stored, storedDone, total)
	}
	var cancelled, reruns int
	if err := pool.QueryRow(vctx, `SELECT count(*) FROM chaos_done WHERE attempt > 1`).Scan(&reruns); err != nil {
		t.Fatal(err)
	}
	if outlast && reruns == 0 {
		t.Error("no work ran again after the Managers lost their leases: the test exercised nothing")
	}
	for i, p := range plan {
		if n := done[p.name]; n != 1 {
			t.Errorf("op %d %s: became done %d times in the new primary, want exactly once", i, p.name, n)
		}
		switch code := codes.Code(p.final.GetError().GetCode()); {
		case code == codes.Canceled && p.cancel:
			cancelled++
		case code == codes.OK:
			var got durationpb.Duration
			if err := p.final.GetResponse().UnmarshalTo(&got); err != nil || got.AsDuration() != time.Duration(p.ms)*time.Millisecond {
				t.Errorf("op %d %s: response %v (%v), want %v", i, p.name, p.final.GetResponse(), err, time.Duration(p.ms)*time.Millisecond)
			}
		default:
			t.Errorf("op %d %s (cancel %v): ended with %v %q", i, p.name, p.cancel, code, p.final.GetError().GetMessage())
		}
	}
	t.Logf("cancelled: %d; finished by a second or later attempt: %d", cancelled, reruns)
}

// awaitCond polls cond every 10 ms until it holds, or returns an error
// when ctx ends first.
func awaitCond(ctx context.Context, cond func() bool) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("condition not met before the deadline: %w", ctx.Err())
		}
	}
	return nil
}

// setupObserver creates pgstore's tables and the observer trigger of
// observerSQL in the public schema of url's database.
func setupObserver(ctx context.Context, t *testing.T, url string) {
	t.Helper()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := pgstore.Migrate(ctx, pool); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if _, err := pool.Exec(ctx, fmt.Sprintf(observerSQL, "public")); err != nil {
		t.Fatalf("installing the observer trigger: %v", err)
	}
}

// failoverManager opens a store on url and a Manager on it with owner id
// owner, serving chaos.KindSleep (sleep for the requested duration, which
// is the response), and returns both. Both close when the test ends.
func failoverManager(ctx context.Context, t *testing.T, url, owner string, lease time.Duration, log *slog.Logger) (*lro.Manager, *pgstore.Store) {
	t.Helper()
	store, err := pgstore.Open(ctx, url, pgstore.WithPollInterval(200*time.Millisecond), pgstore.WithLogger(log))
	if err != nil {
		t.Fatalf("pgstore.Open: %v", err)
	}
	m, err := lro.New(lro.WithStore(store), lro.WithOwner(owner), lro.WithLease(lease), lro.WithLogger(log))
	if err != nil {
		store.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Close(cctx); err != nil {
			t.Errorf("Close %s: %v", owner, err)
		}
		store.Close()
	})
	if err := lro.Register(m, chaos.KindSleep, func(ctx context.Context, _ *lro.Op, req *durationpb.Duration) (proto.Message, error) {
		timer := time.NewTimer(req.AsDuration())
		defer timer.Stop()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			return req, nil
		}
	}); err != nil {
		t.Fatal(err)
	}
	return m, store
}

// doneCounts reads chaos_done: how many times each operation became done.
func doneCounts(ctx context.Context, t *testing.T, pool *pgxpool.Pool) map[string]int {
	t.Helper()
	rows, err := pool.Query(ctx, `SELECT name, n FROM chaos_done`)
	if err != nil {
		t.Fatal(err)
	}
	done := map[string]int{}
	var name string
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&name, &n}, func() error { done[name] = n; return nil }); err != nil {
		t.Fatalf("reading chaos_done: %v", err)
	}
	return done
}

// cappedLog sends the first max log lines to t.Log and counts the rest,
// which it reports when the test ends. It counts the lines that report a
// Manager lost its owner lease in leaseLost.
type cappedLog struct {
	t         *testing.T
	max       int
	leaseLost atomic.Int64
	mu        sync.Mutex
	n         int
}

// newCappedLog returns a cappedLog on t that shows max lines.
func newCappedLog(t *testing.T, max int) *cappedLog {
	w := &cappedLog{t: t, max: max}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.n > w.max {
			t.Logf("(%d more log lines not shown)", w.n-w.max)
		}
	})
	return w
}

func (w *cappedLog) Write(p []byte) (int, error) {
	if strings.Contains(string(p), `msg="lro: this replica lost its owner lease`) {
		w.leaseLost.Add(1)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n++
	if w.n <= w.max {
		w.t.Log(string(p))
	}
	return len(p), nil
}
