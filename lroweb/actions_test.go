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

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lroweb/internal/demo"
)

// getOp reads an operation straight from the Manager, as an admin.
func getOp(t *testing.T, m *lro.Manager, name string) (*longrunningpb.Operation, error) {
	t.Helper()
	ctx := context.WithValue(context.Background(), userKey{}, "admin")
	return m.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: name})
}

func TestCancelNeedsConfirmation(t *testing.T) {
	m := newManager(t)
	s := seed(t, m)
	srv := serve(t, m)
	u := srv.URL + "/cancel/" + s.Running

	p := post(t, u, nil, nil)
	if p.code != 200 || !strings.Contains(p.body, "<h1>Cancel this operation?</h1>") ||
		!strings.Contains(p.body, `<input type="hidden" name="confirm" value="yes">`) ||
		!strings.Contains(p.body, `action="../../../../../../cancel/`+s.Running+`"`) {
		t.Fatalf("unconfirmed cancel: %d\n%s", p.code, p.body)
	}
	if op, err := getOp(t, m, s.Running); err != nil || op.GetDone() {
		t.Fatalf("an unconfirmed cancel changed the operation: %v %v", op, err)
	}

	p = post(t, u, url.Values{"confirm": {"yes"}}, nil)
	if p.code != http.StatusSeeOther || p.header.Get("Location") != "../../../../../../op/"+s.Running {
		t.Fatalf("confirmed cancel: %d Location %q\n%s", p.code, p.header.Get("Location"), p.body)
	}
	op, err := getOp(t, m, s.Running)
	if err != nil || !op.GetDone() || codes.Code(op.GetError().GetCode()) != codes.Canceled {
		t.Fatalf("after cancel: %v %v, want done CANCELLED", op, err)
	}
	if page := get(t, resolve(t, u, p.header.Get("Location"))); !strings.Contains(page.body, `<span class="badge badge-cancelled" data-field="state">cancelled</span>`) {
		t.Errorf("the page after cancel does not show it cancelled:\n%s", page.body)
	}
}

func TestDeleteNeedsConfirmation(t *testing.T) {
	m := newManager(t)
	s := seed(t, m)
	srv := serve(t, m)
	name := s.All[0]
	u := srv.URL + "/delete/" + name

	if p := post(t, u, url.Values{"confirm": {"no"}}, nil); p.code != 200 || !strings.Contains(p.body, "<h1>Delete this operation?</h1>") {
		t.Fatalf("unconfirmed delete: %d\n%s", p.code, p.body)
	}
	if _, err := getOp(t, m, name); err != nil {
		t.Fatalf("an unconfirmed delete removed the operation: %v", err)
	}
	p := post(t, u, url.Values{"confirm": {"yes"}}, nil)
	if p.code != http.StatusSeeOther || p.header.Get("Location") != "../../../../../../?deleted=1" {
		t.Fatalf("confirmed delete: %d Location %q", p.code, p.header.Get("Location"))
	}
	if _, err := getOp(t, m, name); status.Code(err) != codes.NotFound {
		t.Fatalf("after delete: %v, want NOT_FOUND", err)
	}
	list := get(t, resolve(t, u, p.header.Get("Location")))
	if !strings.Contains(list.body, "The operation was deleted.") {
		t.Error("the list does not say the operation was deleted")
	}
	for _, n := range names(t, list.body) {
		if n == name {
			t.Error("the list still shows the deleted operation")
		}
	}
	// Deleting it again is NOT_FOUND.
	if p := post(t, u, url.Values{"confirm": {"yes"}}, nil); p.code != 404 {
		t.Errorf("second delete: %d", p.code)
	}
}

