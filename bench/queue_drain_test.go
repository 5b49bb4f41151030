package bench

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/pgstore"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

const (
	// drainOps is how many queued operations (jobs) one turn drains.
	drainOps = 10000
	// drainReplicas is how many worker replicas (River clients) drain them.
	drainReplicas = 2
	// drainLimit is each replica's limit: WithMaxRunning for lro,
	// MaxWorkers for River.
	drainLimit = 16
	// drainConns is the pool size of each worker replica, on either side.
	drainConns = 20
	// drainKind is the kind of the queued no-op operations.
	drainKind = "noop"
)

// noopKind is the no-op handler of drainKind.
func noopKind(context.Context, *lro.Op, *emptypb.Empty) (proto.Message, error) { return nil, nil }

// BenchmarkQueueDrain measures how fast two worker replicas drain a queue
// of 10000 no-op operations, against River doing the same on the same
// database. Each turn first fills the queue, untimed: for lro an
// accept-only Manager (WithMaxRunning(0)) records 10000 operations of a
// registered kind through StartKind from 32 goroutines; for River an
// insert-only client inserts 10000 jobs with InsertMany. Then the timed
// part: two worker replicas start, each with its own pool of 20
// connections and a limit of 16 (lro: a Manager with WithMaxRunning(16)
// and its own owner id on its own pgstore Store; River: a client with
// MaxWorkers 16 on the default queue), and the turn ends when a count in
// the database sees every operation done (every job completed); the count
// polls every 2 ms. Starting the replicas is inside the timing on both
// sides. Between turns the tables are emptied.
//
// The sides take turns, the first rotating: lro; River with its defaults
// (FetchCooldown 100 ms); and River with FetchCooldown 1 ms, its minimum,
// which is River at its fastest here. Use -benchtime with a multiple of
// 10000x, such as 30000x (one round per 10000). It reports ops/s for each
// side and lro's ratio to each River (the target is lro/river ≥ 1.5).
// LRO_DRAIN_ONLY=lro (or river, river-cd1ms) runs one side alone, for
// profiling.
func BenchmarkQueueDrain(b *testing.B) {
	url := dbURL(b)
	rounds := b.N / drainOps
	if rounds == 0 {
		return // the benchmark framework's first probe (b.N = 1)
	}
	only := os.Getenv("LRO_DRAIN_ONLY")
	type side struct {
		name string
		turn func(b *testing.B, round int) time.Duration
		took time.Duration
	}
	var sides []*side
	add := func(name string, mk func() func(*testing.B, int) time.Duration) {
		if only == "" || only == name {
			sides = append(sides, &side{name: name, turn: mk()})
		}
	}
	var lroSide *lroDrain
	add("lro", func() func(*testing.B, int) time.Duration { lroSide = newLroDrain(b, url); return lroSide.turn })
	add("river", func() func(*testing.B, int) time.Duration { return newRiverDrain(b, url, 0).turn })
	add("river-cd1ms", func() func(*testing.B, int) time.Duration { return newRiverDrain(b, url, time.Millisecond).turn })
	b.ResetTimer()
	for round := range rounds {
		for i := range sides {
			s := sides[(round+i)%len(sides)]
			d := s.turn(b, round)
			b.Logf("round %d %s: %.0f ops/s", round, s.name, drainOps/d.Seconds())
			s.took += d
		}
	}
	b.StopTimer()
	rates := map[string]float64{}
	for _, s := range sides {
		rates[s.name] = float64(rounds*drainOps) / s.took.Seconds()
		b.ReportMetric(rates[s.name], s.name+"-ops/s")
	}
	if lroSide != nil {
		b.ReportMetric(float64(rounds*drainOps)/float64(lroSide.claims.Load()), "lro-ops/claim")
	}
	if l, ok := rates["lro"]; ok {
		for _, r := range []string{"river", "river-cd1ms"} {
			if v, ok := rates[r]; ok {
				b.ReportMetric(l/v, "lro/"+r)
			}
		}
	}
	b.ReportMetric(0, "ns/op")
}

// lroDrain is lro's side of BenchmarkQueueDrain.
type lroDrain struct {
	url      string
	acceptor *lro.Manager
	pool     *pgxpool.Pool    // the acceptor's, for counting and emptying
	workers  []*pgstore.Store // one per replica, kept across turns
	claims   atomic.Int64     // ClaimQueued calls, over every turn
}

// claimCounter counts a Store's ClaimQueued calls. Embedding the Store
// keeps its optional interfaces (Finisher, Poller, QueueWatcher...).
type claimCounter struct {
	*pgstore.Store
	n *atomic.Int64
}

