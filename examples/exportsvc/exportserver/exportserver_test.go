package exportserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/lrokit/lro/examples/exportsvc/proto/exportpb"
)

// testTimeout bounds every test; nothing here should take more than a
// fraction of it.
const testTimeout = 30 * time.Second

// hang is a step so long that an export started with it is still running
// whenever the test looks: such exports end only by cancellation.
const hang = time.Hour

// testServer is a server started on loopback ports with a client connection.
type testServer struct {
	*Server
	conn    *grpc.ClientConn
	exports exportpb.ExportServiceClient
	ops     longrunningpb.OperationsClient
}

// startServer starts a server whose exports take steps of step, and shuts
// it down when the test ends.
func startServer(t *testing.T, step time.Duration) *testServer {
	t.Helper()
	return startServerConfig(t, Config{
		GRPCAddr: "127.0.0.1:0",
		HTTPAddr: "127.0.0.1:0",
		Step:     step,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
}

// startServerConfig starts a server configured by cfg, as startServer does.
func startServerConfig(t *testing.T, cfg Config) *testServer {
	t.Helper()
	s, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return &testServer{
		Server:  s,
		conn:    conn,
		exports: exportpb.NewExportServiceClient(conn),
		ops:     longrunningpb.NewOperationsClient(conn),
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// waitDone waits for the named operation through the Operations client.
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

func TestOperationInfoOption(t *testing.T) {
	// The option was compiled against the generation-time stand-ins; it
	// must read back through the real extension types.
	sd := exportpb.File_exportpb_export_proto.Services().ByName("ExportService")
	if sd == nil {
		t.Fatal("ExportService not found in export.proto")
	}
	md := sd.Methods().ByName("ExportBooks")
	if md == nil {
		t.Fatal("ExportBooks not found in ExportService")
	}
	opts := md.Options().(*descriptorpb.MethodOptions)

	info, ok := proto.GetExtension(opts, longrunningpb.E_OperationInfo).(*longrunningpb.OperationInfo)
	if !ok || info == nil {
		t.Fatalf("operation_info: got %T, want *longrunningpb.OperationInfo", info)
	}
	pkg := md.ParentFile().Package()
	for _, tc := range []struct {
		field, got string
		want       proto.Message
	}{
		{"response_type", info.GetResponseType(), &exportpb.ExportBooksResponse{}},
		{"metadata_type", info.GetMetadataType(), &exportpb.ExportBooksMetadata{}},
	} {
		// Unqualified names are relative to the file's package (AIP-151).
		full := protoreflect.FullName(tc.got)
		if !strings.Contains(tc.got, ".") {
			full = pkg.Append(protoreflect.Name(tc.got))
		}
		mt, err := protoregistry.GlobalTypes.FindMessageByName(full)
		if err != nil {
			t.Errorf("%s %q: not in the registry: %v", tc.field, tc.got, err)
			continue
		}
		if want := tc.want.ProtoReflect().Descriptor().FullName(); mt.Descriptor().FullName() != want {
			t.Errorf("%s resolves to %s, want %s", tc.field, mt.Descriptor().FullName(), want)
		}
	}

	rule, ok := proto.GetExtension(opts, annotations.E_Http).(*annotations.HttpRule)
	if !ok || rule == nil {
		t.Fatalf("google.api.http: got %T, want *annotations.HttpRule", rule)
	}
	if got, want := rule.GetPost(), "/v1/{shelf=shelves/*}/books:export"; got != want {
		t.Errorf("http post = %q, want %q", got, want)
	}
	if got := rule.GetBody(); got != "*" {
		t.Errorf("http body = %q, want *", got)
	}
}

func TestExportBooks(t *testing.T) {
	s := startServer(t, 0)
	ctx := testContext(t)
	tests := []struct {
		shelf  string
		format exportpb.Format
		books  int32
	}{
		{"shelves/poetry", exportpb.Format_FORMAT_UNSPECIFIED, 12},
		{"shelves/poetry", exportpb.Format_CSV, 12},
		{"shelves/science", exportpb.Format_JSON_LINES, 45},
		{"shelves/fiction", exportpb.Format_CSV, 120},
	}
	sums := map[string]string{}
	for _, tc := range tests {
		t.Run(tc.shelf+"/"+tc.format.String(), func(t *testing.T) {
			started, err := s.exports.ExportBooks(ctx, &exportpb.ExportBooksRequest{Shelf: tc.shelf, Format: tc.format})
			if err != nil {
				t.Fatalf("ExportBooks: %v", err)
			}
			if !strings.HasPrefix(started.GetName(), "operations/") {
				t.Errorf("operation name %q, want operations/{id}", started.GetName())
			}
			op := waitDone(ctx, t, s.ops, started.GetName())
			if op.GetError() != nil {
				t.Fatalf("operation failed: %v", op.GetError())
			}
			resp := new(exportpb.ExportBooksResponse)
			if err := op.GetResponse().UnmarshalTo(resp); err != nil {
				t.Fatalf("response: %v", err)
			}
			if resp.GetShelf() != tc.shelf || resp.GetFormat() != tc.format || resp.GetBooksExported() != tc.books {
				t.Errorf("response = %v, want shelf %s, format %s, %d books", resp, tc.shelf, tc.format, tc.books)
			}
			if resp.GetSizeBytes() <= 0 || len(resp.GetSha256()) != 64 || resp.GetEndTime() == nil {
				t.Errorf("response = %v, want a size, a SHA-256 and an end time", resp)
			}
			md := new(exportpb.ExportBooksMetadata)
			if err := op.GetMetadata().UnmarshalTo(md); err != nil {
				t.Fatalf("metadata: %v", err)
			}
			if md.GetProgressPercent() != 100 || md.GetBooksExported() != tc.books || md.GetTotalBooks() != tc.books {
				t.Errorf("final metadata = %v, want 100%% of %d books", md, tc.books)
			}
			sums[tc.format.String()+tc.shelf] = resp.GetSha256()
		})
	}
	// The same books in another format are other bytes.
	if sums["FORMAT_UNSPECIFIEDshelves/poetry"] == sums["CSVshelves/poetry"] {
		t.Errorf("CSV and JSON lines exports have the same SHA-256")
	}
}

func TestExportBooksRequestID(t *testing.T) {
	s := startServer(t, hang)
	ctx := testContext(t)
	start := func(id string) string {
		t.Helper()
		op, err := s.exports.ExportBooks(ctx, &exportpb.ExportBooksRequest{Shelf: "shelves/poetry", RequestId: id})
		if err != nil {
			t.Fatalf("ExportBooks(request_id %q): %v", id, err)
		}
		return op.GetName()
	}
	first, again, other := start("r-1"), start("r-1"), start("r-2")
	if first != again {
		t.Errorf("same request_id gave %s and %s, want the same operation", first, again)
	}
	if first == other {
		t.Errorf("different request_ids gave the same operation %s", first)
	}
	for _, name := range []string{first, other} {
		if _, err := s.ops.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: name}); err != nil {
			t.Fatalf("CancelOperation: %v", err)
		}
	}
}

func TestExportBooksCancel(t *testing.T) {
	s := startServer(t, hang)
	ctx := testContext(t)
	started, err := s.exports.ExportBooks(ctx, &exportpb.ExportBooksRequest{Shelf: "shelves/fiction"})
	if err != nil {
		t.Fatalf("ExportBooks: %v", err)
	}
	if _, err := s.ops.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: started.GetName()}); err != nil {
		t.Fatalf("CancelOperation: %v", err)
	}
	op := waitDone(ctx, t, s.ops, started.GetName())
	if got := codes.Code(op.GetError().GetCode()); got != codes.Canceled {
		t.Errorf("cancelled operation ended with %v (%v), want code 1 CANCELLED", got, op.GetError())
	}
	if op.GetResponse() != nil {
		t.Errorf("cancelled operation has a response: %v", op.GetResponse())
	}
}

