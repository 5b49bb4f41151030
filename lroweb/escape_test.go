package lroweb_test

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lroweb/internal/demo"
)

// hostile strings an operation might carry.
var hostile = []string{
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(1)>`,
	`</pre><svg onload=alert(1)>`,
	`'; alert(1); '`,
}

// hostileServer answers with an operation whose every string is hostile,
// its name and type URL included, as a server other than lro.Manager
// might.
type hostileServer struct {
	longrunningpb.UnimplementedOperationsServer
}

func (hostileServer) op(name string) *longrunningpb.Operation {
	return &longrunningpb.Operation{
		Name:     name,
		Metadata: &anypb.Any{TypeUrl: "type.googleapis.com/x" + hostile[1], Value: []byte(hostile[0])},
		Done:     true,
		Result:   &longrunningpb.Operation_Error{Error: &spb.Status{Code: 13, Message: strings.Join(hostile, " ")}},
	}
}

func (h hostileServer) GetOperation(_ context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	return h.op(req.GetName()), nil
}

func (h hostileServer) ListOperations(context.Context, *longrunningpb.ListOperationsRequest) (*longrunningpb.ListOperationsResponse, error) {
	return &longrunningpb.ListOperationsResponse{
		Operations:    []*longrunningpb.Operation{h.op("operations/" + hostile[0]), h.op("operations/" + hostile[1])},
		NextPageToken: hostile[1],
	}, nil
}

// tagRE and attrRE read start tags and their attributes, quoted values
// included, as an HTML parser does.
var (
	tagRE  = regexp.MustCompile(`<[a-zA-Z][\w-]*((?:\s+[^\s"'>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+))?)*)\s*/?>`)
	attrRE = regexp.MustCompile(`\s([^\s"'>/=]+)(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+))?`)
)

// handlerAttr returns the first event handler or style attribute of a tag
// in body, or "".
func handlerAttr(body string) string {
	for _, tag := range tagRE.FindAllStringSubmatch(body, -1) {
		for _, a := range attrRE.FindAllStringSubmatch(tag[1], -1) {
			if name := strings.ToLower(a[1]); strings.HasPrefix(name, "on") || name == "style" {
				return tag[0]
			}
		}
	}
	return ""
}

// assertInert fails if body has markup that did not come from the
// templates: any script but the console's own, any image, event handler
// attribute or inline style.
func assertInert(t *testing.T, what, body string) {
	t.Helper()
	if n := strings.Count(body, "<script"); n > 1 {
		t.Errorf("%s: %d <script> elements", what, n)
	}
	for _, bad := range []string{"<img", "<svg", "</pre><", "<script>"} {
		if strings.Contains(body, bad) {
			t.Errorf("%s: contains %q", what, bad)
		}
	}
	if m := handlerAttr(body); m != "" {
		t.Errorf("%s: has an event handler or inline style: %s", what, m)
	}
}

func TestHostileStringsAreEscaped(t *testing.T) {
	t.Run("manager", func(t *testing.T) {
		m := newManager(t)
		ctx := context.Background()
		md := demo.Export{Source: hostile[0], Destination: hostile[1], Note: hostile[2], Created: demoNow}
		running, err := m.Create(ctx, lro.WithMetadata(md.Metadata()))
		if err != nil {
			t.Fatal(err)
		}
		failed, err := m.Create(ctx, lro.WithMetadata(md.Metadata()))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Fail(ctx, failed.GetName(), errors.New(strings.Join(hostile, " "))); err != nil {
			t.Fatal(err)
		}
		srv := serve(t, m)
		list := get(t, srv.URL+"/?"+url.Values{"filter": {`metadata.source:"` + hostile[0] + `"`}}.Encode())
		assertInert(t, "list", list.body)
		if len(names(t, list.body)) != 2 {
			t.Errorf("a filter on the hostile string finds %d operations, want 2", len(names(t, list.body)))
		}
		for _, op := range []string{running.GetName(), failed.GetName()} {
			p := get(t, opURL(srv.URL, op))
			assertInert(t, op, p.body)
			for _, want := range []string{`&lt;script&gt;alert(1)&lt;/script&gt;`, `&lt;/pre&gt;&lt;svg onload=alert(1)&gt;`} {
				if !strings.Contains(p.body, want) {
					t.Errorf("%s: lacks the escaped %s", op, want)
				}
			}
		}
		// The live stream's JSON is escaped too, although the script only
		// ever sets it as text.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		ev, _ := openEvents(t, ctx, srv.URL+"/events/"+failed.GetName())
		e, err := ev.next()
		if err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(e.data, "<>") || !strings.Contains(e.data, `\u003cscript\u003e`) {
			t.Errorf("event data not escaped: %s", e.data)
		}
	})
	t.Run("any server", func(t *testing.T) {
		srv := serve(t, hostileServer{})
		list := get(t, srv.URL+"/?"+url.Values{"filter": {hostile[1]}}.Encode())
		assertInert(t, "list", list.body)
		if !strings.Contains(list.body, `href="./op/operations/%3Cscript%3Ealert%281%29%3C/script%3E"`) {
			t.Errorf("the hostile name is not escaped in its link:\n%s", list.body)
		}
		p := get(t, srv.URL+"/op/operations/"+strings.ReplaceAll(hostile[0], "/", "%2F"))
		if p.code != 200 {
			t.Fatalf("status %d\n%s", p.code, p.body)
		}
		assertInert(t, "operation", p.body)
		if !strings.Contains(p.body, `&#34;@type&#34;: &#34;type.googleapis.com/x\&#34;&gt;&lt;img src=x onerror=alert(1)&gt;&#34;`) {
			t.Errorf("the hostile type URL is not shown escaped:\n%s", p.body)
		}
	})
}

func TestSecurityHeaders(t *testing.T) {
	m := newManager(t)
	srv := serve(t, m)
	for _, path := range []string{"/", "/op/operations/nope", "/nowhere"} {
		p := get(t, srv.URL+path)
		csp := p.header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %s", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("%s: CSP %q allows unsafe sources", path, csp)
		}
		if p.header.Get("X-Content-Type-Options") != "nosniff" || p.header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", path, p.header)
		}
		if p.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", path, p.header.Get("Cache-Control"))
		}
	}
}

// The templates must keep to the CSP: no inline script or style anywhere.
func TestPagesNeedNoInlineScriptOrStyle(t *testing.T) {
	m := newManager(t)
	s := seed(t, m)
	srv := serve(t, m)
	for _, u := range []string{srv.URL + "/", opURL(srv.URL, s.Running), opURL(srv.URL, s.All[2])} {
		p := get(t, u)
		assertInert(t, u, p.body)
		if strings.Contains(p.body, "<style") || strings.Contains(p.body, "javascript:") {
			t.Errorf("%s: inline style or javascript: URL", u)
		}
	}
}

// The checker itself must see a real injection and pass an escaped one.
func TestHandlerAttrChecker(t *testing.T) {
	for body, want := range map[string]bool{
		`<img src=x onerror=alert(1)>`:                            true,
		`<p class="a" style="color:red">`:                         true,
		`<div title='x' ONLOAD="y">`:                              true,
		`<input value="&#34;&gt;&lt;img src=x onerror=alert(1)">`: false,
		`<span title="a onclick=b">text onclick=c</span>`:         false,
	} {
		if got := handlerAttr(body) != ""; got != want {
			t.Errorf("handlerAttr(%s) found = %v, want %v", body, got, want)
		}
	}
}
