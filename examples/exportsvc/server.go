package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/examples/exportsvc/proto/exportpb"
)

// config is how the server is set up; main fills it from flags.
type config struct {
	// grpcAddr and httpAddr are the addresses to listen on; port 0 picks a
	// free port. An empty httpAddr serves no REST.
	grpcAddr, httpAddr string
	// step is how long each step of an export takes.
	step time.Duration
	// logger receives the server's own messages.
	logger *slog.Logger
}

// server is the example service: gRPC (ExportService, Operations,
// reflection) and REST (lrohttp plus ExportBooks), sharing one lro.Manager.
type server struct {
	ops      *lro.Manager
	grpcSrv  *grpc.Server
	httpSrv  *http.Server
	grpcLis  net.Listener
	httpLis  net.Listener
	served   chan error // one value per Serve that ended
	nServers int
	// failed is closed when a Serve ends with an error before shutdown.
	failed   chan struct{}
	failOnce sync.Once
}

// newServer listens on cfg's addresses and starts serving.
func newServer(cfg config) (_ *server, err error) {
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	s := &server{}
	defer func() {
		if err != nil {
			s.closeListeners()
		}
	}()
	s.ops, err = lro.New(lro.WithLogger(cfg.logger))
	if err != nil {
		return nil, fmt.Errorf("creating the operations manager: %w", err)
	}
	svc, err := newExportService(s.ops, cfg.step)
	if err != nil {
		return nil, err
	}
	if s.grpcLis, err = net.Listen("tcp", cfg.grpcAddr); err != nil {
		return nil, fmt.Errorf("listening for gRPC: %w", err)
	}
	if cfg.httpAddr != "" {
		if s.httpLis, err = net.Listen("tcp", cfg.httpAddr); err != nil {
			return nil, fmt.Errorf("listening for HTTP: %w", err)
		}
	}

	s.grpcSrv = grpc.NewServer()
	longrunningpb.RegisterOperationsServer(s.grpcSrv, s.ops)
	exportpb.RegisterExportServiceServer(s.grpcSrv, svc)
	reflection.Register(s.grpcSrv)

	s.served = make(chan error, 2)
	s.nServers = 1
	s.failed = make(chan struct{})
	go func() {
		// Serve reports ErrServerStopped when shutdown came first.
		if err := s.grpcSrv.Serve(s.grpcLis); !errors.Is(err, grpc.ErrServerStopped) {
			s.ended(err)
			return
		}
		s.ended(nil)
	}()
	if s.httpLis != nil {
		s.httpSrv = &http.Server{
			Handler:           newHTTPHandler(s.ops, svc),
			ReadHeaderTimeout: 10 * time.Second,
		}
		s.nServers++
		go func() {
			if err := s.httpSrv.Serve(s.httpLis); !errors.Is(err, http.ErrServerClosed) {
				s.ended(err)
				return
			}
			s.ended(nil)
		}()
	}
	return s, nil
}

// ended records how a Serve ended.
func (s *server) ended(err error) {
	if err != nil {
		s.failOnce.Do(func() { close(s.failed) })
	}
	s.served <- err
}

// grpcAddr returns the address the gRPC server listens on.
func (s *server) grpcAddr() string { return s.grpcLis.Addr().String() }

// httpAddr returns the address the REST server listens on, or "".
func (s *server) httpAddr() string {
	if s.httpLis == nil {
		return ""
	}
	return s.httpLis.Addr().String()
}

// shutdown stops the server. First the Manager closes: new exports fail
// with UNAVAILABLE while running ones may finish until ctx ends (then they
// are cut short and end UNAVAILABLE), and clients can still get and wait for
// operations meanwhile, so they see how their exports ended. Then both
// servers stop accepting and let the calls in flight finish until ctx ends.
// shutdown returns when every goroutine the server started has ended.
func (s *server) shutdown(ctx context.Context) error {
	var errs []error
	if err := s.ops.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("closing the operations manager: %w", err))
	}

	grpcStopped := make(chan struct{})
	go func() {
		s.grpcSrv.GracefulStop()
		close(grpcStopped)
	}()
	if s.httpSrv != nil {
		if err := s.httpSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stopping HTTP: %w", err))
			_ = s.httpSrv.Close()
		}
	}
	select {
	case <-grpcStopped:
	case <-ctx.Done():
		s.grpcSrv.Stop()
		<-grpcStopped
	}
	for range s.nServers {
		if err := <-s.served; err != nil {
			errs = append(errs, fmt.Errorf("serving: %w", err))
		}
	}
	return errors.Join(errs...)
}

// closeListeners releases the listeners of a server that failed to start.
func (s *server) closeListeners() {
	for _, l := range []net.Listener{s.grpcLis, s.httpLis} {
		if l != nil {
			_ = l.Close()
		}
	}
	if s.ops != nil {
		_ = s.ops.Close(context.Background())
	}
}
