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

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/lrokit/lro/lrohttp"
)

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
