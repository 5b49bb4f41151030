package lroweb_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lroweb"
	"github.com/lrokit/lro/lroweb/internal/demo"
)

// demoNow is the time the demo operations are seeded around.
var demoNow = time.Date(2025, 6, 3, 14, 0, 0, 0, time.UTC)

// newManager returns an in-memory Manager that knows the demo types,
// closed when the test ends.
func newManager(t *testing.T, opts ...lro.Option) *lro.Manager {
	t.Helper()
	m, err := lro.New(append([]lro.Option{lro.WithTypeResolver(demo.Types())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}

// seed makes the demo operations on m.
func seed(t *testing.T, m *lro.Manager) demo.Seeded {
	t.Helper()
	s, err := demo.Seed(context.Background(), m, demoNow)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// serve serves a console for ops (with the demo types) on a test server.
func serve(t *testing.T, ops longrunningpb.OperationsServer, opts ...lroweb.Option) *httptest.Server {
	t.Helper()
	h, err := lroweb.New(ops, append([]lroweb.Option{lroweb.WithResolver(demo.Types())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// page is an answer's status, headers and body.
type page struct {
	code   int
	header http.Header
	body   string
}

func get(t *testing.T, u string) page {
	t.Helper()
	return do(t, http.MethodGet, u, nil, nil)
}

// post posts form to u, not following redirects.
func post(t *testing.T, u string, form url.Values, header http.Header) page {
	t.Helper()
	if header == nil {
		header = http.Header{}
	}
	header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, http.MethodPost, u, strings.NewReader(form.Encode()), header)
}

func do(t *testing.T, method, u string, body io.Reader, header http.Header) page {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return page{resp.StatusCode, resp.Header, string(b)}
}

var rowRE = regexp.MustCompile(`<td class="name"><a href="[^"]*op/([^"]+)">`)

// names returns the operation names a list page shows, in order.
func names(t *testing.T, body string) []string {
	t.Helper()
	var out []string
	for _, m := range rowRE.FindAllStringSubmatch(body, -1) {
		n, err := url.PathUnescape(m[1])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

var nextRE = regexp.MustCompile(`<a class="btn" rel="next" href="([^"]+)">`)

// resolve resolves a link on the page at base, as a browser would.
func resolve(t *testing.T, base, ref string) string {
	t.Helper()
	b, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	r, err := url.Parse(strings.ReplaceAll(ref, "&amp;", "&"))
	if err != nil {
		t.Fatal(err)
	}
	return b.ResolveReference(r).String()
}

func reversed(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

// event is one server-sent event.
type event struct {
	name string
	data string
}

// eventReader reads server-sent events from an open stream.
type eventReader struct {
	r    *bufio.Reader
	body io.Closer
}

// openEvents opens the event stream at u; cancelling ctx closes it.
func openEvents(t *testing.T, ctx context.Context, u string) (*eventReader, *http.Response) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &eventReader{r: bufio.NewReader(resp.Body), body: resp.Body}, resp
}

// next blocks until the next event, or returns io.EOF when the stream ends.
func (e *eventReader) next() (event, error) {
	var ev event
	for {
		line, err := e.r.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) && line == "" {
				return ev, io.EOF
			}
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev.name != "" || ev.data != "" {
				return ev, nil
			}
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data += strings.TrimPrefix(line, "data: ")
		}
	}
}

// opEvent is the part of an "op" event the tests look at.
type opEvent struct {
	Name         string  `json:"name"`
	State        string  `json:"state"`
	Done         bool    `json:"done"`
	Progress     float64 `json:"progress"`
	HasProgress  bool    `json:"hasProgress"`
	Metadata     string  `json:"metadata"`
	ResultKind   string  `json:"resultKind"`
	Result       string  `json:"result"`
	ErrorCode    string  `json:"errorCode"`
	ErrorMessage string  `json:"errorMessage"`
}

// nextOp reads the next event and decodes it as an "op" event.
func (e *eventReader) nextOp(t *testing.T) opEvent {
	t.Helper()
	ev, err := e.next()
	if err != nil {
		t.Fatalf("reading an event: %v", err)
	}
	if ev.name != "op" {
		t.Fatalf("event %q %s, want an op event", ev.name, ev.data)
	}
	var v opEvent
	if err := json.Unmarshal([]byte(ev.data), &v); err != nil {
		t.Fatalf("decoding %s: %v", ev.data, err)
	}
	return v
}

// newServer serves h on a test server closed when the test ends.
func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// lroAuthorizer is lro.WithAuthorizer, named for the tests.
func lroAuthorizer(a lro.Authorizer) lro.Option { return lro.WithAuthorizer(a) }

// newConsole is lroweb.New with the demo types.
func newConsole(ops longrunningpb.OperationsServer, opts ...lroweb.Option) (http.Handler, error) {
	return lroweb.New(ops, append([]lroweb.Option{lroweb.WithResolver(demo.Types())}, opts...)...)
}
