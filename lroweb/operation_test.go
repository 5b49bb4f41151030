package lroweb_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lrokit/lro/lroweb"
	"github.com/lrokit/lro/lroweb/internal/demo"
)

func opURL(srv string, name string) string { return srv + "/op/" + name }

func TestOperationPage(t *testing.T) {
	m := newManager(t)
	s := seed(t, m)
	srv := serve(t, m)

	tests := []struct {
		name string
		op   string
		want []string
		not  []string
	}{{
		name: "running",
		op:   s.Running,
		want: []string{
			`<span class="badge badge-running" data-field="state">running</span>`,
			`<span class="tail">` + s.Running[strings.LastIndexByte(s.Running, '/')+1:] + `</span>`,
			`<progress class="bar-running" max="100" value="42" data-field="progress"></progress>`,
			`<span class="pct" data-field="progress-text">42%</span>`,
			`<button type="submit" class="btn warn">Cancel operation</button>`,
			`<dt>Created</dt><dd><time datetime="2025-06-03T13:53:00Z">2025-06-03 13:53:00 UTC</time></dd>`,
			`<dt>Updated</dt>`,
			`&#34;progress_percent&#34;: 42,`,
			`&#34;@type&#34;: &#34;type.googleapis.com/acme.exports.v1.ExportMetadata&#34;`,
			`data-events="../../../../../../events/` + s.Running + `"`,
		},
		not: []string{`data-field="result-card">`}, // hidden while running
	}, {
		name: "succeeded",
		op:   s.All[0],
		want: []string{
			`<span class="badge badge-succeeded" data-field="state">succeeded</span>`,
			`<h2 data-field="result-title">Response</h2>`,
			`&#34;@type&#34;: &#34;type.googleapis.com/acme.exports.v1.ExportResponse&#34;`,
			`&#34;rows_exported&#34;: &#34;120000&#34;`,
			`<dt>Ended</dt>`,
			`<dt>Took</dt><dd>29m0s</dd>`,
			`data-verb="Cancel" hidden>`, // a done operation offers no Cancel
		},
	}, {
		name: "failed",
		op:   s.All[2],
		want: []string{
			`<span class="badge badge-failed" data-field="state">failed</span>`,
			`<h2 data-field="result-title">Error</h2>`,
			`<span class="code" data-field="error-code">PERMISSION_DENIED</span> <span data-field="error-message">writing s3://partner-drop/poetry.csv: AccessDenied`,
			`&#34;status&#34;: &#34;PERMISSION_DENIED&#34;`,
			`&#34;code&#34;: 7,`,
		},
	}, {
		name: "cancelled",
		op:   s.All[4],
		want: []string{`<span class="badge badge-cancelled" data-field="state">cancelled</span>`, `CANCELLED`},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := get(t, opURL(srv.URL, tc.op))
			if p.code != 200 {
				t.Fatalf("status %d\n%s", p.code, p.body)
			}
			for _, w := range tc.want {
				if !strings.Contains(p.body, w) {
					t.Errorf("page lacks %s", w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(p.body, n) {
					t.Errorf("page has %s", n)
				}
			}
			if t.Failed() {
				t.Log(p.body)
			}
		})
	}
}

func TestUnknownTypeShowsTypeAndBytes(t *testing.T) {
	m := newManager(t)
	s := seed(t, m)
	// The console does not know the demo types: it shows their URL and bytes.
	h, err := lroweb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, h)
	p := get(t, opURL(srv.URL, s.Running))
	if p.code != 200 {
		t.Fatalf("status %d", p.code)
	}
	for _, want := range []string{
		`&#34;@type&#34;: &#34;type.googleapis.com/acme.exports.v1.ExportMetadata&#34;,`,
		`&#34;value&#34;: &#34;`,
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("page lacks %s\n%s", want, p.body)
		}
	}
	if strings.Contains(p.body, "progress_percent") || !strings.Contains(p.body, `data-field="progress-card" hidden`) {
		t.Error("an undecodable metadata shows fields or progress")
	}
}

