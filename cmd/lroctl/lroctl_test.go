package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrohttp"
	"github.com/lrokit/lro/lrotest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// bin is the lroctl binary built for the tests.
var bin string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "lroctl-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "lroctl")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building lroctl: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// servers runs srv over gRPC and over REST (lrohttp) and returns the
// lroctl flags that reach each.
func servers(t *testing.T, srv longrunningpb.OperationsServer) map[string][]string {
	t.Helper()
	conn := lrotest.ServeGRPC(t, srv)
	hs := httptest.NewServer(lrohttp.NewHandler(srv, lrohttp.WithPattern("projects/*/locations/*")))
	t.Cleanup(hs.Close)
	return map[string][]string{
		"grpc": {"--addr", conn.Target(), "--plaintext"},
		"rest": {"--rest", hs.URL + "/v1"},
	}
}

// lroctl runs the binary and returns its transcript: the command, exit
// code, standard output and standard error.
func lroctl(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("running lroctl: %v", err)
		}
		code = ee.ExitCode()
	}
	return fmt.Sprintf("exit: %d\n--- stdout\n%s--- stderr\n%s", code, stdout.String(), stderr.String()), code
}

func golden(t *testing.T, file, got string) {
	t.Helper()
	path := filepath.Join("testdata", file+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it)\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// sameAsGolden checks that got, the transcript of a run whose golden file
// another run writes, is what testdata/file.golden holds after its command
// line. With -update it checks nothing.
func sameAsGolden(t *testing.T, file, got string) {
	t.Helper()
	if *update {
		return
	}
	want, err := os.ReadFile(filepath.Join("testdata", file+".golden"))
	if err != nil {
		t.Fatal(err)
	}
	if _, body, _ := strings.Cut(string(want), "\n"); got != body {
		t.Errorf("output differs from testdata/%s.golden\n--- got\n%s--- want\n%s", file, got, body)
	}
}

// newManager returns an in-memory Manager, closed when the test ends.
func newManager(t *testing.T, opts ...lro.Option) *lro.Manager {
	t.Helper()
	m, err := lro.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}

// TestGolden runs lroctl against the fake server over gRPC and over REST;
// both must print exactly the golden output (standard error is not a
// terminal here, so wait prints plain progress lines).
func TestGolden(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		noWait bool // the server has no WaitOperation
		// needName makes the server refuse to list with an empty name.
		needName bool
		// restGolden, when set, is the golden file of the REST run, which
		// then need not print what the gRPC run printed.
		restGolden string
	}{
		{name: "list_all", args: []string{"list"}, restGolden: "list_all_rest"},
		{name: "list_all_refused", args: []string{"list"}, needName: true, restGolden: "list_all_rest"},
		{name: "list", args: []string{"list", "operations"}},
		{name: "list_pages", args: []string{"list", "operations", "--page-size", "2"}},
		{name: "list_one_page", args: []string{"list", "operations", "--page-size", "2", "--one-page"}},
		{name: "list_page_token", args: []string{"list", "operations", "--page-size", "2", "--one-page", "--page-token", "page-2"}},
		{name: "list_json", args: []string{"--json", "list", "operations", "--page-size", "3"}},
		{name: "list_filter", args: []string{"list", "operations", "--filter", "done = true"}},
		{name: "list_bad_filter", args: []string{"list", "operations", "--filter", "done ="}},
		{name: "list_parent", args: []string{"list", "projects/p/locations/l/operations"}},
		{name: "get_running", args: []string{"get", "operations/export-1"}},
		{name: "get_succeeded", args: []string{"get", "operations/export-2"}},
		{name: "get_failed", args: []string{"get", "operations/import-3"}},
		{name: "get_failed_json", args: []string{"--json", "get", "operations/import-3"}},
		{name: "get_unknown_type", args: []string{"get", "operations/custom-4"}},
		{name: "get_parent", args: []string{"get", "projects/p/locations/l/operations/build-5"}},
		{name: "get_missing", args: []string{"get", "operations/missing"}},
		{name: "wait_progress", args: []string{"wait", "--poll-max", "1ms", "operations/progress"}},
		{name: "wait_progress", args: []string{"wait", "--poll-max", "1ms", "operations/progress"}, noWait: true},
		{name: "wait_progress", args: []string{"wait", "--poll", "--poll-max", "1ms", "operations/progress"}},
		{name: "wait_fails", args: []string{"wait", "--poll-max", "1ms", "operations/fails"}},
		{name: "wait_fails_json", args: []string{"--json", "wait", "--poll-max", "1ms", "operations/fails"}},
		{name: "wait_timeout", args: []string{"--timeout", "2s", "wait", "--refresh", "100ms", "operations/export-1"}},
		{name: "wait_missing", args: []string{"wait", "operations/missing"}},
		{name: "cancel", args: []string{"cancel", "operations/export-1", "projects/p/locations/l/operations/build-5"}},
		{name: "cancel_missing", args: []string{"cancel", "operations/missing"}},
		{name: "delete", args: []string{"delete", "operations/export-2", "operations/missing"}},
		{name: "delete_json", args: []string{"--json", "delete", "operations/export-2"}},
	}
	for _, tt := range tests {
		for _, mode := range []string{"grpc", "rest"} {
			t.Run(fmt.Sprintf("%s/%s/nowait=%v/%s", tt.name, mode, tt.noWait, strings.Join(tt.args[:1], "")), func(t *testing.T) {
				fake := newFake()
				fake.noWait = tt.noWait
				fake.needName = tt.needName
				flags := servers(t, fake)[mode]
				got, _ := lroctl(t, append(append([]string{}, flags...), tt.args...)...)
				header := "$ lroctl " + strings.Join(tt.args, " ") + "\n"
				if mode == "rest" && tt.restGolden != "" {
					golden(t, tt.restGolden, header+got)
					return
				}
				variant := tt.noWait || slices.Contains(tt.args, "--poll")
				if mode == "grpc" && !variant {
					golden(t, tt.name, header+got)
					return
				}
				// The REST run and the variants (no WaitOperation on the
				// server, --poll) must print what the gRPC run printed.
				sameAsGolden(t, tt.name, got)
			})
		}
	}
}

