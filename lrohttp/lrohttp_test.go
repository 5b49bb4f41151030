package lrohttp_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lrokit/lro/lrohttp"
)

// fakeServer is a tiny in-memory Operations server. It records the last
// request of each kind so tests can check what the handler passed on.
type fakeServer struct {
	longrunningpb.UnimplementedOperationsServer

	mu       sync.Mutex
	ops      []*longrunningpb.Operation // list order
	lastList *longrunningpb.ListOperationsRequest
	lastWait *longrunningpb.WaitOperationRequest
	canceled []string
	deleted  []string
	waitErr  chan error    // receives the context error when a Wait gives up
	blocking chan struct{} // receives when a Wait starts blocking
}

func newFake() *fakeServer {
	errAny, _ := anypb.New(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "x", Description: "bad"}}})
	return &fakeServer{
		waitErr:  make(chan error, 1),
		blocking: make(chan struct{}, 1),
		ops: []*longrunningpb.Operation{
			{Name: "operations/running", Metadata: mustAny(wrapperspb.String("half"))},
			{Name: "operations/ok", Done: true, Result: &longrunningpb.Operation_Response{Response: mustAny(durationpb.New(5 * time.Second))}},
			{Name: "operations/failed", Done: true, Result: &longrunningpb.Operation_Error{Error: &spb.Status{Code: int32(codes.FailedPrecondition), Message: "disk full", Details: []*anypb.Any{errAny}}}},
			{Name: "operations/unknown", Metadata: &anypb.Any{TypeUrl: "type.googleapis.com/not.Known", Value: []byte{1, 2, 3}}},
			{Name: "projects/p/locations/l/operations/nested"},
			{Name: "operations/a/b/c"},
		},
	}
}

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(err)
	}
	return a
}

func (f *fakeServer) find(name string) (*longrunningpb.Operation, error) {
	if name == "" {
		return nil, status.Error(codes.InvalidArgument, "empty name")
	}
	for _, op := range f.ops {
		if op.GetName() == name {
			return op, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "operation %q not found", name)
}

func (f *fakeServer) GetOperation(_ context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.find(req.GetName())
}

func (f *fakeServer) ListOperations(_ context.Context, req *longrunningpb.ListOperationsRequest) (*longrunningpb.ListOperationsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastList = req
	if req.GetFilter() == "bad" {
		return nil, status.Error(codes.InvalidArgument, "invalid filter at position 0")
	}
	if req.GetFilter() == "none" {
		return &longrunningpb.ListOperationsResponse{}, nil
	}
	if req.GetPageSize() < 0 {
		return nil, status.Error(codes.InvalidArgument, "negative page_size")
	}
	start := 0
	if t := req.GetPageToken(); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, "bad page token")
		}
		start = n
	}
	size := int(req.GetPageSize())
	if size == 0 {
		size = 50
	}
	resp := &longrunningpb.ListOperationsResponse{}
	end := min(start+size, len(f.ops))
	resp.Operations = f.ops[start:end]
	if end < len(f.ops) {
		resp.NextPageToken = strconv.Itoa(end)
	}
	return resp, nil
}

func (f *fakeServer) DeleteOperation(_ context.Context, req *longrunningpb.DeleteOperationRequest) (*emptypb.Empty, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.find(req.GetName()); err != nil {
		return nil, err
	}
	f.deleted = append(f.deleted, req.GetName())
	return &emptypb.Empty{}, nil
}

func (f *fakeServer) CancelOperation(_ context.Context, req *longrunningpb.CancelOperationRequest) (*emptypb.Empty, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.find(req.GetName()); err != nil {
		return nil, err
	}
	f.canceled = append(f.canceled, req.GetName())
	return &emptypb.Empty{}, nil
}

func (f *fakeServer) WaitOperation(ctx context.Context, req *longrunningpb.WaitOperationRequest) (*longrunningpb.Operation, error) {
	f.mu.Lock()
	f.lastWait = req
	op, err := f.find(req.GetName())
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if req.GetTimeout().AsDuration() < 0 {
		return nil, status.Error(codes.InvalidArgument, "negative timeout")
	}
	if op.GetDone() || req.GetTimeout() != nil {
		return op, nil
	}
	// No timeout on a running operation: block until the client goes away.
	select {
	case f.blocking <- struct{}{}:
	default:
	}
	<-ctx.Done()
	select {
	case f.waitErr <- ctx.Err():
	default:
	}
	return nil, status.FromContextError(ctx.Err()).Err()
}

