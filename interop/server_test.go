package interop

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrohttp"
)

// The facts every client script checks, shared with the scripts through
// the environment (see fixture.env).
const (
	// errorDomain is the Manager's AIP-193 error domain.
	errorDomain = "interop.lrokit.test"
	// failedMessage is the message of the operation that failed.
	failedMessage = "interop: the shelf is locked"
	// googleParent is the parent of the operations of most fixtures:
	// Google's REST clients expect operation names under a parent
	// (api-core's default routes are /v1/{name=**}/operations and
	// /v1/{name=**/operations/*}).
	googleParent = "projects/interop/locations/global"
)

// answer is the response of the operations that succeed (a Duration, a
// type every client knows without generated code of ours).
var answer = durationpb.New(42 * time.Second)

// fixture is a running server with four operations in known states:
//   - Done succeeded with answer;
//   - Failed ended with FAILED_PRECONDITION and failedMessage;
//   - Slow runs until a client first reads it (GetOperation), then
//     succeeds with answer, so a client's wait sees it running first;
//   - Block runs until it is cancelled.
type fixture struct {
	GRPCAddr string // host:port of the gRPC server
	HTTPURL  string // http://host:port of the REST server

	Done, Failed, Slow, Block string

	// Parent is the parent of the operations, "" for top-level names.
	Parent string
	// ListName is the name a ListOperations request gives: the parent,
	// or "operations" for top-level names.
	ListName string
	// Missing names an operation that does not exist.
	Missing string

	mu      sync.Mutex
	queries []string // the raw query of every REST request, in order
}

// restQueries returns the raw query strings of the REST requests so far.
func (f *fixture) restQueries() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.queries)
}

// recordQueries notes the raw query of each request before h serves it.
func (f *fixture) recordQueries(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.queries = append(f.queries, r.URL.RawQuery)
		f.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// env is the environment a client script reads the fixture from.
func (f *fixture) env() []string {
	return []string{
		"LRO_GRPC_ADDR=" + f.GRPCAddr,
		"LRO_HTTP_URL=" + f.HTTPURL,
		"LRO_OP_DONE=" + f.Done,
		"LRO_OP_FAILED=" + f.Failed,
		"LRO_OP_SLOW=" + f.Slow,
		"LRO_OP_BLOCK=" + f.Block,
		"LRO_OP_MISSING=" + f.Missing,
		"LRO_PARENT=" + f.Parent,
		"LRO_LIST_NAME=" + f.ListName,
		"LRO_ERROR_DOMAIN=" + errorDomain,
		"LRO_FAILED_MESSAGE=" + failedMessage,
		// Google's auth libraries must not look for a cloud metadata
		// server: the clients talk to loopback only.
		"METADATA_SERVER_DETECTION=none",
		"NO_GCE_CHECK=True",
	}
}

// gatedOps is the Manager as the clients see it; reading the slow
// operation releases its work.
type gatedOps struct {
	*lro.Manager
	slow    string
	once    sync.Once
	release chan struct{}
}

// GetOperation answers as the Manager does, and then lets the slow
// operation's work finish: the answer the client gets shows it running.
func (g *gatedOps) GetOperation(ctx context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	op, err := g.Manager.GetOperation(ctx, req)
	if req.GetName() == g.slow {
		g.once.Do(func() { close(g.release) })
	}
	return op, err
}

// startServer starts a Manager with the four operations of fixture under
// parent ("" for top-level names) and serves it on gRPC (with server
// reflection, for grpcurl) and on REST (lrohttp, with the routes of
// projects/*/locations/* too), on loopback ports. Everything stops when the
// test ends.
func startServer(t *testing.T, parent string) *fixture {
	t.Helper()
	ctx := context.Background()
	m, err := lro.New(lro.WithErrorDomain(errorDomain))
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedOps{Manager: m, release: make(chan struct{})}
	f := &fixture{Parent: parent, ListName: parent, Missing: parent + "/operations/does-not-exist"}
	if parent == "" {
		f.ListName, f.Missing = "operations", "operations/does-not-exist"
	}
	meta := lro.WithMetadata(durationpb.New(time.Second))
	under := lro.WithParent(parent) // "" is no parent

	start := func(work lro.WorkFunc) string {
		t.Helper()
		op, err := m.Start(ctx, work, meta, under)
		if err != nil {
			t.Fatal(err)
		}
		return op.GetName()
	}
	f.Done = start(func(context.Context, *lro.Op) (proto.Message, error) { return answer, nil })
	f.Failed = start(func(context.Context, *lro.Op) (proto.Message, error) {
		return nil, status.Error(codes.FailedPrecondition, failedMessage)
	})
	f.Block = start(func(ctx context.Context, _ *lro.Op) (proto.Message, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	f.Slow = start(func(ctx context.Context, _ *lro.Op) (proto.Message, error) {
		select {
		case <-g.release:
			return answer, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	g.slow = f.Slow
	for _, name := range []string{f.Done, f.Failed} {
		op, err := m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: name, Timeout: durationpb.New(time.Minute)})
		if err != nil || !op.GetDone() {
			t.Fatalf("waiting for %s: %v, done=%v", name, err, op.GetDone())
		}
	}

	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	longrunningpb.RegisterOperationsServer(gs, g)
	reflection.Register(gs)
	grpcDone := make(chan error, 1)
	go func() { grpcDone <- gs.Serve(gl) }()

	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.GRPCAddr = gl.Addr().String()
	f.HTTPURL = "http://" + hl.Addr().String()
	mux := http.NewServeMux()
	mux.Handle("/", f.recordQueries(lrohttp.NewHandler(g, lrohttp.WithPattern("projects/*/locations/*"))))
	mux.Handle("GET /$discovery/rest", f.discoveryDocument(t))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	httpDone := make(chan error, 1)
	go func() { httpDone <- hs.Serve(hl) }()

	t.Cleanup(func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hs.Shutdown(closeCtx); err != nil {
			t.Errorf("stopping the REST server: %v", err)
		}
		gs.Stop()
		// The clients may have left the blocked and the slow operation
		// running; a cancelled work returns, so Close has nothing to cut.
		for _, name := range []string{f.Block, f.Slow} {
			_, _ = m.CancelOperation(closeCtx, &longrunningpb.CancelOperationRequest{Name: name})
		}
		if err := m.Close(closeCtx); err != nil {
			t.Errorf("closing the Manager: %v", err)
		}
		if err := <-httpDone; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("REST server: %v", err)
		}
		if err := <-grpcDone; err != nil {
			t.Errorf("gRPC server: %v", err)
		}
	})
	return f
}

// discoveryDocument serves discovery/lro-v1.json, the API's discovery
// document, with this server as its root URL, where the discovery-based
// client's build() fetches it.
func (f *fixture) discoveryDocument(t *testing.T) http.Handler {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("discovery", "lro-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc = bytes.ReplaceAll(doc, []byte("ROOT_URL"), []byte(f.HTTPURL))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	})
}
