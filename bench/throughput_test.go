package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/pgstore"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"google.golang.org/protobuf/proto"
)

const (
	// starters is how many goroutines start operations (or insert jobs) at
	// once.
	starters = 32
	// poolConns is the pool size each side gets.
	poolConns = 40
)

// startAll calls start b.N times from starters goroutines.
func startAll(b *testing.B, start func() error) { startN(b, b.N, start) }

// startN calls start n times from starters goroutines.
func startN(b *testing.B, n int, start func() error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range starters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := start(); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
}

// BenchmarkStartToDone measures how many no-op operations per second go
// from Start to done with 32 concurrent starters, for lro on pgstore and for
// River doing the same (one insert per call, a no-op worker, completion) on
// the same database. Timing ends when every one is done: for lro when Close
// has waited for all work and its completion writes, for River when its
// completion event for every job has arrived.
func BenchmarkStartToDone(b *testing.B) {
	url := dbURL(b)
	b.Run("lro", func(b *testing.B) {
		schema := freshSchema(b, url)
		s := newStore(b, url, schema, poolConns)
		benchStartToDone(b, s, s)
	})
	b.Run("river", func(b *testing.B) {
		ctx := context.Background()
		client, events := startRiver(b, url, b.N+1000)
		completed := make(chan struct{})
		go func() {
			defer close(completed)
			for n := 0; n < b.N; n++ {
				if _, ok := <-events; !ok {
					return
				}
			}
		}()
		b.ResetTimer()
		began := time.Now()
		startAll(b, func() error {
			_, err := client.Insert(ctx, noopArgs{}, nil)
			return err
		})
		timeout := time.NewTimer(5 * time.Minute)
		defer timeout.Stop()
		select {
		case <-completed:
		case <-timeout.C:
			b.Fatal("River did not complete every job within 5 minutes")
		}
		elapsed := time.Since(began)
		b.StopTimer()
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
	})
}

// benchStartToDone times b.N no-op operations from Start to done on a
// Manager using store (backed by s).
func benchStartToDone(b *testing.B, store lro.Store, s *pgstore.Store) {
	m, err := lro.New(lro.WithStore(store), lro.WithLogger(quiet))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	noop := func(context.Context, *lro.Op) (proto.Message, error) { return nil, nil }
	b.ResetTimer()
	began := time.Now()
	startAll(b, func() error {
		_, err := m.Start(ctx, noop)
		return err
	})
	if err := m.Close(ctx); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(began)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
	var n int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM lro_operations WHERE done`).Scan(&n); err != nil || n != b.N {
		b.Fatalf("%d operations done (err %v), want %d", n, err, b.N)
	}
}

// noopArgs are the arguments of River's no-op job.
type noopArgs struct{}

// Kind implements river.JobArgs.
func (noopArgs) Kind() string { return "noop" }

// noopWorker works River's no-op job.
type noopWorker struct {
	river.WorkerDefaults[noopArgs]
}

// Work implements river.Worker.
func (*noopWorker) Work(context.Context, *river.Job[noopArgs]) error { return nil }

// startRiver migrates River into a fresh schema, starts a client with a
// no-op worker (1000 workers on the default queue), and returns it with a
// channel of its job-completed events (buffered for chanSize). Both end
// with the benchmark.
func startRiver(b *testing.B, url string, chanSize int) (*river.Client[pgx.Tx], <-chan *river.Event) {
	b.Helper()
	ctx := context.Background()
	pool := newPool(b, url, freshSchema(b, url), poolConns)
	driver := riverpgxv5.New(pool)
	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		b.Fatalf("migrating River: %v", err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &noopWorker{})
	client, err := river.NewClient(driver, &river.Config{
		Logger:  quiet,
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 1000}},
		Workers: workers,
	})
	if err != nil {
		b.Fatal(err)
	}
	events, unsubscribe := client.SubscribeConfig(&river.SubscribeConfig{
		Kinds:    []river.EventKind{river.EventKindJobCompleted},
		ChanSize: chanSize,
	})
	b.Cleanup(unsubscribe)
	if err := client.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = client.Stop(sctx)
	})
	return client, events
}
