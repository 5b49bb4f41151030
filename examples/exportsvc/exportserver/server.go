// Package exportserver is the server of the exportsvc example: an
// ExportService whose ExportBooks method exports the books of a shelf as a
// long-running operation, next to google.longrunning.Operations (an
// lro.Manager) and gRPC server reflection, with the same operations and
// ExportBooks over REST, and a web console for the operations at /console/.
//
// The shelves are shelves/fiction (120 books), shelves/science (45) and
// shelves/poetry (12). An export takes ten steps of Config.Step each and
// publishes progress_percent in its ExportBooksMetadata after each one; it
// ends with an ExportBooksResponse. Operations are kept in memory.
//
// The command examples/exportsvc runs it from flags; examples/quickstart
// starts it in-process and drives it as a client would.
package exportserver

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

// Config is how a Server is set up.
type Config struct {
	// GRPCAddr is the address to serve gRPC on, such as "127.0.0.1:8080";
	// port 0 picks a free port.
	GRPCAddr string
	// HTTPAddr is the address to serve REST and the web console on; port 0
	// picks a free port and an empty HTTPAddr serves neither.
	HTTPAddr string
	// Step is how long each of the ten steps of an export takes; zero or
	// less makes exports finish as fast as they can.
	Step time.Duration
	// Logger receives the server's own messages; nil means slog.Default().
	Logger *slog.Logger
	// ManagerOptions are added to the lro.Manager's, such as
	// lro.WithStore to keep operations in a shared store.
	ManagerOptions []lro.Option
}

// Server is the example service: gRPC (ExportService, Operations,
// reflection) and REST (lrohttp plus ExportBooks), sharing one lro.Manager,
// with OpenTelemetry metrics at GET /metrics on the REST port (Prometheus
// text format), spans for RPCs and for runs of exports, and logs that
// carry the trace id (telemetry.go). Start makes one; Shutdown stops it.
type Server struct {
	ops      *lro.Manager
	tel      *telemetry
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

// Start listens on cfg's addresses and serves there until Shutdown. ctx
// bounds only the setting up (resolving and binding the addresses), not
// how long the server runs.
func Start(ctx context.Context, cfg Config) (_ *Server, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{}
	defer func() {
		if err != nil {
			s.closeListeners()
		}
	}()
	if s.tel, err = newTelemetry(); err != nil {
		return nil, err
	}
	cfg.Logger = slog.New(withTraceIDs(cfg.Logger.Handler()))
	s.ops, err = lro.New(append(append(s.tel.managerOptions(), lro.WithLogger(cfg.Logger)), cfg.ManagerOptions...)...)
	if err != nil {
		return nil, fmt.Errorf("creating the operations manager: %w", err)
	}
	svc, err := newExportService(s.ops, cfg.Step, cfg.Logger)
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	if s.grpcLis, err = lc.Listen(ctx, "tcp", cfg.GRPCAddr); err != nil {
		return nil, fmt.Errorf("listening for gRPC: %w", err)
	}
	if cfg.HTTPAddr != "" {
		if s.httpLis, err = lc.Listen(ctx, "tcp", cfg.HTTPAddr); err != nil {
			return nil, fmt.Errorf("listening for HTTP: %w", err)
		}
	}

	s.grpcSrv = grpc.NewServer(s.tel.grpcOptions()...)
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
		consoleStop, endConsole := context.WithCancel(context.Background())
		console, err := newConsole(s.ops, consoleStop)
		if err != nil {
			endConsole()
			return nil, err
		}
		s.httpSrv = &http.Server{
			Handler:           s.tel.mount(newHTTPHandler(s.ops, svc, console)),
			ReadHeaderTimeout: 10 * time.Second,
		}
		s.httpSrv.RegisterOnShutdown(endConsole)
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
func (s *Server) ended(err error) {
	if err != nil {
		s.failOnce.Do(func() { close(s.failed) })
	}
	s.served <- err
}

// GRPCAddr returns the address the gRPC server listens on.
func (s *Server) GRPCAddr() string { return s.grpcLis.Addr().String() }

// HTTPAddr returns the address the REST server listens on, or "" when it
// serves no REST.
func (s *Server) HTTPAddr() string {
	if s.httpLis == nil {
		return ""
	}
	return s.httpLis.Addr().String()
}

// Failed is closed when the gRPC or HTTP server stops serving on its own,
// because of an error, before Shutdown; Shutdown then reports that error.
func (s *Server) Failed() <-chan struct{} { return s.failed }

// Shutdown stops the server. First the Manager closes: new exports fail
// with UNAVAILABLE while running ones may finish until ctx ends (then they
// are cut short and end UNAVAILABLE), and clients can still get and wait for
// operations meanwhile, so they see how their exports ended. Then both
// servers stop accepting and let the calls in flight finish until ctx ends.
// Shutdown returns when every goroutine the server started has ended.
func (s *Server) Shutdown(ctx context.Context) error {
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
	if err := s.tel.shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stopping telemetry: %w", err))
	}
	return errors.Join(errs...)
}

// closeListeners releases the listeners, the Manager and the telemetry of
// a server that failed to start.
func (s *Server) closeListeners() {
	for _, l := range []net.Listener{s.grpcLis, s.httpLis} {
		if l != nil {
			_ = l.Close()
		}
	}
	if s.ops != nil {
		_ = s.ops.Close(context.Background())
	}
	if s.tel != nil {
		_ = s.tel.shutdown(context.Background())
	}
}
