// Command exportsvc is a small but real service built on
// github.com/lrokit/lro: an ExportService whose ExportBooks method exports
// the books of a shelf as a long-running operation.
//
// On its gRPC port it serves lro.examples.export.v1.ExportService,
// google.longrunning.Operations (an lro.Manager) and gRPC server reflection,
// so grpcurl and lroctl work against it. On its HTTP port it serves the same
// operations over REST/JSON (package lrohttp, under /v1/operations) and
// ExportBooks at POST /v1/shelves/{shelf}/books:export.
//
//	go run ./examples/exportsvc --grpc 127.0.0.1:8080 --http 127.0.0.1:8081
//
// The shelves are shelves/fiction (120 books), shelves/science (45) and
// shelves/poetry (12), and shelves/archive (30), whose first export attempt
// fails with UNAVAILABLE and is retried. An export takes ten steps of
// --step each (300 ms by default) and publishes progress_percent in its
// metadata after each one. At most --max-running exports run at once (the
// others wait queued), --timeout ends an export DEADLINE_EXCEEDED, and a
// transient failure runs again after --retry-backoff.
//
// Operations are kept in memory, or with --database in PostgreSQL, where
// several replicas serve the same operations and any replica with a free
// slot runs a queued export. --max-running 0 makes an accept-only replica:
// it records exports and a worker replica runs them.
//
//	go run ./examples/exportsvc --database postgres://... --max-running 0 --grpc 127.0.0.1:8080 --http 127.0.0.1:8081
//	go run ./examples/exportsvc --database postgres://... --grpc 127.0.0.1:8090 --http 127.0.0.1:8091
//
// Interrupt (Ctrl-C) lets running exports finish for up to --grace, then
// stops. The server itself is package exportserver; this command only
// reads flags, opens the store and handles signals.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/examples/exportsvc/exportserver"
	"github.com/lrokit/lro/pgstore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "exportsvc:", err)
		os.Exit(1)
	}
}

// options are what the flags ask for.
type options struct {
	server   exportserver.Config
	grace    time.Duration
	database string  // PostgreSQL URL; empty keeps operations in memory
	spanner  *string // Cloud Spanner database path; empty for none
}

// parseFlags reads args into options, writing usage and flag errors to
// out. It fails for an unknown flag or a stray argument.
func parseFlags(args []string, out io.Writer) (*options, error) {
	fs := flag.NewFlagSet("exportsvc", flag.ContinueOnError)
	fs.SetOutput(out)
	o := &options{}
	cfg := &o.server
	fs.StringVar(&cfg.GRPCAddr, "grpc", "127.0.0.1:8080", "`address` to serve gRPC on (port 0 picks a free port)")
	fs.StringVar(&cfg.HTTPAddr, "http", "127.0.0.1:8081", "`address` to serve REST on; empty for none")
	fs.DurationVar(&cfg.Step, "step", 300*time.Millisecond, "how long each of the ten steps of an export takes")
	fs.DurationVar(&o.grace, "grace", 10*time.Second, "how long shutdown lets running exports finish")
	fs.StringVar(&o.database, "database", "", "PostgreSQL `URL` to keep operations in, shared by replicas; empty keeps them in memory")
	o.spanner = spannerFlag(fs)
	fs.IntVar(&cfg.MaxRunning, "max-running", exportserver.DefaultMaxRunning, "how many exports this replica runs at once; 0 makes it accept-only (needs --database or --spanner)")
	fs.DurationVar(&cfg.Timeout, "timeout", exportserver.DefaultTimeout, "how long an export this replica accepts may take, time queued included, before it ends DEADLINE_EXCEEDED")
	fs.DurationVar(&cfg.RetryBackoff, "retry-backoff", exportserver.DefaultRetryBackoff, "wait before an export that failed transiently runs again (doubling after each attempt)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.database != "" && *o.spanner != "" {
		return nil, fmt.Errorf("--database and --spanner name two stores; give one")
	}
	// In Config, zero means the default limit; on the command line it means
	// none at all. exportserver.Start refuses negative values, and an
	// accept-only server without a shared store.
	cfg.AcceptOnly = cfg.MaxRunning == 0
	return o, nil
}

// run parses args, serves until ctx ends, and shuts down.
func run(ctx context.Context, args []string, logOut io.Writer) error {
	o, err := parseFlags(args, logOut)
	if err != nil {
		return err
	}
	return serve(ctx, o, logOut, nil)
}

// serve opens the store, starts the server (calling started, when not nil,
// once it serves), serves until ctx ends, then shuts the server down and
// closes the store.
func serve(ctx context.Context, o *options, logOut io.Writer, started func(*exportserver.Server)) error {
	logger := slog.New(slog.NewTextHandler(logOut, nil))
	cfg := o.server
	cfg.Logger = logger
	store, closeStore, err := openStore(ctx, o, logger)
	if err != nil {
		return err
	}
	defer closeStore()
	cfg.Store = store

	s, err := exportserver.Start(ctx, cfg)
	if err != nil {
		return err
	}
	logger.Info("serving", "grpc", s.GRPCAddr(), "http", s.HTTPAddr(), "store", storeName(o), "accept_only", cfg.AcceptOnly)
	if started != nil {
		started(s)
	}
	select {
	case <-ctx.Done():
		logger.Info("shutting down", "grace", o.grace)
	case <-s.Failed():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.grace)
	defer cancel()
	return s.Shutdown(shutdownCtx)
}

// openStore opens the store the flags name, and returns it with the
// function that closes it: PostgreSQL at --database (migrating its schema),
// Cloud Spanner at --spanner (migrating its schema), or nil (operations in
// memory) without either.
func openStore(ctx context.Context, o *options, logger *slog.Logger) (lro.Store, func(), error) {
	if *o.spanner != "" {
		return openSpannerStore(ctx, *o.spanner)
	}
	if o.database == "" {
		return nil, func() {}, nil
	}
	store, err := pgstore.Open(ctx, o.database, pgstore.WithAutoMigrate(), pgstore.WithLogger(logger))
	if err != nil {
		return nil, nil, fmt.Errorf("opening --database: %w", err)
	}
	return store, store.Close, nil
}

// storeName says in the log where the operations are kept.
func storeName(o *options) string {
	switch {
	case o.database != "":
		return "postgres"
	case *o.spanner != "":
		return "spanner"
	}
	return "memory"
}