// TestGoldenUsage pins usage errors and the help texts.
func TestGoldenUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"help", []string{"--help"}, 0},
		{"help_list", []string{"list", "--help"}, 0},
		{"help_get", []string{"get", "--help"}, 0},
		{"help_wait", []string{"wait", "--help"}, 0},
		{"help_cancel", []string{"cancel", "--help"}, 0},
		{"help_delete", []string{"delete", "--help"}, 0},
		{"usage_no_command", nil, 2},
		{"usage_unknown_command", []string{"frobnicate"}, 2},
		{"usage_unknown_flag", []string{"list", "--bogus"}, 2},
		{"usage_no_server", []string{"get", "operations/x"}, 2},
		{"usage_two_servers", []string{"--addr", "localhost:1", "--rest", "http://localhost:1", "get", "operations/x"}, 2},
		{"usage_missing_name", []string{"--addr", "localhost:1", "get"}, 2},
		{"usage_extra_arg", []string{"--addr", "localhost:1", "get", "a", "b"}, 2},
		{"usage_bad_page_size", []string{"--addr", "localhost:1", "list", "--page-size", "-1"}, 2},
		{"usage_bad_header", []string{"--addr", "localhost:1", "-H", "novalue", "get", "operations/x"}, 2},
		{"usage_bad_rest_url", []string{"--rest", "localhost:8080", "get", "operations/x"}, 2},
		{"usage_plaintext_rest", []string{"--rest", "http://localhost:1", "--plaintext", "get", "operations/x"}, 2},
		{"usage_bad_timeout", []string{"--addr", "localhost:1", "--timeout", "soon", "get", "operations/x"}, 2},
		{"usage_bad_retry_for", []string{"--addr", "localhost:1", "wait", "--retry-for", "-1s", "operations/x"}, 2},
		{"usage_missing_descriptor_set", []string{"--addr", "localhost:1", "--descriptor-set", "testdata/nope.pb", "get", "operations/x"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, code := lroctl(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
			golden(t, tt.name, "$ lroctl "+strings.Join(tt.args, " ")+"\n"+got)
		})
	}
}

// TestManager drives the real lro Manager with the binary: wait for a
// successful operation, cancel one and see it fail with CANCELLED.
func TestManager(t *testing.T) {
	ctx := context.Background()
	m := newManager(t)
	for mode, flags := range servers(t, m) {
		t.Run(mode, func(t *testing.T) {
			release := make(chan struct{})
			op, err := m.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
				if err := op.SetMetadata(ctx, mustStruct(map[string]any{"progress_percent": 60})); err != nil {
					return nil, err
				}
				<-release
				return wrapperspb.String("all done"), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			close(release) // before or during the wait: either way it returns
			out, code := lroctl(t, append(append([]string{}, flags...), "wait", op.GetName())...)
			if code != 0 || !strings.Contains(out, "State:     SUCCEEDED") || !strings.Contains(out, `"value": "all done"`) {
				t.Errorf("wait:\n%s", out)
			}

			created, err := m.Create(ctx, lro.WithMetadata(mustStruct(map[string]any{"percentComplete": 5})))
			if err != nil {
				t.Fatal(err)
			}
			if out, code := lroctl(t, append(append([]string{}, flags...), "get", created.GetName())...); code != 0 || !strings.Contains(out, "Progress:  5%") {
				t.Errorf("get:\n%s", out)
			}
			if out, code := lroctl(t, append(append([]string{}, flags...), "cancel", created.GetName())...); code != 0 {
				t.Errorf("cancel:\n%s", out)
			}
			out, code = lroctl(t, append(append([]string{}, flags...), "--json", "wait", created.GetName())...)
			if code != 1 || !strings.Contains(out, `"code": 1`) || !strings.Contains(out, "failed: CANCELLED") {
				t.Errorf("wait after cancel:\n%s", out)
			}
			out, code = lroctl(t, append(append([]string{}, flags...), "list", "--page-size", "1")...)
			if code != 0 || !strings.Contains(out, op.GetName()) || !strings.Contains(out, created.GetName()) {
				t.Errorf("list:\n%s", out)
			}
			if out, code := lroctl(t, append(append([]string{}, flags...), "delete", created.GetName(), op.GetName())...); code != 0 {
				t.Errorf("delete:\n%s", out)
			}
			if out, code := lroctl(t, append(append([]string{}, flags...), "get", op.GetName())...); code != 1 || !strings.Contains(out, "NOT_FOUND") {
				t.Errorf("get after delete:\n%s", out)
			}
		})
	}
}