func TestExportBooksInvalid(t *testing.T) {
	s := startServer(t, 0)
	ctx := testContext(t)
	tests := []struct {
		name string
		req  *exportpb.ExportBooksRequest
		want codes.Code
	}{
		{"no shelf", &exportpb.ExportBooksRequest{}, codes.InvalidArgument},
		{"not a shelf name", &exportpb.ExportBooksRequest{Shelf: "fiction"}, codes.InvalidArgument},
		{"empty shelf id", &exportpb.ExportBooksRequest{Shelf: "shelves/"}, codes.InvalidArgument},
		{"nested name", &exportpb.ExportBooksRequest{Shelf: "shelves/fiction/books"}, codes.InvalidArgument},
		{"unknown shelf", &exportpb.ExportBooksRequest{Shelf: "shelves/cookery"}, codes.NotFound},
		{"unknown format", &exportpb.ExportBooksRequest{Shelf: "shelves/poetry", Format: 99}, codes.InvalidArgument},
		{"long request id", &exportpb.ExportBooksRequest{Shelf: "shelves/poetry", RequestId: strings.Repeat("x", 65)}, codes.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.exports.ExportBooks(ctx, tc.req)
			if got := status.Code(err); got != tc.want {
				t.Errorf("ExportBooks(%v) = %v, want code %v", tc.req, err, tc.want)
			}
		})
	}
}

