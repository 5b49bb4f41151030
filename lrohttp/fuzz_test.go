package lrohttp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lrokit/lro/lrohttp"
)

// FuzzHandler checks that no request makes the handler fail with a server
// error other than 501, or write anything but JSON. Run it with:
// go test -run XXX -fuzz FuzzHandler -fuzztime 30s ./lrohttp
func FuzzHandler(f *testing.F) {
	f.Add("GET", "/v1/operations/ok", "")
	f.Add("POST", "/v1/operations/running:wait", `{"timeout":"1s"}`)
	f.Add("GET", "/v1/operations?pageSize=1&pageToken=3", "")
	f.Add("POST", "/v1/projects/p/locations/l/operations/nested:cancel", `{"name":1}`)
	f.Add("GET", "/v1/operations?$.xgafv=1&$prettyPrint=0&$outputDefaults=true&key=k", "")
	f.Add("POST", "/v1/operations/ok:wait?$ct=application%2Fjson&$.xgafv=1", `{"timeout":"1s"}`)
	h := lrohttp.NewHandler(newFake(), lrohttp.WithPattern("projects/*/locations/*"))
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	f.Fuzz(func(t *testing.T, method, target, body string) {
		if !strings.HasPrefix(target, "/") {
			return
		}
		req, err := http.NewRequest(method, "http://x"+target, strings.NewReader(body))
		if err != nil {
			return
		}
		req = req.WithContext(gone) // a wait that would block ends at once
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != 501 {
			t.Errorf("%s %s %q: HTTP %d %s", method, target, body, rec.Code, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Errorf("%s %s: invalid JSON %q", method, target, rec.Body)
		}
	})
}
