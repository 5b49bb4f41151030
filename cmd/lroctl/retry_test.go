package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lrokit/lro/lrohttp"
)

// TestRetryBudget drives the budget with a fake clock: transient errors
// pass through until they have lasted the limit, a success starts over,
// other errors are never touched.
func TestRetryBudget(t *testing.T) {
	unavailable := status.Error(codes.Unavailable, "connection refused")
	deadline := status.Error(codes.DeadlineExceeded, "slow")
	notFound := status.Error(codes.NotFound, "no such operation")
	type step struct {
		advance time.Duration // clock moves before the call
		err     error         // outcome of the call
		gaveUp  bool          // check returns a *gaveUpError
	}
	tests := []struct {
		name  string
		limit time.Duration
		steps []step
	}{
		{"success", 30 * time.Second, []step{{0, nil, false}, {time.Hour, nil, false}}},
		{"gives up at the limit", 30 * time.Second, []step{
			{0, unavailable, false},
			{10 * time.Second, unavailable, false},
			{19 * time.Second, deadline, false},
			{time.Second, unavailable, true},
		}},
		{"success starts over", 30 * time.Second, []step{
			{0, unavailable, false},
			{29 * time.Second, unavailable, false},
			{0, nil, false},
			{time.Minute, unavailable, false},
			{29 * time.Second, unavailable, false},
			{time.Second, unavailable, true},
		}},
		{"zero never retries", 0, []step{{0, unavailable, true}}},
		{"other errors pass", 0, []step{{0, notFound, false}, {time.Hour, notFound, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			b := newRetryBudget(tt.limit, func() time.Time { return now })
			for i, s := range tt.steps {
				now = now.Add(s.advance)
				got := b.check(context.Background(), s.err)
				var gu *gaveUpError
				switch {
				case s.gaveUp:
					if !errors.As(got, &gu) {
						t.Fatalf("step %d: %v, want a gaveUpError", i, got)
					}
					if !strings.Contains(got.Error(), "connection refused") {
						t.Errorf("step %d: %q does not say the last error", i, got)
					}
					// lroclient.Wait must not see it as transient.
					if c := status.Code(got); c == codes.Unavailable || c == codes.DeadlineExceeded {
						t.Errorf("step %d: gaveUpError has code %v", i, c)
					}
				case !errors.Is(got, s.err):
					t.Fatalf("step %d: %v, want %v", i, got, s.err)
				}
			}
		})
	}

	// An error of a context that ended is the context's, not transient.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := newRetryBudget(0, nil)
	if err := b.check(ctx, status.Error(codes.Unavailable, "x")); status.Code(err) != codes.Unavailable {
		t.Errorf("cancelled context: %v", err)
	}
}

// vanishingServer answers WaitOperation by announcing the call and blocking
// until the call is cancelled, which stopping the server does.
type vanishingServer struct {
	longrunningpb.UnimplementedOperationsServer
	waiting chan struct{}
}

func (s *vanishingServer) WaitOperation(ctx context.Context, req *longrunningpb.WaitOperationRequest) (*longrunningpb.Operation, error) {
	select {
	case s.waiting <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return nil, status.FromContextError(ctx.Err()).Err()
}

// TestWaitGivesUp stops the server while wait is waiting: wait retries for
// --retry-for, then prints the last error and exits 1.
func TestWaitGivesUp(t *testing.T) {
	tests := []struct {
		mode     string
		retryFor string
		want     string
	}{
		{"grpc", "200ms", "(--retry-for 200ms); last error: UNAVAILABLE: "},
		{"rest", "200ms", "(--retry-for 200ms); last error: UNAVAILABLE: "},
		{"grpc", "0", "(not retried: --retry-for 0)"},
		{"rest", "0", "(not retried: --retry-for 0)"},
	}
	for _, tt := range tests {
		t.Run(tt.mode+"/"+tt.retryFor, func(t *testing.T) {
			srv := &vanishingServer{waiting: make(chan struct{}, 1)}
			var (
				flags []string
				stop  func()
			)
			if tt.mode == "grpc" {
				lis, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				gs := grpc.NewServer()
				longrunningpb.RegisterOperationsServer(gs, srv)
				served := make(chan struct{})
				go func() {
					defer close(served)
					_ = gs.Serve(lis)
				}()
				flags = []string{"--addr", lis.Addr().String(), "--plaintext"}
				stop = func() { gs.Stop(); <-served }
			} else {
				hs := httptest.NewServer(lrohttp.NewHandler(srv))
				flags = []string{"--rest", hs.URL}
				stop = func() { hs.CloseClientConnections(); hs.Close() }
			}
			args := append(flags, "--timeout", "1m", "wait", "--refresh", "1m", "--poll-max", "10ms", "--retry-for", tt.retryFor, "operations/gone")
			cmd := exec.Command(bin, args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				stop()
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case <-srv.waiting: // lroctl is in WaitOperation: pull the server away
				stop()
			case err := <-exited:
				stop()
				t.Fatalf("lroctl exited before waiting: %v\n%s", err, stderr.String())
			}
			err := <-exited
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("lroctl: %v, want exit 1\nstderr:\n%s", err, stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout: %q", stdout.String())
			}
			if !strings.HasPrefix(stderr.String(), "lroctl: ") || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr does not contain %q:\n%s", tt.want, stderr.String())
			}
		})
	}
}
