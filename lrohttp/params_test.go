package lrohttp_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/lrokit/lro/lrohttp"
)

// rawDo sends a request and returns the status and the body as sent.
func rawDo(t *testing.T, srvURL, method, path, contentType, body string) (int, string) {
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
	return resp.StatusCode, string(b)
}

// TestSystemParameters checks every spelling of every system parameter:
// accepted with a good value on each kind of route, refused with a bad one,
// and never passed on to the Operations server.
func TestSystemParameters(t *testing.T) {
	fake := newFake()
	ts := httptest.NewServer(lrohttp.NewHandler(fake))
	defer ts.Close()

	tests := []struct {
		query    string // appended to each route
		wantCode int
		wantMsg  string // part of the error message, for a 400
	}{
		// Honoured.
		{"alt=json", 200, ""},
		{"$alt=json", 200, ""},
		{"$alt=json%3Benum-encoding%3Dint", 200, ""},
		{"alt=proto", 400, "only json is served"},
		{"alt=media", 400, "only json is served"},
		{"$alt=sse", 400, "only json is served"},
		{"alt=JSON", 400, "only json is served"},
		{"$.xgafv=1", 200, ""},
		{"$.xgafv=2", 200, ""},
		{"$.xgafv=3", 400, "want 1 or 2"},
		{"$.xgafv=", 400, "want 1 or 2"},
		{"$apiFormat=2", 200, ""},
		{"$apiFormat=v2", 400, "want 1 or 2"},
		{"prettyPrint=true", 200, ""},
		{"prettyPrint=false", 200, ""},
		{"$prettyPrint=0", 200, ""},
		{"$prettyPrint=1", 200, ""},
		{"pp=false", 200, ""},
		{"prettyPrint=yes", 400, "want true or false"},
		{"$outputDefaults=true", 200, ""},
		{"$outputDefaults=false", 200, ""},
		{"$outputDefaults=always", 400, "want true or false"},
		{"$ct=application%2Fjson", 200, ""},
		// Refused on purpose.
		{"callback=f", 400, "JSONP is not supported"},
		{"$callback=f", 400, "JSONP is not supported"},
		{"password=hunter2", 400, "never put a password in a URL"},
		{"passwd=hunter2", 400, "never put a password in a URL"},
		// Ignored, whatever their value.
		{"fields=name", 200, ""},
		{"$fields=operations(name)", 200, ""},
		{"key=AIza", 200, ""},
		{"$key=AIza", 200, ""},
		{"access_token=ya29", 200, ""},
		{"oauth_token=ya29", 200, ""},
		{"bearer_token=ya29", 200, ""},
		{"quotaUser=alice", 200, ""},
		{"$quotaUser=alice", 200, ""},
		{"userIp=10.0.0.1", 200, ""},
		{"$userIp=10.0.0.1", 200, ""},
		{"upload_protocol=raw", 200, ""},
		{"uploadType=media", 200, ""},
		{"$unique=123", 200, ""},
		{"$apiVersion=v1", 200, ""},
		// Together, as Google's clients send them.
		{"$alt=json%3Benum-encoding%3Dint&$prettyPrint=0&$.xgafv=2&key=k&quotaUser=q", 200, ""},
		// Still refused: unknown parameters, repeats, two spellings of one.
		{"foo=1", 400, `unknown query parameter "foo"`},
		{"$foo=1", 400, `unknown query parameter "$foo"`},
		{"$httpMethod=DELETE", 400, `unknown query parameter "$httpMethod"`},
		{"xgafv=1", 400, `unknown query parameter "xgafv"`},
		{"ct=text%2Fplain", 400, `unknown query parameter "ct"`},
		{"key=a&key=b", 400, "given 2 times"},
		{"prettyPrint=true&$prettyPrint=false", 400, "given twice"},
		{"alt=json&$alt=json", 400, "given twice"},
		{"$.xgafv=1&$apiFormat=1", 400, "given twice"},
	}
	routes := []struct{ method, path string }{
		{"GET", "/v1/operations/ok"},
		{"GET", "/v1/operations"},
		{"DELETE", "/v1/operations/ok"},
		{"POST", "/v1/operations/running:cancel"},
		{"POST", "/v1/operations/ok:wait"},
	}
	for _, tt := range tests {
		for _, rt := range routes {
			t.Run(rt.method+" "+rt.path+"?"+tt.query, func(t *testing.T) {
				fake.mu.Lock()
				fake.lastList = nil
				fake.mu.Unlock()
				got := do(t, ts.URL, rt.method, rt.path+"?"+tt.query, "", "")
				if got.code != tt.wantCode {
					t.Fatalf("HTTP %d, want %d: %v", got.code, tt.wantCode, got.body)
				}
				if tt.wantCode != 200 {
					e, _ := got.body["error"].(map[string]any)
					if msg, _ := e["message"].(string); e["status"] != "INVALID_ARGUMENT" || !strings.Contains(msg, tt.wantMsg) {
						t.Errorf("error %v, want INVALID_ARGUMENT containing %q", e, tt.wantMsg)
					}
					return
				}
				if rt.path == "/v1/operations" {
					fake.mu.Lock()
					defer fake.mu.Unlock()
					if want := (&longrunningpb.ListOperationsRequest{Name: "operations"}); !proto.Equal(fake.lastList, want) {
						t.Errorf("server got %v, want %v: system parameters must not reach it", fake.lastList, want)
					}
				}
			})
		}
	}
}