// ClaimQueued implements lro.Store.
func (c claimCounter) ClaimQueued(ctx context.Context, p lro.QueueClaimParams) ([]*lro.Record, error) {
	c.n.Add(1)
	return c.Store.ClaimQueued(ctx, p)
}

func newLroDrain(b *testing.B, url string) *lroDrain {
	schema := freshSchema(b, url)
	acc := newStore(b, url, schema, poolConns)
	d := &lroDrain{url: url, pool: acc.Pool(), acceptor: newManager(b, acc, lro.WithMaxRunning(0))}
	if err := lro.Register(d.acceptor, drainKind, noopKind); err != nil {
		b.Fatal(err)
	}
	for range drainReplicas {
		d.workers = append(d.workers, newStore(b, url, schema, drainConns))
	}
	return d
}

// turn fills the queue, then times two worker Managers draining it.
func (d *lroDrain) turn(b *testing.B, round int) time.Duration {
	ctx := context.Background()
	req := &emptypb.Empty{}
	startN(b, drainOps, func() error {
		_, err := d.acceptor.StartKind(ctx, drainKind, req)
		return err
	})
	count := `SELECT count(*) FROM lro_operations WHERE done`
	began := time.Now()
	ms := make([]*lro.Manager, len(d.workers))
	for i, s := range d.workers {
		m, err := lro.New(lro.WithStore(claimCounter{s, &d.claims}), lro.WithLogger(quiet), lro.WithMaxRunning(drainLimit),
			lro.WithOwner(fmt.Sprintf("drain-%d-%d", round, i)))
		if err != nil {
			b.Fatal(err)
		}
		if err := lro.Register(m, drainKind, noopKind); err != nil {
			b.Fatal(err)
		}
		ms[i] = m
	}
	waitCount(b, d.pool, count, drainOps)
	took := time.Since(began)
	for _, m := range ms {
		if err := m.Close(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := d.pool.Exec(ctx, `DELETE FROM lro_operations`); err != nil {
		b.Fatal(err)
	}
	return took
}

// riverDrain is River's side of BenchmarkQueueDrain.
type riverDrain struct {
	inserter *river.Client[pgx.Tx]
	pool     *pgxpool.Pool   // the inserter's, for counting and emptying
	pools    []*pgxpool.Pool // one per worker client, kept across turns
	cooldown time.Duration   // FetchCooldown; 0 for River's default
}

func newRiverDrain(b *testing.B, url string, cooldown time.Duration) *riverDrain {
	ctx := context.Background()
	schema := freshSchema(b, url)
	d := &riverDrain{pool: newPool(b, url, schema, poolConns), cooldown: cooldown}
	migrator, err := rivermigrate.New(riverpgxv5.New(d.pool), &rivermigrate.Config{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		b.Fatalf("migrating River: %v", err)
	}
	d.inserter, err = river.NewClient(riverpgxv5.New(d.pool), &river.Config{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	for range drainReplicas {
		d.pools = append(d.pools, newPool(b, url, schema, drainConns))
	}
	return d
}

// turn inserts the jobs, then times two River clients completing them.
func (d *riverDrain) turn(b *testing.B, round int) time.Duration {
	ctx := context.Background()
	params := make([]river.InsertManyParams, drainOps)
	for i := range params {
		params[i] = river.InsertManyParams{Args: noopArgs{}}
	}
	if _, err := d.inserter.InsertMany(ctx, params); err != nil {
		b.Fatalf("inserting River jobs: %v", err)
	}
	clients := make([]*river.Client[pgx.Tx], len(d.pools))
	for i, pool := range d.pools {
		workers := river.NewWorkers()
		river.AddWorker(workers, &noopWorker{})
		c, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
			Logger:        quiet,
			FetchCooldown: d.cooldown,
			Queues:        map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: drainLimit}},
			Workers:       workers,
		})
		if err != nil {
			b.Fatal(err)
		}
		clients[i] = c
	}
	count := `SELECT count(*) FROM river_job WHERE state = 'completed'`
	began := time.Now()
	for _, c := range clients {
		if err := c.Start(ctx); err != nil {
			b.Fatal(err)
		}
	}
	waitCount(b, d.pool, count, drainOps)
	took := time.Since(began)
	for _, c := range clients {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := c.Stop(sctx)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
	if _, err := d.pool.Exec(ctx, `DELETE FROM river_job`); err != nil {
		b.Fatal(err)
	}
	return took
}

// waitCount polls the count query every 2 ms until it returns want, for at
// most two minutes.
func waitCount(b *testing.B, pool *pgxpool.Pool, query string, want int) {
	b.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(2 * time.Minute)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		var n int
		if err := pool.QueryRow(ctx, query).Scan(&n); err != nil {
			b.Fatalf("counting: %v", err)
		}
		if n >= want {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d done after two minutes", n, want)
		}
	}
}
