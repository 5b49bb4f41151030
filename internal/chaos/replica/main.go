// Command replica is one replica of a service that uses lro with pgstore,
// driven by the chaos tests in package chaos. It serves the Operations gRPC
// API and a small HTTP control endpoint that starts operations, then prints
//
//	READY grpc=127.0.0.1:PORT http=127.0.0.1:PORT
//
// on stdout. SIGTERM closes it gracefully; the tests also SIGKILL it.
//
// Control endpoint: POST /start?kind=sleep|func&ms=N&rid=ID starts an
// operation that sleeps N milliseconds (registered work for "sleep", a
// plain work function for "func") with AIP-155 request id ID, and answers
// 200 with the operation's name, or the gRPC code and message of the
// failure with status 503. GET /stats answers "peak=N": the most works that
// ever ran at once in this process.
//
// The queue flags: -max-running N is lro.WithMaxRunning(N) (0 makes the
// replica accept-only; negative, the default, sets no limit), -kind-max N
// registers the sleep kind with lro.KindMaxRunning(N), and -kind-global N
// with lro.KindMaxRunningGlobal(N) (0, the default, sets neither). With
// -record-ends, each run also records when it ended (see chaos.TablesSQL).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/internal/chaos"
	"github.com/lrokit/lro/pgstore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "replica:", err)
		os.Exit(1)
	}
}

// replica is the running program.
type replica struct {
	m          *lro.Manager
	pool       *pgxpool.Pool
	owner      string
	rerunExtra time.Duration
	recordEnds bool
	running    atomic.Int64 // works running now
	peak       atomic.Int64 // the most that ever ran at once
}