type result struct {
	code int
	body map[string]any
	hdr  http.Header
}

func do(t *testing.T, srvURL, method, path, contentType, body string) result {
	t.Helper()
	req, err := http.NewRequest(method, srvURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: body is not JSON: %v\n%s", method, path, err, b)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json; charset=utf-8" {
		t.Errorf("%s %s: Content-Type %q", method, path, got)
	}
	return result{code: resp.StatusCode, body: m, hdr: resp.Header}
}

func TestRoutes(t *testing.T) {
	fake := newFake()
	ts := httptest.NewServer(lrohttp.NewHandler(fake, lrohttp.WithPattern("projects/*/locations/*")))
	defer ts.Close()

	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		wantCode    int
		wantStatus  string         // error status, "" for success
		want        map[string]any // compared when set
		wantAllow   string
	}{
		{
			name: "get running with metadata", method: "GET", path: "/v1/operations/running", wantCode: 200,
			want: map[string]any{"name": "operations/running", "metadata": map[string]any{"@type": "type.googleapis.com/google.protobuf.StringValue", "value": "half"}},
		},
		{
			name: "get done with response", method: "GET", path: "/v1/operations/ok", wantCode: 200,
			want: map[string]any{"name": "operations/ok", "done": true, "response": map[string]any{"@type": "type.googleapis.com/google.protobuf.Duration", "value": "5s"}},
		},
		{
			name: "get failed", method: "GET", path: "/v1/operations/failed", wantCode: 200,
			want: map[string]any{"name": "operations/failed", "done": true, "error": map[string]any{
				"code": 9.0, "message": "disk full", "details": []any{map[string]any{
					"@type":           "type.googleapis.com/google.rpc.BadRequest",
					"fieldViolations": []any{map[string]any{"field": "x", "description": "bad"}},
				}},
			}},
		},
		{
			name: "unknown Any type", method: "GET", path: "/v1/operations/unknown", wantCode: 200,
			want: map[string]any{"name": "operations/unknown", "metadata": map[string]any{"@type": "type.googleapis.com/not.Known", "value": "AQID"}},
		},
		{name: "get multi-segment id", method: "GET", path: "/v1/operations/a/b/c", wantCode: 200, want: map[string]any{"name": "operations/a/b/c"}},
		{name: "get under parent", method: "GET", path: "/v1/projects/p/locations/l/operations/nested", wantCode: 200, want: map[string]any{"name": "projects/p/locations/l/operations/nested"}},
		{name: "get not found", method: "GET", path: "/v1/operations/nope", wantCode: 404, wantStatus: "NOT_FOUND"},
		{name: "get with unknown query parameter", method: "GET", path: "/v1/operations/ok?foo=1", wantCode: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "get with alt=json", method: "GET", path: "/v1/operations/ok?alt=json", wantCode: 200},
		{name: "get with $alt of Google clients", method: "GET", path: "/v1/operations/ok?%24alt=json%3Benum-encoding%3Dint", wantCode: 200},
		{name: "get with alt=proto", method: "GET", path: "/v1/operations/ok?alt=proto", wantCode: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "delete", method: "DELETE", path: "/v1/operations/ok", wantCode: 200, want: map[string]any{}},
		{name: "delete not found", method: "DELETE", path: "/v1/operations/nope", wantCode: 404, wantStatus: "NOT_FOUND"},
		{name: "cancel empty body", method: "POST", path: "/v1/operations/running:cancel", wantCode: 200, want: map[string]any{}},
		{name: "cancel JSON body", method: "POST", path: "/v1/operations/running:cancel", contentType: "application/json", body: "{}", wantCode: 200, want: map[string]any{}},
		{name: "cancel under parent", method: "POST", path: "/v1/projects/p/locations/l/operations/nested:cancel", body: "{}", wantCode: 200},
		{name: "cancel body name mismatch", method: "POST", path: "/v1/operations/running:cancel", body: `{"name":"operations/ok"}`, wantCode: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "cancel not found", method: "POST", path: "/v1/operations/nope:cancel", wantCode: 404, wantStatus: "NOT_FOUND"},
		{name: "cancel malformed JSON", method: "POST", path: "/v1/operations/running:cancel", body: `{"name":`, wantCode: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "cancel wrong content type", method: "POST", path: "/v1/operations/running:cancel", contentType: "text/plain", body: "x", wantCode: 415, wantStatus: "INVALID_ARGUMENT"},
		{name: "cancel JSON body with charset", method: "POST", path: "/v1/operations/running:cancel", contentType: "application/json; charset=utf-8", body: "{}", wantCode: 200, want: map[string]any{}},
		{name: "cancel JSON body as curl -d sends it", method: "POST", path: "/v1/operations/running:cancel", contentType: "application/x-www-form-urlencoded", body: "{}", wantCode: 200, want: map[string]any{}},
		{name: "cancel empty form body", method: "POST", path: "/v1/operations/running:cancel", contentType: "application/x-www-form-urlencoded", wantCode: 200, want: map[string]any{}},
		{name: "cancel form body that is not JSON", method: "POST", path: "/v1/operations/running:cancel", contentType: "application/x-www-form-urlencoded", body: "name=operations%2Frunning", wantCode: 415, wantStatus: "INVALID_ARGUMENT"},
		{name: "cancel form body with bad JSON field", method: "POST", path: "/v1/operations/running:cancel", contentType: "application/x-www-form-urlencoded", body: `{"name":"operations/ok"}`, wantCode: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "cancel XML body", method: "POST", path: "/v1/operations/running:cancel", contentType: "text/xml", body: "<cancel/>", wantCode: 415, wantStatus: "INVALID_ARGUMENT"},
		{name: "cancel multipart body", method: "POST", path: "/v1/operations/running:cancel", contentType: "multipart/form-data; boundary=x", body: "--x--", wantCode: 415, wantStatus: "INVALID_ARGUMENT"},
		{name: "cancel malformed content type", method: "POST", path: "/v1/operations/running:cancel", contentType: "application/json; charset", body: "{}", wantCode: 415, wantStatus: "INVALID_ARGUMENT"},
		{
			name: "wait JSON body as curl -d sends it", method: "POST", path: "/v1/operations/running:wait", contentType: "application/x-www-form-urlencoded", body: `{"timeout": "5s"}`, wantCode: 200,
			want: map[string]any{"name": "operations/running", "metadata": map[string]any{"@type": "type.googleapis.com/google.protobuf.StringValue", "value": "half"}},
		},
		{name: "wait form body with bad duration", method: "POST", path: "/v1/operations/running:wait", contentType: "application/x-www-form-urlencoded", body: `{"timeout": "soon"}`, wantCode: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "wait form body that is not JSON", method: "POST", path: "/v1/operations/running:wait", contentType: "application/x-www-form-urlencoded", body: "timeout=5s", wantCode: 415, wantStatus: "INVALID_ARGUMENT"},
		{name: "wait JSON body in upper case type", method: "POST", path: "/v1/operations/ok:wait", contentType: "Application/JSON", body: `{"timeout": "5s"}`, wantCode: 200},
		{
			name: "wait with timeout", method: "POST", path: "/v1/operations/running:wait", body: `{"timeout": "5s"}`, wantCode: 200,
			want: map[string]any{"name": "operations/running", "metadata": map[string]any{"@type": "type.googleapis.com/google.protobuf.StringValue", "value": "half"}},
		},
		{name: "wait done", method: "POST", path: "/v1/operations/ok:wait", wantCode: 200},
		{name: "wait negative timeout", method: "POST", path: "/v1/operations/running:wait", body: `{"timeout": "-1s"}`, wantCode: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "wait bad duration", method: "POST", path: "/v1/operations/running:wait", body: `{"timeout": "soon"}`, wantCode: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "wait unknown field", method: "POST", path: "/v1/operations/running:wait", body: `{"deadline": "5s"}`, wantCode: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "wait body not an object", method: "POST", path: "/v1/operations/running:wait", body: `[1,2]`, wantCode: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "list", method: "GET", path: "/v1/operations?pageSize=2", wantCode: 200},
		{name: "list under parent", method: "GET", path: "/v1/projects/p/locations/l/operations", wantCode: 200},
		{name: "list wildcard parent", method: "GET", path: "/v1/projects/-/locations/-/operations", wantCode: 200},
		{name: "list bad page size", method: "GET", path: "/v1/operations?pageSize=ten", wantCode: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "list page size overflow", method: "GET", path: "/v1/operations?pageSize=99999999999", wantCode: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "list negative page size", method: "GET", path: "/v1/operations?pageSize=-1", wantCode: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "list bad filter", method: "GET", path: "/v1/operations?filter=bad", wantCode: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "list bad token", method: "GET", path: "/v1/operations?pageToken=zz", wantCode: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "list repeated parameter", method: "GET", path: "/v1/operations?filter=a&filter=b", wantCode: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "list both spellings", method: "GET", path: "/v1/operations?pageSize=1&page_size=2", wantCode: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "list malformed query", method: "GET", path: "/v1/operations?filter=%zz", wantCode: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "list bad partial flag", method: "GET", path: "/v1/operations?returnPartialSuccess=maybe", wantCode: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "wrong method on collection", method: "POST", path: "/v1/operations", wantCode: 405, wantStatus: "UNIMPLEMENTED", wantAllow: "GET"},
		{name: "wrong method on resource", method: "PUT", path: "/v1/operations/ok", wantCode: 405, wantStatus: "UNIMPLEMENTED", wantAllow: "DELETE, GET"},
		{name: "wrong method on verb", method: "GET", path: "/v1/operations/ok:cancel", wantCode: 405, wantStatus: "UNIMPLEMENTED", wantAllow: "POST"},
		{name: "wrong method patch on wait", method: "PATCH", path: "/v1/operations/ok:wait", wantCode: 405, wantStatus: "UNIMPLEMENTED", wantAllow: "POST"},
		{name: "unknown path", method: "GET", path: "/v2/operations", wantCode: 404, wantStatus: "NOT_FOUND"},
		{name: "root", method: "GET", path: "/", wantCode: 404, wantStatus: "NOT_FOUND"},
		{name: "prefix only", method: "GET", path: "/v1", wantCode: 404, wantStatus: "NOT_FOUND"},
		{name: "prefix slash", method: "GET", path: "/v1/", wantCode: 404, wantStatus: "NOT_FOUND"},
		{name: "unmounted parent", method: "GET", path: "/v1/folders/f/operations", wantCode: 404, wantStatus: "NOT_FOUND"},
		{name: "parent itself", method: "GET", path: "/v1/projects/p/locations/l", wantCode: 404, wantStatus: "NOT_FOUND"},
		{name: "empty segment", method: "GET", path: "/v1/operations//x", wantCode: 404, wantStatus: "NOT_FOUND"},
		{name: "trailing slash", method: "GET", path: "/v1/operations/", wantCode: 404, wantStatus: "NOT_FOUND"},
		{name: "verb on collection", method: "POST", path: "/v1/operations:cancel", wantCode: 404, wantStatus: "NOT_FOUND"},
		{name: "verb without id", method: "POST", path: "/v1/operations/:wait", wantCode: 404, wantStatus: "NOT_FOUND"},
		{name: "escaped slash", method: "GET", path: "/v1/operations/a%2Fb", wantCode: 400, wantStatus: "INVALID_ARGUMENT"},
		{name: "unknown verb is part of the name", method: "POST", path: "/v1/operations/ok:explode", wantCode: 405, wantStatus: "UNIMPLEMENTED", wantAllow: "DELETE, GET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := do(t, ts.URL, tt.method, tt.path, tt.contentType, tt.body)
			if got.code != tt.wantCode {
				t.Errorf("HTTP %d, want %d; body %v", got.code, tt.wantCode, got.body)
			}
			if tt.wantAllow != "" {
				if a := got.hdr.Get("Allow"); a != tt.wantAllow {
					t.Errorf("Allow %q, want %q", a, tt.wantAllow)
				}
			}
			if tt.wantStatus != "" {
				e, ok := got.body["error"].(map[string]any)
				if !ok {
					t.Fatalf("no error object in %v", got.body)
				}
				if e["status"] != tt.wantStatus || e["code"] != float64(tt.wantCode) || e["message"] == "" {
					t.Errorf("error %v, want status %s code %d and a message", e, tt.wantStatus, tt.wantCode)
				}
				return
			}
			if tt.want != nil {
				if d := cmp.Diff(tt.want, got.body); d != "" {
					t.Errorf("body (-want +got):\n%s", d)
				}
			}
		})
	}
	if d := cmp.Diff([]string{"operations/ok"}, fake.deleted); d != "" {
		t.Errorf("deleted (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{
		"operations/running", "operations/running", "projects/p/locations/l/operations/nested",
		"operations/running", "operations/running", "operations/running", // JSON with charset, curl -d, empty form body
	}, fake.canceled); d != "" {
		t.Errorf("canceled (-want +got):\n%s", d)
	}
}

