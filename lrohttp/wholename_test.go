package lrohttp_test

import (
	"net/http/httptest"
	"testing"

	"github.com/lrokit/lro/lrohttp"
)

// TestWholeNameInOneSegment: Google's Node client (google-gax) in REST
// fallback mode sends GetOperation, by default, as
// GET /v1/operations/{name} with the whole name escaped into one segment.
// Such a path is read as the operation it names (GET and DELETE); every
// other escaped slash is still INVALID_ARGUMENT.
func TestWholeNameInOneSegment(t *testing.T) {
	ts := httptest.NewServer(lrohttp.NewHandler(newFake(), lrohttp.WithPattern("projects/*/locations/*")))
	defer ts.Close()
	plain := httptest.NewServer(lrohttp.NewHandler(newFake()))
	defer plain.Close()

	tests := []struct {
		name, url, method, path string
		wantCode                int
		wantName                string // the operation answered, for a 200 with a body
	}{
		{"top-level name", ts.URL, "GET", "/v1/operations/operations%2Fok", 200, "operations/ok"},
		{"escaped lower case", ts.URL, "GET", "/v1/operations/operations%2fok", 200, "operations/ok"},
		{"multi-segment id", ts.URL, "GET", "/v1/operations/operations%2Fa%2Fb%2Fc", 200, "operations/a/b/c"},
		{"name under a parent", ts.URL, "GET", "/v1/operations/projects%2Fp%2Flocations%2Fl%2Foperations%2Fnested", 200, "projects/p/locations/l/operations/nested"},
		{"delete", ts.URL, "DELETE", "/v1/operations/operations%2Fok", 200, ""},
		{"missing operation", ts.URL, "GET", "/v1/operations/operations%2Fnope", 404, ""},
		{"parent the handler does not serve", plain.URL, "GET", "/v1/operations/projects%2Fp%2Flocations%2Fl%2Foperations%2Fnested", 400, ""},
		{"not an operation name", ts.URL, "GET", "/v1/operations/a%2Fb", 400, ""},
		{"a collection", ts.URL, "GET", "/v1/operations/projects%2Fp%2Flocations%2Fl%2Foperations", 400, ""},
		{"empty id", ts.URL, "GET", "/v1/operations/operations%2F", 400, ""},
		{"leading slash", ts.URL, "GET", "/v1/operations/%2Foperations%2Fok", 400, ""},
		{"segments after it", ts.URL, "GET", "/v1/operations/operations%2Fok/x", 400, ""},
		{"under another segment", ts.URL, "GET", "/v1/projects/operations/operations%2Fok", 400, ""},
		{"with a verb", ts.URL, "POST", "/v1/operations/operations%2Frunning:cancel", 400, ""},
		{"POST on the resource", ts.URL, "POST", "/v1/operations/operations%2Fok", 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := do(t, tt.url, tt.method, tt.path, "", "")
			if got.code != tt.wantCode {
				t.Fatalf("%s %s = %d %v, want %d", tt.method, tt.path, got.code, got.body, tt.wantCode)
			}
			if tt.wantName != "" && got.body["name"] != tt.wantName {
				t.Errorf("%s %s answered %v, want operation %s", tt.method, tt.path, got.body, tt.wantName)
			}
		})
	}
}