func TestRPCErrorsMapToHTTPStatus(t *testing.T) {
	m := newManager(t, lroAuthorizer(func(ctx context.Context, method, name string) error {
		if strings.Contains(name, "secret") {
			return status.Error(codes.PermissionDenied, "not for you")
		}
		return nil
	}))
	srv := serve(t, m)
	tests := []struct {
		path string
		code int
		want string
	}{
		{"/op/operations/nope", http.StatusNotFound, "NOT_FOUND"},
		{"/op/operations/secret", http.StatusForbidden, "PERMISSION_DENIED"},
		{"/op/not-an-operation", http.StatusBadRequest, "INVALID_ARGUMENT"},
		{"/events/operations/nope", http.StatusNotFound, "NOT_FOUND"},
		{"/nowhere", http.StatusNotFound, "NOT_FOUND"},
	}
	for _, tc := range tests {
		p := get(t, srv.URL+tc.path)
		if p.code != tc.code || !strings.Contains(p.body, "<h1>"+tc.want+"</h1>") {
			t.Errorf("GET %s = %d, want %d with %s\n%s", tc.path, p.code, tc.code, tc.want, p.body)
		}
		if ct := p.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q", tc.path, ct)
		}
	}
}

func TestStaticAssets(t *testing.T) {
	m := newManager(t)
	srv := serve(t, m)
	p := get(t, srv.URL+"/")
	for _, tc := range []struct{ name, ctype string }{
		{"console.css", "text/css; charset=utf-8"},
		{"console.js", "text/javascript; charset=utf-8"},
		{"favicon.svg", "image/svg+xml"},
	} {
		i := strings.Index(p.body, "static/"+tc.name+"?v=")
		if i < 0 {
			t.Errorf("page does not link %s", tc.name)
			continue
		}
		link := p.body[i:]
		link = link[:strings.IndexByte(link, '"')]
		a := get(t, resolve(t, srv.URL+"/", link))
		if a.code != 200 || a.header.Get("Content-Type") != tc.ctype || len(a.body) < 100 {
			t.Errorf("%s: %d %q %d bytes", link, a.code, a.header.Get("Content-Type"), len(a.body))
		}
	}
	if p := get(t, srv.URL+"/static/nope.js"); p.code != 404 {
		t.Errorf("missing asset: %d", p.code)
	}
}

func TestMountedUnderPrefix(t *testing.T) {
	m := newManager(t)
	s := seed(t, m)
	h, err := lroweb.New(m, lroweb.WithResolver(demo.Types()))
	if err != nil {
		t.Fatal(err)
	}
	for _, strip := range []string{"/console", "/console/"} {
		t.Run(strip, func(t *testing.T) {
			mux := http.NewServeMux()
			mux.Handle("/console/", http.StripPrefix(strip, h))
			srv := newServer(t, mux)
			root := srv.URL + "/console/"
			list := get(t, root)
			if list.code != 200 {
				t.Fatalf("GET %s = %d", root, list.code)
			}
			i := strings.Index(list.body, `href="`+"./op/")
			if i < 0 {
				t.Fatalf("no relative operation link:\n%s", list.body)
			}
			link := list.body[i+len(`href="`):]
			link = link[:strings.IndexByte(link, '"')]
			opPage := resolve(t, root, link)
			if !strings.HasPrefix(opPage, srv.URL+"/console/op/") {
				t.Fatalf("link resolves to %s", opPage)
			}
			op := get(t, opPage)
			if op.code != 200 {
				t.Fatalf("GET %s = %d", opPage, op.code)
			}
			css := op.body[strings.Index(op.body, `<link rel="stylesheet" href="`)+len(`<link rel="stylesheet" href="`):]
			css = css[:strings.IndexByte(css, '"')]
			if u := resolve(t, opPage, css); !strings.HasPrefix(u, srv.URL+"/console/static/") || get(t, u).code != 200 {
				t.Errorf("stylesheet %s resolves to %s", css, u)
			}
			// The redirect after an action resolves under the prefix too.
			cancel := resolve(t, opPage, "../../../../../../cancel/"+s.Running)
			a := post(t, cancel, url.Values{"confirm": {"yes"}}, nil)
			if a.code != http.StatusSeeOther {
				t.Fatalf("POST %s = %d\n%s", cancel, a.code, a.body)
			}
			if got, want := resolve(t, cancel, a.header.Get("Location")), srv.URL+"/console/op/"+s.Running; got != want {
				t.Errorf("redirect to %s, want %s", got, want)
			}
		})
	}
	if _, err := m.GetOperation(context.Background(), &longrunningpb.GetOperationRequest{Name: s.Running}); err != nil {
		t.Fatal(err)
	}
}