func TestListPassesParameters(t *testing.T) {
	tests := []struct {
		path string
		want *longrunningpb.ListOperationsRequest
	}{
		{"/v1/operations", &longrunningpb.ListOperationsRequest{Name: "operations"}},
		{"/v1/operations?filter=done%3Dtrue&pageSize=3&pageToken=2", &longrunningpb.ListOperationsRequest{Name: "operations", Filter: "done=true", PageSize: 3, PageToken: "2"}},
		{"/v1/operations?page_size=1&page_token=1&return_partial_success=true", &longrunningpb.ListOperationsRequest{Name: "operations", PageSize: 1, PageToken: "1", ReturnPartialSuccess: true}},
		{"/v1/operations?returnPartialSuccess=true", &longrunningpb.ListOperationsRequest{Name: "operations", ReturnPartialSuccess: true}},
		{"/v1/operations?returnPartialSuccess=1&$prettyPrint=0&$.xgafv=2", &longrunningpb.ListOperationsRequest{Name: "operations", ReturnPartialSuccess: true}},
		{"/v1/operations?returnPartialSuccess=false", &longrunningpb.ListOperationsRequest{Name: "operations"}},
		{"/v1/projects/-/locations/l/operations?filter=metadata.name:custom-config", &longrunningpb.ListOperationsRequest{Name: "projects/-/locations/l/operations", Filter: "metadata.name:custom-config"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			fake := newFake()
			ts := httptest.NewServer(lrohttp.NewHandler(fake, lrohttp.WithPattern("/projects/*/locations/*/")))
			defer ts.Close()
			if got := do(t, ts.URL, "GET", tt.path, "", ""); got.code != 200 {
				t.Fatalf("HTTP %d: %v", got.code, got.body)
			}
			if !proto.Equal(fake.lastList, tt.want) {
				t.Errorf("request %v, want %v", fake.lastList, tt.want)
			}
		})
	}
}

