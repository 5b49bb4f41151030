package exportserver

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"

	"github.com/lrokit/lro/examples/exportsvc/proto/exportpb"
)

// TestColdShelfRetried: the first attempt to export a cold shelf fails
// with UNAVAILABLE; the retry policy runs it again, after the backoff, and
// the second attempt succeeds.
func TestColdShelfRetried(t *testing.T) {
	var log syncBuffer
	s := startServerConfig(t, Config{
		GRPCAddr:     "127.0.0.1:0",
		RetryBackoff: time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(&log, nil)),
	})
	ctx := testContext(t)
	started, err := s.exports.ExportBooks(ctx, &exportpb.ExportBooksRequest{Shelf: "shelves/archive"})
	if err != nil {
		t.Fatalf("ExportBooks: %v", err)
	}
	op := waitDone(ctx, t, s.ops, started.GetName())
	if op.GetError() != nil {
		t.Fatalf("export failed: %v", op.GetError())
	}
	resp := new(exportpb.ExportBooksResponse)
	if err := op.GetResponse().UnmarshalTo(resp); err != nil {
		t.Fatalf("response: %v", err)
	}
	if resp.GetBooksExported() != 30 {
		t.Errorf("response = %v, want 30 books", resp)
	}
	log.mu.Lock()
	out := log.buf.String()
	log.mu.Unlock()
	for _, want := range []string{"attempt=1", "attempt=2"} {
		if !strings.Contains(out, `msg="export running" operation=`+started.GetName()+" "+want) {
			t.Errorf("no run with %s logged:\n%s", want, out)
		}
	}
}

// TestExportTimeout: an export still running at its deadline ends
// DEADLINE_EXCEEDED.
func TestExportTimeout(t *testing.T) {
	s := startServerConfig(t, Config{GRPCAddr: "127.0.0.1:0", Step: hang, Timeout: 50 * time.Millisecond, Logger: discard()})
	ctx := testContext(t)
	started, err := s.exports.ExportBooks(ctx, &exportpb.ExportBooksRequest{Shelf: "shelves/poetry"})
	if err != nil {
		t.Fatalf("ExportBooks: %v", err)
	}
	op := waitDone(ctx, t, s.ops, started.GetName())
	if got := codes.Code(op.GetError().GetCode()); got != codes.DeadlineExceeded {
		t.Errorf("export ended %v, want DEADLINE_EXCEEDED", op.GetError())
	}
}

// TestMaxRunning: beyond MaxRunning, an export waits queued, and the
// AIP-160 filter "queued = true" lists it.
func TestMaxRunning(t *testing.T) {
	s := startServerConfig(t, Config{GRPCAddr: "127.0.0.1:0", Step: hang, MaxRunning: 1, Logger: discard()})
	ctx := testContext(t)
	var names []string
	for range 2 {
		op, err := s.exports.ExportBooks(ctx, &exportpb.ExportBooksRequest{Shelf: "shelves/poetry"})
		if err != nil {
			t.Fatalf("ExportBooks: %v", err)
		}
		names = append(names, op.GetName())
	}
	queued, err := s.ops.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Filter: "queued = true"})
	if err != nil {
		t.Fatalf("ListOperations: %v", err)
	}
	if got := queued.GetOperations(); len(got) != 1 || got[0].GetName() != names[1] {
		t.Errorf("queued = %v, want only the second export %s", got, names[1])
	}
	for _, name := range names {
		if _, err := s.ops.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: name}); err != nil {
			t.Fatalf("CancelOperation: %v", err)
		}
		if op := waitDone(ctx, t, s.ops, name); codes.Code(op.GetError().GetCode()) != codes.Canceled {
			t.Errorf("%s after cancel = %v, want CANCELLED", name, op)
		}
	}
}

// discard is a logger that drops everything.
func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
