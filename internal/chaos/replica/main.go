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
// failure with status 503.
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
}

func run() error {
	url := flag.String("url", os.Getenv("LRO_TEST_DATABASE_URL"), "PostgreSQL URL")
	schema := flag.String("schema", "public", "schema holding the tables")
	owner := flag.String("owner", fmt.Sprintf("replica-%d", os.Getpid()), "owner id of this replica")
	lease := flag.Duration("lease", time.Second, "lease of running operations")
	poll := flag.Duration("poll", 200*time.Millisecond, "pgstore poll interval")
	rerunExtra := flag.Duration("rerun-extra", 0, "extra time work takes when it runs again (attempt 2 and later)")
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

	m, err := lro.New(lro.WithStore(store), lro.WithOwner(*owner), lro.WithLease(*lease), lro.WithLogger(log))
	if err != nil {
		return fmt.Errorf("making the manager: %w", err)
	}
	r := &replica{m: m, pool: pool, owner: *owner, rerunExtra: *rerunExtra}
	if err := lro.Register(m, chaos.KindSleep, func(ctx context.Context, op *lro.Op, req *durationpb.Duration) (proto.Message, error) {
		return r.work(ctx, op.Name(), op.Attempt(), req.AsDuration())
	}); err != nil {
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
// ctx ends, recording the run in the chaos tables: a row per run in
// chaos_runs when it begins, and an idempotent upsert in chaos_effects when
// it ends. Its response is d.
func (r *replica) work(ctx context.Context, name string, attempt int, d time.Duration) (proto.Message, error) {
	if _, err := r.pool.Exec(ctx, `INSERT INTO chaos_runs (name, owner, attempt) VALUES ($1, $2, $3)`, name, r.owner, attempt); err != nil {
		return nil, fmt.Errorf("recording the run: %w", err)
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
