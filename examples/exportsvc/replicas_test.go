package main

import (
	"bytes"
	"context"
	"io"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/examples/exportsvc/exportserver"
	"github.com/lrokit/lro/examples/exportsvc/proto/exportpb"
	"github.com/lrokit/lro/internal/pgtest"
	"github.com/lrokit/lro/pgstore"
)

// TestAcceptOnlyAndWorker runs the command as the README shows: an
// accept-only replica (--max-running 0) and a worker replica on one
// PostgreSQL database. An export started through the accept-only replica
// waits queued until the worker starts, then runs on the worker: to the
// end, after a retry of its transient failure, or until its deadline.
func TestAcceptOnlyAndWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two replicas on PostgreSQL; skipped with -short")
	}
	tests := []struct {
		name        string
		shelf       string
		front       []string // the accept-only replica's flags besides --max-running 0
		worker      []string // the worker's flags
		wantCode    codes.Code
		wantAttempt int32
	}{
		{"runs on the worker", "shelves/poetry", nil, []string{"--step", "0"}, codes.OK, 1},
		{"transient failure retried", "shelves/archive", nil, []string{"--step", "0", "--retry-backoff", "10ms"}, codes.OK, 2},
		// The deadline is set where the export is created, so the
		// accept-only replica's --timeout counts. An hour-long step on the
		// worker makes the export stuck until then; the margin leaves the
		// worker time to start and claim it (queued time counts).
		{"stuck export times out", "shelves/fiction", []string{"--timeout", "2s"}, []string{"--step", "1h"}, codes.DeadlineExceeded, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := testDatabase(t)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()

			front := startReplica(t, db, append([]string{"--max-running", "0"}, tc.front...)...)
			conn := dial(t, front.GRPCAddr())
			exports := exportpb.NewExportServiceClient(conn)
			ops := longrunningpb.NewOperationsClient(conn)
			op, err := exports.ExportBooks(ctx, &exportpb.ExportBooksRequest{Shelf: tc.shelf})
			if err != nil {
				t.Fatalf("ExportBooks on the accept-only replica: %v", err)
			}
			if op.GetDone() {
				t.Fatalf("ExportBooks returned a done operation: %v", op)
			}
			// With no worker yet, the export waits queued.
			listed, err := ops.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Filter: "queued = true"})
			if err != nil {
				t.Fatalf("ListOperations(queued = true): %v", err)
			}
			if got := listed.GetOperations(); len(got) != 1 || got[0].GetName() != op.GetName() {
				t.Fatalf("queued operations = %v, want only %s", got, op.GetName())
			}

			worker := startReplica(t, db, tc.worker...)
			done := waitDone(ctx, t, ops, op.GetName())
			if got := codes.Code(done.GetError().GetCode()); got != tc.wantCode {
				t.Fatalf("export ended with code %v (%v), want %v", got, done.GetError(), tc.wantCode)
			}
			if tc.wantCode == codes.OK && done.GetResponse() == nil {
				t.Errorf("export succeeded without a response: %v", done)
			}
			if rec := readRecord(ctx, t, db, op.GetName()); rec.Attempt != tc.wantAttempt {
				t.Errorf("Attempt = %d, want %d", rec.Attempt, tc.wantAttempt)
			}
			ran := "msg=\"export running\" operation=" + op.GetName()
			if strings.Contains(front.log.String(), ran) {
				t.Errorf("the accept-only replica ran the export:\n%s", front.log.String())
			}
			if !strings.Contains(worker.log.String(), ran) {
				t.Errorf("the worker did not run the export:\n%s", worker.log.String())
			}
		})
	}
}

// testDatabase returns the URL of the test database with a search_path
// set to a schema of the test's own, so that no other test's replica
// claims its exports.
func testDatabase(t *testing.T) string {
	t.Helper()
	base := pgtest.URL(t)
	schema := pgtest.FreshSchema(t, base, "exportsvc_")
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parsing %s: %v", pgtest.EnvURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// replica is the command serving in the background.
type replica struct {
	*exportserver.Server
	log *syncBuffer
}

// startReplica runs the command with --database db, loopback gRPC on a
// free port, no REST, and args, and stops it when the test ends.
func startReplica(t *testing.T, db string, args ...string) *replica {
	t.Helper()
	o, err := parseFlags(append([]string{"--grpc", "127.0.0.1:0", "--http", "", "--grace", "10s", "--database", db}, args...), io.Discard)
	if err != nil {
		t.Fatalf("parseFlags: %v", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	r := &replica{log: &syncBuffer{}}
	started := make(chan *exportserver.Server, 1)
	ended := make(chan error, 1)
	go func() { ended <- serve(ctx, o, r.log, func(s *exportserver.Server) { started <- s }) }()
	select {
	case r.Server = <-started:
	case err := <-ended:
		stop()
		t.Fatalf("serve %q: %v", args, err)
	}
	t.Cleanup(func() {
		stop()
		if err := <-ended; err != nil {
			t.Errorf("serve %q: %v", args, err)
		}
	})
	return r
}

// dial returns a client connection to addr, closed when the test ends.
func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// waitDone long-polls WaitOperation until the operation is done.
func waitDone(ctx context.Context, t *testing.T, ops longrunningpb.OperationsClient, name string) *longrunningpb.Operation {
	t.Helper()
	for {
		op, err := ops.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: name, Timeout: durationpb.New(5 * time.Second)})
		if err != nil {
			t.Fatalf("WaitOperation(%s): %v", name, err)
		}
		if op.GetDone() {
			return op
		}
	}
}

// readRecord reads the stored record of the operation name from db.
func readRecord(ctx context.Context, t *testing.T, db, name string) *lro.Record {
	t.Helper()
	store, err := pgstore.Open(ctx, db)
	if err != nil {
		t.Fatalf("pgstore.Open: %v", err)
	}
	defer store.Close()
	rec, err := store.Get(ctx, name)
	if err != nil {
		t.Fatalf("reading the record of %s: %v", name, err)
	}
	return rec
}

// syncBuffer is a bytes.Buffer that a replica's logger writes to while
// the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestMain says in one line when the PostgreSQL tests were skipped.
func TestMain(m *testing.M) { pgtest.Main(m, "examples/exportsvc") }