func TestCrossOriginActionsRefused(t *testing.T) {
	m := newManager(t)
	s := seed(t, m)
	srv := serve(t, m)
	confirmed := url.Values{"confirm": {"yes"}}
	for _, tc := range []struct {
		name   string
		header http.Header
		code   int
	}{
		{"fetch metadata cross-site", http.Header{"Sec-Fetch-Site": {"cross-site"}}, 403},
		{"fetch metadata same-site", http.Header{"Sec-Fetch-Site": {"same-site"}}, 403},
		{"foreign origin", http.Header{"Origin": {"https://evil.example"}}, 403},
	} {
		for _, action := range []string{"cancel", "delete"} {
			p := post(t, srv.URL+"/"+action+"/"+s.Running, confirmed, tc.header)
			if p.code != tc.code || !strings.Contains(p.body, "<h1>CROSS_ORIGIN</h1>") {
				t.Errorf("%s %s: %d\n%s", tc.name, action, p.code, p.body)
			}
		}
	}
	if op, err := getOp(t, m, s.Running); err != nil || op.GetDone() {
		t.Fatalf("a cross-origin request changed the operation: %v %v", op, err)
	}
	// A same-origin request from the console's own page goes through.
	p := post(t, srv.URL+"/cancel/"+s.Running, confirmed, http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {srv.URL}})
	if p.code != http.StatusSeeOther {
		t.Fatalf("same-origin cancel: %d\n%s", p.code, p.body)
	}
	// Only POST changes anything.
	if p := get(t, srv.URL+"/cancel/"+s.All[6]); p.code == http.StatusSeeOther {
		t.Error("GET cancels")
	}
	if op, err := getOp(t, m, s.All[6]); err != nil || op.GetDone() {
		t.Fatalf("a GET changed the operation: %v %v", op, err)
	}
}

// userKey carries the caller's identity, as a host's authentication
// middleware would set it.
type userKey struct{}

// withUser is the host's middleware: it trusts a header, for the test.
func withUser(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), userKey{}, r.Header.Get("X-Test-User"))
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

func TestAuthorizerSeesTheRequestsIdentity(t *testing.T) {
	// viewer may read; admin may also cancel and delete; anyone else
	// nothing.
	m := newManager(t, lro.WithAuthorizer(func(ctx context.Context, method, name string) error {
		user, _ := ctx.Value(userKey{}).(string)
		switch {
		case user == "admin":
			return nil
		case user == "viewer" && (method == lro.MethodGet || method == lro.MethodList || method == lro.MethodWait):
			return nil
		}
		return status.Errorf(codes.PermissionDenied, "%s may not call %s", user, method)
	}))
	s, err := demo.Seed(context.WithValue(context.Background(), userKey{}, "admin"), m, demoNow)
	if err != nil {
		t.Fatal(err)
	}
	h, err := newConsole(m)
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, withUser(h))
	as := func(user string) http.Header { return http.Header{"X-Test-User": {user}} }
	confirmed := url.Values{"confirm": {"yes"}}

	tests := []struct {
		user, method, path string
		code               int
	}{
		{"mallory", "GET", "/", 403},
		{"mallory", "GET", "/op/" + s.Running, 403},
		{"mallory", "GET", "/events/" + s.Running, 403},
		{"viewer", "GET", "/", 200},
		{"viewer", "GET", "/op/" + s.Running, 200},
		{"viewer", "POST", "/cancel/" + s.Running, 403},
		{"viewer", "POST", "/delete/" + s.Running, 403},
		{"admin", "POST", "/cancel/" + s.Running, 303},
	}
	for _, tc := range tests {
		var p page
		if tc.method == "GET" {
			p = do(t, "GET", srv.URL+tc.path, nil, as(tc.user))
		} else {
			p = post(t, srv.URL+tc.path, confirmed, as(tc.user))
		}
		if p.code != tc.code {
			t.Errorf("%s %s as %s: %d, want %d\n%s", tc.method, tc.path, tc.user, p.code, tc.code, p.body)
		}
		if tc.code == 403 && !strings.Contains(p.body, "PERMISSION_DENIED") || tc.code == 403 && !strings.Contains(p.body, tc.user+" may not call") {
			t.Errorf("%s %s as %s: the page does not say why:\n%s", tc.method, tc.path, tc.user, p.body)
		}
		if tc.user == "viewer" && tc.method == "POST" {
			if op, err := getOp(t, m, s.Running); err != nil || op.GetDone() {
				t.Fatalf("a denied %s changed the operation: %v %v", tc.path, op, err)
			}
		}
	}
}