func TestReflection(t *testing.T) {
	s := startServer(t, 0)
	ctx := testContext(t)
	stream, err := reflectionpb.NewServerReflectionClient(s.conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatalf("ServerReflectionInfo: %v", err)
	}
	defer func() { _ = stream.CloseSend() }()
	ask := func(req *reflectionpb.ServerReflectionRequest) *reflectionpb.ServerReflectionResponse {
		t.Helper()
		if err := stream.Send(req); err != nil {
			t.Fatalf("reflection Send: %v", err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("reflection Recv: %v", err)
		}
		if e := resp.GetErrorResponse(); e != nil {
			t.Fatalf("reflection error: %v", e)
		}
		return resp
	}

	resp := ask(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	})
	var services []string
	for _, svc := range resp.GetListServicesResponse().GetService() {
		services = append(services, svc.GetName())
	}
	for _, want := range []string{"lro.examples.export.v1.ExportService", "google.longrunning.Operations", "grpc.reflection.v1.ServerReflection"} {
		if !slices.Contains(services, want) {
			t.Errorf("reflection lists %v, missing %s", services, want)
		}
	}

	// grpcurl describes a method from the file that declares it.
	resp = ask(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{
			FileContainingSymbol: "lro.examples.export.v1.ExportService.ExportBooks",
		},
	})
	files := resp.GetFileDescriptorResponse().GetFileDescriptorProto()
	if len(files) == 0 {
		t.Fatal("reflection returned no file for ExportBooks")
	}
	fd := new(descriptorpb.FileDescriptorProto)
	if err := proto.Unmarshal(files[0], fd); err != nil {
		t.Fatalf("decoding the file descriptor: %v", err)
	}
	if fd.GetName() != "exportpb/export.proto" || fd.GetPackage() != "lro.examples.export.v1" {
		t.Errorf("file %s (package %s), want exportpb/export.proto (lro.examples.export.v1)", fd.GetName(), fd.GetPackage())
	}
	if !slices.Contains(fd.GetDependency(), "google/longrunning/operations.proto") {
		t.Errorf("dependencies %v lack google/longrunning/operations.proto", fd.GetDependency())
	}
}

// restOperation is the part of an operation's REST form the tests read.
type restOperation struct {
	Name     string `json:"name"`
	Done     bool   `json:"done"`
	Metadata struct {
		Type            string `json:"@type"`
		Shelf           string `json:"shelf"`
		ProgressPercent int    `json:"progressPercent"`
	} `json:"metadata"`
	Response struct {
		Type          string `json:"@type"`
		BooksExported int    `json:"booksExported"`
		Format        string `json:"format"`
	} `json:"response"`
	Error *struct {
		Code int `json:"code"`
	} `json:"error"`
}

// restError is the REST form of an error.
type restError struct {
	Error struct {
		Code   int    `json:"code"`
		Status string `json:"status"`
	} `json:"error"`
}

// call makes one REST call and decodes its JSON answer into out.
func call(ctx context.Context, t *testing.T, method, url, body string, wantCode int, out any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	if resp.StatusCode != wantCode {
		t.Fatalf("%s %s: HTTP %d %s, want %d", method, url, resp.StatusCode, b, wantCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: Content-Type %q, want JSON", method, url, ct)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s %s: decoding %s: %v", method, url, b, err)
	}
}