// Pretty-printing is on by default, as on Google's servers, and
// prettyPrint=false (or Node's $prettyPrint=0) turns it off, for answers
// and errors alike.
func TestPrettyPrint(t *testing.T) {
	ts := httptest.NewServer(lrohttp.NewHandler(newFake()))
	defer ts.Close()
	tests := []struct {
		path   string
		pretty bool
	}{
		{"/v1/operations/ok", true},
		{"/v1/operations/ok?prettyPrint=true", true},
		{"/v1/operations/ok?prettyPrint=false", false},
		{"/v1/operations/ok?$prettyPrint=0", false},
		{"/v1/operations?pp=0", false},
		{"/v1/operations/nope?prettyPrint=false", false},
		{"/v1/operations/nope", true},
		{"/v1/operations/ok?prettyPrint=false&alt=proto", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			_, body := rawDo(t, ts.URL, "GET", tt.path, "", "")
			if !json.Valid([]byte(body)) || !strings.HasSuffix(body, "}\n") {
				t.Fatalf("body %q is not one JSON object and a newline", body)
			}
			lines := strings.Count(body, "\n")
			if tt.pretty && (lines < 3 || !strings.Contains(body, "\n  \"")) {
				t.Errorf("body %q is not indented", body)
			}
			if !tt.pretty && lines != 1 {
				t.Errorf("body %q is not compact", body)
			}
		})
	}
}

// $.xgafv selects the error format: 2 (the default) is Google's current
// one; 1 adds the legacy "errors" array and changes nothing else. It
// applies to every error, the handler's own included.
func TestErrorFormat(t *testing.T) {
	ts := httptest.NewServer(lrohttp.NewHandler(newFake()))
	defer ts.Close()
	v2 := map[string]any{"error": map[string]any{
		"code": 404.0, "message": `operation "operations/nope" not found`, "status": "NOT_FOUND",
	}}
	v1 := map[string]any{"error": map[string]any{
		"code": 404.0, "message": `operation "operations/nope" not found`, "status": "NOT_FOUND",
		"errors": []any{map[string]any{"message": `operation "operations/nope" not found`, "domain": "global", "reason": "notFound"}},
	}}
	for _, tt := range []struct {
		query string
		want  map[string]any
	}{{"", v2}, {"?$.xgafv=2", v2}, {"?$.xgafv=1", v1}, {"?$apiFormat=1", v1}} {
		got := do(t, ts.URL, "GET", "/v1/operations/nope"+tt.query, "", "")
		if d := cmp.Diff(tt.want, got.body); d != "" {
			t.Errorf("%s: (-want +got):\n%s", tt.query, d)
		}
	}

	// In format 1 the members keep Google's order: code, message, errors, status, details.
	_, body := rawDo(t, ts.URL, "GET", "/v1/operations/nope?$.xgafv=1&prettyPrint=false", "", "")
	if want := `{"error":{"code":404,"message":"operation \"operations/nope\" not found","errors":[{"message":"operation \"operations/nope\" not found","domain":"global","reason":"notFound"}],"status":"NOT_FOUND"}}` + "\n"; body != want {
		t.Errorf("body\n%s\nwant\n%s", body, want)
	}

	// The reason follows the HTTP status, for the handler's own errors too.
	tests := []struct {
		method, path string
		wantCode     int
		wantReason   string
	}{
		{"GET", "/v1/nowhere?$.xgafv=1", 404, "notFound"},
		{"PUT", "/v1/operations/ok?$.xgafv=1", 405, "httpMethodNotAllowed"},
		{"GET", "/v1/operations/ok?$.xgafv=1&alt=proto", 400, "badRequest"},
		{"GET", "/v1/operations/ok?alt=proto&$.xgafv=1", 400, "badRequest"},
		{"GET", "/v1/operations?$.xgafv=1&filter=bad", 400, "badRequest"},
		{"POST", "/v1/operations/ok:cancel?$.xgafv=1&$ct=text%2Fxml", 415, "badRequest"},
	}
	for _, tt := range tests {
		got := do(t, ts.URL, tt.method, tt.path, "", "")
		e, _ := got.body["error"].(map[string]any)
		errs, _ := e["errors"].([]any)
		if got.code != tt.wantCode || len(errs) != 1 {
			t.Errorf("%s %s: HTTP %d %v, want %d with one legacy error", tt.method, tt.path, got.code, got.body, tt.wantCode)
			continue
		}
		if first := errs[0].(map[string]any); first["reason"] != tt.wantReason || first["domain"] != "global" || first["message"] != e["message"] {
			t.Errorf("%s %s: legacy error %v, want reason %s", tt.method, tt.path, first, tt.wantReason)
		}
	}

	// A bad $.xgafv is itself reported in format 2.
	got := do(t, ts.URL, "GET", "/v1/operations/ok?$.xgafv=0", "", "")
	if e, _ := got.body["error"].(map[string]any); got.code != 400 || e["errors"] != nil {
		t.Errorf("bad $.xgafv: HTTP %d %v", got.code, got.body)
	}
}