func TestListPages(t *testing.T) {
	fake := newFake()
	ts := httptest.NewServer(lrohttp.NewHandler(fake))
	defer ts.Close()
	var names []string
	token := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("too many pages")
		}
		got := do(t, ts.URL, "GET", "/v1/operations?pageSize=4&pageToken="+token, "", "")
		if got.code != 200 {
			t.Fatalf("HTTP %d: %v", got.code, got.body)
		}
		for _, op := range got.body["operations"].([]any) {
			names = append(names, op.(map[string]any)["name"].(string))
		}
		next, _ := got.body["nextPageToken"].(string)
		if next == "" {
			break
		}
		token = next
	}
	if len(names) != len(fake.ops) {
		t.Errorf("listed %v, want %d operations", names, len(fake.ops))
	}
}

func TestWaitTimeoutPassed(t *testing.T) {
	fake := newFake()
	ts := httptest.NewServer(lrohttp.NewHandler(fake))
	defer ts.Close()
	if got := do(t, ts.URL, "POST", "/v1/operations/running:wait", "application/json; charset=utf-8", `{"timeout":"2.5s"}`); got.code != 200 {
		t.Fatalf("HTTP %d: %v", got.code, got.body)
	}
	if d := fake.lastWait.GetTimeout().AsDuration(); d != 2500*time.Millisecond {
		t.Errorf("timeout %v, want 2.5s", d)
	}
}