func TestREST(t *testing.T) {
	s := startServer(t, 0)
	ctx := testContext(t)
	base := "http://" + s.HTTPAddr() + "/v1/"

	// Start an export over REST, as the google.api.http option maps it.
	var started restOperation
	call(ctx, t, http.MethodPost, base+"shelves/science/books:export", `{"format": "CSV", "requestId": "rest-1"}`, http.StatusOK, &started)
	if !strings.HasPrefix(started.Name, "operations/") || started.Metadata.Shelf != "shelves/science" {
		t.Fatalf("started %+v, want an operation exporting shelves/science", started)
	}

	// Wait for it, then get it.
	var waited restOperation
	for !waited.Done {
		call(ctx, t, http.MethodPost, base+started.Name+":wait", `{"timeout": "5s"}`, http.StatusOK, &waited)
	}
	var got restOperation
	call(ctx, t, http.MethodGet, base+started.Name, "", http.StatusOK, &got)
	if got.Name != started.Name || !got.Done || got.Error != nil {
		t.Fatalf("GET %s = %+v, want it done without error", started.Name, got)
	}
	if got.Metadata.Type != "type.googleapis.com/lro.examples.export.v1.ExportBooksMetadata" || got.Metadata.ProgressPercent != 100 {
		t.Errorf("metadata = %+v, want ExportBooksMetadata at 100%%", got.Metadata)
	}
	if got.Response.Type != "type.googleapis.com/lro.examples.export.v1.ExportBooksResponse" ||
		got.Response.BooksExported != 45 || got.Response.Format != "CSV" {
		t.Errorf("response = %+v, want a CSV ExportBooksResponse of 45 books", got.Response)
	}

	// The same request id gives the same operation.
	var again restOperation
	call(ctx, t, http.MethodPost, base+"shelves/science/books:export", `{"format": "CSV", "requestId": "rest-1"}`, http.StatusOK, &again)
	if again.Name != started.Name {
		t.Errorf("repeated request id started %s, want %s", again.Name, started.Name)
	}

	// The collection lists it.
	var list struct {
		Operations []restOperation `json:"operations"`
	}
	call(ctx, t, http.MethodGet, base+"operations", "", http.StatusOK, &list)
	if len(list.Operations) != 1 || list.Operations[0].Name != started.Name {
		t.Errorf("GET /v1/operations = %+v, want just %s", list, started.Name)
	}

	errorTests := []struct {
		name, method, path, body string
		wantHTTP                 int
		wantStatus               string
	}{
		{"unknown operation", http.MethodGet, "operations/nosuchoperation", "", http.StatusNotFound, "NOT_FOUND"},
		{"unknown shelf", http.MethodPost, "shelves/cookery/books:export", "{}", http.StatusNotFound, "NOT_FOUND"},
		{"bad body", http.MethodPost, "shelves/poetry/books:export", "{not json", http.StatusBadRequest, "INVALID_ARGUMENT"},
		{"shelf mismatch", http.MethodPost, "shelves/poetry/books:export", `{"shelf": "shelves/fiction"}`, http.StatusBadRequest, "INVALID_ARGUMENT"},
	}
	for _, tc := range errorTests {
		t.Run(tc.name, func(t *testing.T) {
			var e restError
			call(ctx, t, tc.method, base+tc.path, tc.body, tc.wantHTTP, &e)
			if e.Error.Code != tc.wantHTTP || e.Error.Status != tc.wantStatus {
				t.Errorf("error = %+v, want %d %s", e.Error, tc.wantHTTP, tc.wantStatus)
			}
		})
	}
}

func TestShutdownCutsHungExports(t *testing.T) {
	s, err := Start(t.Context(), Config{GRPCAddr: "127.0.0.1:0", Step: hang, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	ctx := testContext(t)
	svcOp, err := s.ops.StartKind(ctx, exportKind, &exportpb.ExportBooksRequest{Shelf: "shelves/poetry"})
	if err != nil {
		t.Fatalf("StartKind: %v", err)
	}
	// A grace period that is already over cuts the export short at once.
	expired, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Shutdown(expired); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown = %v, want the grace period's error", err)
	}
	op, err := s.ops.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: svcOp.GetName()})
	if err != nil {
		t.Fatalf("GetOperation after shutdown: %v", err)
	}
	if !op.GetDone() || codes.Code(op.GetError().GetCode()) != codes.Unavailable {
		t.Errorf("operation after shutdown = %v, want done with UNAVAILABLE", op)
	}
}

func TestStartErrors(t *testing.T) {
	// A port in use, to make the HTTP listener fail after the gRPC one
	// succeeded.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("net.Listen: %v", err)
	}
	defer func() { _ = busy.Close() }()
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"bad gRPC address", Config{GRPCAddr: "not-an-address"}, "listening for gRPC"},
		{"HTTP port in use", Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: busy.Addr().String()}, "listening for HTTP"},
		{"accept-only in memory", Config{GRPCAddr: "127.0.0.1:0", AcceptOnly: true}, "an accept-only server needs a shared store"},
		{"negative limit", Config{GRPCAddr: "127.0.0.1:0", MaxRunning: -1}, "MaxRunning -1 is negative"},
		{"negative timeout", Config{GRPCAddr: "127.0.0.1:0", Timeout: -time.Second}, "timeout -1s is negative"},
		{"negative backoff", Config{GRPCAddr: "127.0.0.1:0", RetryBackoff: -time.Second}, "retry backoff -1s is negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			s, err := Start(t.Context(), tc.cfg)
			if err == nil {
				_ = s.Shutdown(t.Context())
				t.Fatalf("Start(%+v) succeeded, want an error containing %q", tc.cfg, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Start(%+v) = %v, want an error containing %q", tc.cfg, err, tc.wantErr)
			}
		})
	}
}
