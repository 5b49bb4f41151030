package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"serves and stops", []string{"--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0", "--step", "1ms"}, ""},
		{"no REST", []string{"--grpc", "127.0.0.1:0", "--http", ""}, ""},
		{"unknown flag", []string{"--nope"}, "flag provided but not defined"},
		{"stray argument", []string{"--grpc", "127.0.0.1:0", "extra"}, "unexpected arguments"},
		{"bad address", []string{"--grpc", "not-an-address", "--http", ""}, "listening for gRPC"},
		{"work controls", []string{"--grpc", "127.0.0.1:0", "--http", "", "--max-running", "2", "--timeout", "1m", "--retry-backoff", "5s"}, ""},
		{"accept-only in memory", []string{"--grpc", "127.0.0.1:0", "--max-running", "0"}, "an accept-only server needs a shared store"},
		{"negative limit", []string{"--grpc", "127.0.0.1:0", "--max-running", "-1"}, "MaxRunning -1 is negative"},
		{"two stores", []string{"--grpc", "127.0.0.1:0", "--database", "postgres://x/y", "--spanner", "projects/p/instances/i/databases/d"}, "--database and --spanner name two stores"},
		{"negative timeout", []string{"--grpc", "127.0.0.1:0", "--http", "", "--timeout", "-1s"}, "timeout -1s is negative"},
		{"bad database URL", []string{"--grpc", "127.0.0.1:0", "--http", "", "--database", "postgres://%zz"}, "opening --database"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// An interrupted context: run starts, then shuts down at once.
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			var out bytes.Buffer
			err := run(ctx, tc.args, &out)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("run: %v", err)
				}
				if !strings.Contains(out.String(), "msg=serving") {
					t.Errorf("log %q does not say it served", out.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("run = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}