func run() error {
	url := flag.String("url", os.Getenv("LRO_TEST_DATABASE_URL"), "PostgreSQL URL")
	schema := flag.String("schema", "public", "schema holding the tables")
	owner := flag.String("owner", fmt.Sprintf("replica-%d", os.Getpid()), "owner id of this replica")
	lease := flag.Duration("lease", time.Second, "lease of running operations")
	poll := flag.Duration("poll", 200*time.Millisecond, "pgstore poll interval")
	rerunExtra := flag.Duration("rerun-extra", 0, "extra time work takes when it runs again (attempt 2 and later)")
	maxRunning := flag.Int("max-running", -1, "lro.WithMaxRunning (0: accept-only; negative: no limit)")
	kindMax := flag.Int("kind-max", 0, "lro.KindMaxRunning of the sleep kind (0: none)")
	kindGlobal := flag.Int("kind-global", 0, "lro.KindMaxRunningGlobal of the sleep kind (0: none)")
	recordEnds := flag.Bool("record-ends", false, "record in chaos_runs when each run ends (one more statement per run)")
	flag.Parse()
	if *url == "" {
		return errors.New("-url is required")
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	cfg, err := pgxpool.ParseConfig(*url)
	if err != nil {
		return fmt.Errorf("parsing -url: %w", err)
	}
	cfg.MaxConns = 20
	cfg.ConnConfig.RuntimeParams["search_path"] = *schema
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, chaos.TablesSQL); err != nil {
		return fmt.Errorf("creating the chaos tables: %w", err)
	}
	store, err := pgstore.New(ctx, pool, pgstore.WithAutoMigrate(), pgstore.WithPollInterval(*poll), pgstore.WithLogger(log))
	if err != nil {
		return fmt.Errorf("opening the store: %w", err)
	}
	defer store.Close()

	opts := []lro.Option{lro.WithStore(store), lro.WithOwner(*owner), lro.WithLease(*lease), lro.WithLogger(log)}
	if *maxRunning >= 0 {
		opts = append(opts, lro.WithMaxRunning(*maxRunning))
	}
	var kindOpts []lro.KindOption
	if *kindMax > 0 {
		kindOpts = append(kindOpts, lro.KindMaxRunning(*kindMax))
	}
	if *kindGlobal > 0 {
		kindOpts = append(kindOpts, lro.KindMaxRunningGlobal(*kindGlobal))
	}
	m, err := lro.New(opts...)
	if err != nil {
		return fmt.Errorf("making the manager: %w", err)
	}
	r := &replica{m: m, pool: pool, owner: *owner, rerunExtra: *rerunExtra, recordEnds: *recordEnds}
	if err := lro.Register(m, chaos.KindSleep, func(ctx context.Context, op *lro.Op, req *durationpb.Duration) (proto.Message, error) {
		return r.work(ctx, op.Name(), op.Attempt(), req.AsDuration())
	}, kindOpts...); err != nil {
		return err
	}

	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listening for gRPC: %w", err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listening for HTTP: %w", err)
	}
	gs := grpc.NewServer()
	longrunningpb.RegisterOperationsServer(gs, m)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /start", r.start)
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintf(w, "peak=%d", r.peak.Load())
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- gs.Serve(gl) }()
	go func() { errc <- hs.Serve(hl) }()
	fmt.Printf("%s grpc=%s http=%s\n", chaos.ReadyPrefix, gl.Addr(), hl.Addr())

	select {
	case <-ctx.Done():
	case err := <-errc:
		log.Error("server stopped", "error", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	gs.GracefulStop()
	return m.Close(sctx)
}

// work sleeps for d (plus rerunExtra from the second attempt on), or until
// ctx ends, recording the run in the chaos tables: a row in chaos_runs when
// it begins, its end time in that row when it ends (with -record-ends;
// however it ends, unless the process dies first), and an idempotent upsert
// in chaos_effects when it gets to the end. Its response is d. It counts the works running at
// once in this process, and the peak.
func (r *replica) work(ctx context.Context, name string, attempt int, d time.Duration) (proto.Message, error) {
	n := r.running.Add(1)
	defer r.running.Add(-1)
	for {
		if p := r.peak.Load(); n <= p || r.peak.CompareAndSwap(p, n) {
			break
		}
	}
	var id int64
	if err := r.pool.QueryRow(ctx, `INSERT INTO chaos_runs (name, owner, attempt) VALUES ($1, $2, $3) RETURNING id`,
		name, r.owner, attempt).Scan(&id); err != nil {
		return nil, fmt.Errorf("recording the run: %w", err)
	}
	if r.recordEnds {
		defer func() {
			// Recorded even when ctx ended, before the slot is given back.
			ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			_, _ = r.pool.Exec(ectx, `UPDATE chaos_runs SET ended = clock_timestamp() WHERE id = $1`, id)
		}()
	}
	sleep := d
	if attempt > 1 {
		sleep += r.rerunExtra
	}
	t := time.NewTimer(sleep)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
	}
	if _, err := r.pool.Exec(ctx, `INSERT INTO chaos_effects (name, runs) VALUES ($1, 1)
		ON CONFLICT (name) DO UPDATE SET runs = chaos_effects.runs + 1`, name); err != nil {
		return nil, fmt.Errorf("recording the effect: %w", err)
	}
	return durationpb.New(d), nil
}

// start serves POST /start.
func (r *replica) start(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	ms, err := strconv.Atoi(q.Get("ms"))
	if err != nil || ms < 0 {
		http.Error(w, "ms: want a non-negative integer", http.StatusBadRequest)
		return
	}
	d := time.Duration(ms) * time.Millisecond
	opts := []lro.StartOption{lro.WithRequestID(q.Get("rid"))}
	var op *longrunningpb.Operation
	switch q.Get("kind") {
	case chaos.KindSleep:
		op, err = r.m.StartKind(req.Context(), chaos.KindSleep, durationpb.New(d), opts...)
	case chaos.KindFunc:
		op, err = r.m.Start(req.Context(), func(ctx context.Context, op *lro.Op) (proto.Message, error) {
			return r.work(ctx, op.Name(), op.Attempt(), d)
		}, opts...)
	default:
		http.Error(w, "kind: want sleep or func", http.StatusBadRequest)
		return
	}
	if err != nil {
		st := status.Convert(err)
		http.Error(w, fmt.Sprintf("%d %s", st.Code(), st.Message()), http.StatusServiceUnavailable)
		return
	}
	_, _ = fmt.Fprint(w, op.GetName())
}