// Operations, statuses and lists are written as protojson writes them, with
// and without $outputDefaults (protojson's EmitUnpopulated).
func TestOutputMatchesProtojson(t *testing.T) {
	fake := newFake()
	ts := httptest.NewServer(lrohttp.NewHandler(fake, lrohttp.WithPattern("projects/*/locations/*")))
	defer ts.Close()
	for _, defaults := range []bool{false, true} {
		mo := protojson.MarshalOptions{EmitUnpopulated: defaults}
		query := "?$outputDefaults=" + map[bool]string{false: "false", true: "true"}[defaults]
		for _, op := range fake.ops {
			if op.GetName() == "operations/unknown" { // protojson cannot write an unknown Any
				continue
			}
			b, err := mo.Marshal(op)
			if err != nil {
				t.Fatal(err)
			}
			var want map[string]any
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			got := do(t, ts.URL, "GET", "/v1/"+op.GetName()+query, "", "")
			if d := cmp.Diff(want, got.body); d != "" {
				t.Errorf("%s%s (-protojson +lrohttp):\n%s", op.GetName(), query, d)
			}
		}
		// An empty list, here under a parent with no operations.
		b, err := mo.Marshal(&longrunningpb.ListOperationsResponse{})
		if err != nil {
			t.Fatal(err)
		}
		var want map[string]any
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		got := do(t, ts.URL, "GET", "/v1/operations"+query+"&filter=none", "", "")
		if d := cmp.Diff(want, got.body); d != "" {
			t.Errorf("empty list%s (-protojson +lrohttp):\n%s", query, d)
		}
	}
}

// An empty list is {}, as Google's servers send it; with $outputDefaults
// it carries the empty fields.
func TestEmptyList(t *testing.T) {
	ts := httptest.NewServer(lrohttp.NewHandler(newFake()))
	defer ts.Close()
	for _, tt := range []struct{ query, want string }{
		{"filter=none&prettyPrint=false", "{}\n"},
		{"filter=none", "{}\n"},
		{"filter=none&prettyPrint=false&$outputDefaults=true", `{"operations":[],"nextPageToken":"","unreachable":[]}` + "\n"},
	} {
		code, body := rawDo(t, ts.URL, "GET", "/v1/operations?"+tt.query, "", "")
		if code != 200 || body != tt.want {
			t.Errorf("%s: HTTP %d %q, want %q", tt.query, code, body, tt.want)
		}
	}
}

// $ct overrides the Content-Type header of the request body.
func TestContentTypeOverride(t *testing.T) {
	fake := newFake()
	ts := httptest.NewServer(lrohttp.NewHandler(fake))
	defer ts.Close()
	ct := url.QueryEscape("application/json")
	if got := do(t, ts.URL, "POST", "/v1/operations/running:wait?$ct="+ct, "text/plain", `{"timeout":"3s"}`); got.code != 200 {
		t.Fatalf("$ct=application/json with a text/plain header: HTTP %d %v", got.code, got.body)
	}
	if got := fake.lastWait.GetTimeout().AsDuration().String(); got != "3s" {
		t.Errorf("timeout %s, want 3s", got)
	}
	if got := do(t, ts.URL, "POST", "/v1/operations/running:wait?$ct=text%2Fxml", "application/json", `{}`); got.code != 415 {
		t.Errorf("$ct=text/xml with a JSON header: HTTP %d %v, want 415", got.code, got.body)
	}
}
