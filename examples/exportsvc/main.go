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
// shelves/poetry (12). An export takes ten steps of --step each (300 ms by
// default) and publishes progress_percent in its metadata after each one.
// Operations are kept in memory, or in Cloud Spanner with --spanner
// projects/P/instances/I/databases/D (spanner.go), shared by replicas. Interrupt (Ctrl-C) lets running exports
// finish for up to --grace, then stops. The server itself is package
// exportserver; this command only reads flags and handles signals.
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

// run parses args, serves until ctx ends, and shuts down.
func run(ctx context.Context, args []string, logOut io.Writer) error {
	fs := flag.NewFlagSet("exportsvc", flag.ContinueOnError)
	fs.SetOutput(logOut)
	var cfg exportserver.Config
	fs.StringVar(&cfg.GRPCAddr, "grpc", "127.0.0.1:8080", "`address` to serve gRPC on (port 0 picks a free port)")
	fs.StringVar(&cfg.HTTPAddr, "http", "127.0.0.1:8081", "`address` to serve REST on; empty for none")
	fs.DurationVar(&cfg.Step, "step", 300*time.Millisecond, "how long each of the ten steps of an export takes")
	grace := fs.Duration("grace", 10*time.Second, "how long shutdown lets running exports finish")
	spannerDB := spannerFlag(fs) // --spanner (spanner.go)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *spannerDB != "" {
		store, closeStore, err := openSpannerStore(ctx, *spannerDB)
		if err != nil {
			return err
		}
		defer closeStore()
		cfg.ManagerOptions = append(cfg.ManagerOptions, lro.WithStore(store))
	}
	logger := slog.New(slog.NewTextHandler(logOut, nil))
	cfg.Logger = logger

	s, err := exportserver.Start(ctx, cfg)
	if err != nil {
		return err
	}
	logger.Info("serving", "grpc", s.GRPCAddr(), "http", s.HTTPAddr())
	select {
	case <-ctx.Done():
		logger.Info("shutting down", "grace", *grace)
	case <-s.Failed():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), *grace)
	defer cancel()
	return s.Shutdown(shutdownCtx)
}