// TestDescriptorSet decodes a metadata type lroctl does not link in, from
// a FileDescriptorSet given with --descriptor-set.
func TestDescriptorSet(t *testing.T) {
	set := &descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{{
		Name:    proto.String("acme/v1/job.proto"),
		Package: proto.String("acme.v1"),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("JobMetadata"),
			Field: []*descriptorpb.FieldDescriptorProto{{
				Name:     proto.String("progress_percent"),
				JsonName: proto.String("progressPercent"),
				Number:   proto.Int32(1),
				Type:     descriptorpb.FieldDescriptorProto_TYPE_INT32.Enum(),
				Label:    descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
			}},
		}},
	}}}
	b, err := proto.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "acme.pb")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	flags := servers(t, newFake())["grpc"]
	out, code := lroctl(t, append(flags, "--descriptor-set", file, "get", "operations/custom-4")...)
	if code != 0 || !strings.Contains(out, "Progress:  42%") || !strings.Contains(out, `"progressPercent": 42`) {
		t.Errorf("get with descriptor set:\n%s", out)
	}
	// A file that is not a descriptor set is a usage error.
	if err := os.WriteFile(file, []byte("not protobuf"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := lroctl(t, append(flags, "--descriptor-set", file, "get", "operations/custom-4")...); code != 2 {
		t.Errorf("bad descriptor set: exit %d\n%s", code, out)
	}
}

func mustStruct(m map[string]any) *structpb.Struct {
	s, err := structpb.NewStruct(m)
	if err != nil {
		panic(err)
	}
	return s
}

// headerServer records the incoming gRPC metadata of GetOperation.
type headerServer struct {
	*fakeServer
	got chan metadata.MD
}

func (s headerServer) GetOperation(ctx context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.got <- md
	return s.fakeServer.GetOperation(ctx, req)
}

// TestTLSAndHeaders reaches TLS servers (gRPC and REST) with --cacert and
// --insecure-skip-verify, refuses an unknown authority, and sends -H
// headers as gRPC metadata and HTTP headers.
func TestTLSAndHeaders(t *testing.T) {
	hs := httptest.NewUnstartedServer(nil)
	got := make(chan string, 10)
	hs.Config.Handler = lrohttp.NewHandler(newFake(), lrohttp.WithContextFunc(func(r *http.Request) context.Context {
		got <- r.Header.Get("Authorization")
		return r.Context()
	}))
	hs.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	hs.StartTLS()
	defer hs.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hs.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.Creds(credentials.NewServerTLSFromCert(&hs.TLS.Certificates[0])))
	mdSeen := make(chan metadata.MD, 10)
	longrunningpb.RegisterOperationsServer(gs, headerServer{newFake(), mdSeen})
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = gs.Serve(lis)
	}()
	defer func() { gs.Stop(); <-served }()

	get := []string{"-H", "Authorization: Bearer t0k3n", "get", "operations/export-1"}
	tests := []struct {
		name  string
		flags []string
		code  int
	}{
		{"rest cacert", []string{"--rest", hs.URL, "--cacert", caFile}, 0},
		{"rest skip verify", []string{"--rest", hs.URL, "--insecure-skip-verify"}, 0},
		{"rest unknown authority", []string{"--rest", hs.URL}, 1},
		{"grpc cacert", []string{"--addr", lis.Addr().String(), "--cacert", caFile}, 0},
		{"grpc skip verify", []string{"--addr", lis.Addr().String(), "--insecure-skip-verify"}, 0},
		{"grpc unknown authority", []string{"--addr", lis.Addr().String()}, 1},
		{"grpc plaintext to TLS", []string{"--addr", lis.Addr().String(), "--plaintext", "--timeout", "2s"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := lroctl(t, append(append([]string{}, tt.flags...), get...)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s", code, tt.code, out)
			}
			if code != 0 {
				return
			}
			if !strings.Contains(out, "State:     RUNNING") {
				t.Errorf("output:\n%s", out)
			}
			if strings.HasPrefix(tt.name, "rest") {
				if h := <-got; h != "Bearer t0k3n" {
					t.Errorf("Authorization header %q", h)
				}
			} else if md := <-mdSeen; strings.Join(md.Get("authorization"), ",") != "Bearer t0k3n" {
				t.Errorf("metadata %v", md)
			}
		})
	}
}