// A client that goes away cancels the WaitOperation call it made.
func TestWaitClientDisconnect(t *testing.T) {
	fake := newFake()
	ts := httptest.NewServer(lrohttp.NewHandler(fake))
	defer ts.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "POST", ts.URL+"/v1/operations/running:wait", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	// Wait until the server is blocked in WaitOperation, then hang up.
	select {
	case <-fake.blocking:
	case err := <-done:
		t.Fatalf("request ended before the wait started: %v", err)
	}
	cancel()
	if err := <-done; err == nil {
		t.Error("request succeeded after cancellation")
	}
	select {
	case err := <-fake.waitErr:
		if err != context.Canceled {
			t.Errorf("wait ended with %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitOperation was not cancelled when the client went away")
	}
}

func TestContextFuncAndPrefix(t *testing.T) {
	type key struct{}
	var seen any
	srv := &ctxServer{seen: &seen, key: key{}}
	h := lrohttp.NewHandler(srv, lrohttp.WithPrefix("/api/v1beta"), lrohttp.WithContextFunc(func(r *http.Request) context.Context {
		return context.WithValue(r.Context(), key{}, r.Header.Get("X-User"))
	}))
	req := httptest.NewRequest("GET", "/api/v1beta/operations/x", nil)
	req.Header.Set("X-User", "alice")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
	}
	if seen != "alice" {
		t.Errorf("context value %v, want alice", seen)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/operations/x", nil))
	if rec.Code != 404 {
		t.Errorf("old prefix: HTTP %d, want 404", rec.Code)
	}
}

type ctxServer struct {
	longrunningpb.UnimplementedOperationsServer
	seen *any
	key  any
}

func (s *ctxServer) GetOperation(ctx context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	*s.seen = ctx.Value(s.key)
	return &longrunningpb.Operation{Name: req.GetName()}, nil
}

// A server that does not implement a method, returns plain errors, or
// panics still gives a well-formed JSON error.
func TestServerErrors(t *testing.T) {
	h := lrohttp.NewHandler(&panicServer{})
	tests := []struct {
		method, path string
		wantCode     int
		wantStatus   string
	}{
		{"GET", "/v1/operations", 501, "UNIMPLEMENTED"},
		{"GET", "/v1/operations/plain", 500, "UNKNOWN"},
		{"GET", "/v1/operations/panic", 500, "INTERNAL"},
		{"GET", "/v1/operations/ctx", 499, "CANCELLED"},
		{"DELETE", "/v1/operations/x", 501, "UNIMPLEMENTED"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			var body struct {
				Error struct {
					Code    int
					Status  string
					Message string
				}
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if rec.Code != tt.wantCode || body.Error.Code != tt.wantCode || body.Error.Status != tt.wantStatus {
				t.Errorf("HTTP %d %+v, want %d %s", rec.Code, body.Error, tt.wantCode, tt.wantStatus)
			}
		})
	}
}

type panicServer struct {
	longrunningpb.UnimplementedOperationsServer
}

func (panicServer) GetOperation(_ context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	switch req.GetName() {
	case "operations/plain":
		return nil, io.ErrUnexpectedEOF
	case "operations/ctx":
		return nil, context.Canceled
	default:
		panic("boom")
	}
}

func TestHTTPStatus(t *testing.T) {
	want := map[codes.Code]int{
		codes.OK: 200, codes.Canceled: 499, codes.Unknown: 500, codes.InvalidArgument: 400,
		codes.DeadlineExceeded: 504, codes.NotFound: 404, codes.AlreadyExists: 409,
		codes.PermissionDenied: 403, codes.ResourceExhausted: 429, codes.FailedPrecondition: 400,
		codes.Aborted: 409, codes.OutOfRange: 400, codes.Unimplemented: 501, codes.Internal: 500,
		codes.Unavailable: 503, codes.DataLoss: 500, codes.Unauthenticated: 401, codes.Code(99): 500,
	}
	for c, w := range want {
		if got := lrohttp.HTTPStatus(c); got != w {
			t.Errorf("HTTPStatus(%v) = %d, want %d", c, got, w)
		}
	}
}

func TestNewHandlerPanicsOnBadOptions(t *testing.T) {
	for _, opt := range []lrohttp.Option{lrohttp.WithPattern("projects//x"), lrohttp.WithPattern(""), lrohttp.WithPrefix("v1"), lrohttp.WithPrefix("/v1/")} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("NewHandler did not panic")
				}
			}()
			lrohttp.NewHandler(newFake(), opt)
		}()
	}
}
