package lro_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/go-cmp/cmp"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// listAll pages through a listing and returns the names in order, checking
// that next_page_token is empty only on the last page.
func listAll(t *testing.T, m *lro.Manager, req *longrunningpb.ListOperationsRequest) []string {
	t.Helper()
	var names []string
	for page := 0; ; page++ {
		resp, err := m.ListOperations(context.Background(), req)
		if err != nil {
			t.Fatalf("ListOperations(%v) page %d: %v", req, page, err)
		}
		for _, op := range resp.GetOperations() {
			names = append(names, op.GetName())
		}
		if resp.GetNextPageToken() == "" {
			return names
		}
		if len(resp.GetOperations()) == 0 {
			t.Fatalf("page %d is empty but has a next_page_token", page)
		}
		req = &longrunningpb.ListOperationsRequest{Name: req.GetName(), Filter: req.GetFilter(), PageSize: req.GetPageSize(), PageToken: resp.GetNextPageToken()}
	}
}

// fixture makes operations under several parents, one clock tick apart,
// and returns their names newest first.
func fixture(t *testing.T, m *lro.Manager, clk *lrotest.Clock, parents ...string) []string {
	t.Helper()
	var names []string
	for _, p := range parents {
		op, err := m.Create(context.Background(), lro.WithParent(p))
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, op.GetName())
		clk.Advance(time.Second)
	}
	slices.Reverse(names)
	return names
}

func TestListCollections(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	m := newManager(t, lro.WithClock(clk))
	parents := []string{"", "projects/a", "projects/a/locations/x", "projects/b", "projects/a/locations/y", "", "projects/b/locations/x"}
	all := fixture(t, m, clk, parents...)
	under := func(pred func(parent string) bool) []string {
		var out []string
		for _, n := range all {
			parent, _, _ := strings.Cut(n, "/operations/")
			if strings.HasPrefix(n, "operations/") {
				parent = ""
			}
			if pred(parent) {
				out = append(out, n)
			}
		}
		return out
	}
	tests := []struct {
		name string
		want []string
	}{
		{"", all},
		{"operations", under(func(p string) bool { return p == "" })},
		{"projects/a/operations", under(func(p string) bool { return p == "projects/a" })},
		{"projects/a", under(func(p string) bool { return p == "projects/a" })},
		{"projects/-/operations", under(func(p string) bool { return p == "projects/a" || p == "projects/b" })},
		{"projects/-/locations/x/operations", under(func(p string) bool { return strings.HasSuffix(p, "/locations/x") })},
		{"projects/a/locations/-", under(func(p string) bool { return strings.HasPrefix(p, "projects/a/locations/") })},
		{"projects/-/locations/-/operations", under(func(p string) bool { return strings.Contains(p, "/locations/") })},
		{"projects/zzz/operations", nil},
	}
	for _, tt := range tests {
		for _, size := range []int32{0, 1, 2, 3} {
			got := listAll(t, m, &longrunningpb.ListOperationsRequest{Name: tt.name, PageSize: size})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("List(%q, page_size=%d) (-want +got):\n%s", tt.name, size, diff)
			}
		}
	}
	for _, bad := range []string{"/operations", "projects//operations", "projects/a b", strings.Repeat("a/", 600)} {
		_, err := m.ListOperations(context.Background(), &longrunningpb.ListOperationsRequest{Name: bad})
		wantCode(t, err, codes.InvalidArgument)
	}
}

func TestListOrderTiesByName(t *testing.T) {
	clk := lrotest.NewClock(epoch) // never advanced: every create time ties
	m := newManager(t, lro.WithClock(clk))
	var names []string
	for range 7 {
		op, _ := m.Create(context.Background())
		names = append(names, op.GetName())
	}
	clk.Advance(time.Second)
	newest, _ := m.Create(context.Background())
	slices.Sort(names)
	want := append([]string{newest.GetName()}, names...)
	if diff := cmp.Diff(want, listAll(t, m, &longrunningpb.ListOperationsRequest{PageSize: 3})); diff != "" {
		t.Errorf("order: newest first, then ties by name (-want +got):\n%s", diff)
	}
}

func TestListPageSize(t *testing.T) {
	m := newManager(t, lro.WithPageSize(lro.DefaultPageSize, lro.DefaultMaxPageSize))
	ctx := context.Background()
	for range 1100 {
		if _, err := m.Create(ctx); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		size int32
		want int
	}{
		{0, 50},
		{1, 1},
		{999, 999},
		{1000, 1000},
		{1001, 1000},
		{1 << 30, 1000},
	}
	for _, tt := range tests {
		resp, err := m.ListOperations(ctx, &longrunningpb.ListOperationsRequest{PageSize: tt.size})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(resp.GetOperations()); got != tt.want {
			t.Errorf("page_size %d gave %d operations, want %d", tt.size, got, tt.want)
		}
		if resp.GetNextPageToken() == "" {
			t.Errorf("page_size %d: more results remain, want a next_page_token", tt.size)
		}
	}
	_, err := m.ListOperations(ctx, &longrunningpb.ListOperationsRequest{PageSize: -1})
	wantCode(t, err, codes.InvalidArgument)
}

func TestListEndOfResults(t *testing.T) {
	m := newManager(t)
	ctx := context.Background()
	for range 6 {
		_, _ = m.Create(ctx)
	}
	// Exactly two full pages: the second carries no token, and no empty
	// third page is ever offered.
	resp, _ := m.ListOperations(ctx, &longrunningpb.ListOperationsRequest{PageSize: 3})
	if resp.GetNextPageToken() == "" {
		t.Fatal("first page: want a token")
	}
	resp, _ = m.ListOperations(ctx, &longrunningpb.ListOperationsRequest{PageSize: 3, PageToken: resp.GetNextPageToken()})
	if len(resp.GetOperations()) != 3 || resp.GetNextPageToken() != "" {
		t.Fatalf("last page: %d operations, token %q; want 3 and no token", len(resp.GetOperations()), resp.GetNextPageToken())
	}
	// An empty listing has no token either.
	resp, _ = m.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: "projects/none/operations"})
	if len(resp.GetOperations()) != 0 || resp.GetNextPageToken() != "" {
		t.Fatalf("empty listing: %v", resp)
	}
}

func TestListPageTokens(t *testing.T) {
	m := newManager(t)
	other := newManager(t) // another key: its tokens are not ours
	ctx := context.Background()
	for range 5 {
		_, _ = m.Create(ctx, lro.WithParent("projects/p"))
		_, _ = other.Create(ctx, lro.WithParent("projects/p"))
	}
	first, err := m.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: "projects/p/operations", PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	tok := first.GetNextPageToken()
	otherFirst, _ := other.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: "projects/p/operations", PageSize: 2})
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	flipped := slices.Clone(raw)
	flipped[len(flipped)/2] ^= 1
	if strings.Trim(tok, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
		t.Errorf("token %q is not URL-safe", tok)
	}
	tests := []struct {
		desc string
		req  *longrunningpb.ListOperationsRequest
	}{
		{"garbage", &longrunningpb.ListOperationsRequest{Name: "projects/p/operations", PageToken: "not a token!"}},
		{"empty base64", &longrunningpb.ListOperationsRequest{Name: "projects/p/operations", PageToken: "AAAA"}},
		{"tampered", &longrunningpb.ListOperationsRequest{Name: "projects/p/operations", PageToken: base64.RawURLEncoding.EncodeToString(flipped)}},
		{"truncated", &longrunningpb.ListOperationsRequest{Name: "projects/p/operations", PageToken: tok[:len(tok)-3]}},
		{"line break inserted", &longrunningpb.ListOperationsRequest{Name: "projects/p/operations", PageToken: tok[:10] + "\n" + tok[10:]}},
		{"another name", &longrunningpb.ListOperationsRequest{Name: "projects/q/operations", PageToken: tok}},
		{"another filter", &longrunningpb.ListOperationsRequest{Name: "projects/p/operations", Filter: "done = false", PageToken: tok}},
		{"another server's key", &longrunningpb.ListOperationsRequest{Name: "projects/p/operations", PageToken: otherFirst.GetNextPageToken()}},
		{"huge", &longrunningpb.ListOperationsRequest{Name: "projects/p/operations", PageToken: strings.Repeat("A", 1<<16)}},
	}
	for _, tt := range tests {
		_, err := m.ListOperations(ctx, tt.req)
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: got %v, want INVALID_ARGUMENT", tt.desc, err)
		}
	}
	// The page size may change between pages.
	if _, err := m.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: "projects/p/operations", PageSize: 3, PageToken: tok}); err != nil {
		t.Errorf("changing page_size between pages: %v", err)
	}
}

// TestListKeysetUnderChange inserts and deletes operations between pages:
// every operation that existed throughout is listed exactly once.
func TestListKeysetUnderChange(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	m := newManager(t, lro.WithClock(clk))
	ctx := context.Background()
	var initial []string
	for i := range 40 {
		op, _ := m.Create(ctx)
		initial = append(initial, op.GetName())
		if i%3 == 0 { // some ties too
			clk.Advance(time.Second)
		}
	}
	deleted := map[string]bool{}
	seen := map[string]int{}
	req := &longrunningpb.ListOperationsRequest{PageSize: 7}
	for page := 0; ; page++ {
		resp, err := m.ListOperations(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range resp.GetOperations() {
			seen[op.GetName()]++
		}
		if resp.GetNextPageToken() == "" {
			break
		}
		// Between pages: newer operations arrive, and some old ones go,
		// including the one the cursor points at.
		for range 3 {
			_, _ = m.Create(ctx)
		}
		last := resp.GetOperations()[len(resp.GetOperations())-1].GetName()
		victims := []string{last, initial[(page*11+5)%len(initial)]}
		for _, v := range victims {
			if !deleted[v] {
				deleted[v] = true
				if _, err := m.DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: v}); err != nil {
					t.Fatal(err)
				}
			}
		}
		req = &longrunningpb.ListOperationsRequest{PageSize: 7, PageToken: resp.GetNextPageToken()}
	}
	for _, n := range initial {
		if !deleted[n] && seen[n] != 1 {
			t.Errorf("%s existed throughout and was listed %d times, want once", n, seen[n])
		}
	}
	for n, c := range seen {
		if c > 1 {
			t.Errorf("%s listed %d times", n, c)
		}
	}
}

func TestListFilter(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	m := newManager(t, lro.WithClock(clk))
	ctx := context.Background()
	var doneNames, failedNames, runningNames []string
	for i := range 30 {
		op, _ := m.Create(ctx, lro.WithMetadata(wrapperspb.Int32(int32(i))))
		switch i % 3 {
		case 0:
			_ = m.Complete(ctx, op.GetName(), wrapperspb.String(fmt.Sprint("result-", i)))
			doneNames = append(doneNames, op.GetName())
		case 1:
			_ = m.Fail(ctx, op.GetName(), status.Error(codes.Aborted, "conflict"))
			failedNames = append(failedNames, op.GetName())
		default:
			runningNames = append(runningNames, op.GetName())
		}
		clk.Advance(time.Second)
	}
	for _, s := range [][]string{doneNames, failedNames, runningNames} {
		slices.Reverse(s)
	}
	tests := []struct {
		filter string
		want   []string
	}{
		{"done = false", runningNames},
		{"done:true AND error:*", failedNames},
		{"error.code = ABORTED", failedNames},
		{"NOT error:* AND done = true", doneNames},
		{`response.@type = "type.googleapis.com/google.protobuf.StringValue"`, doneNames},
		{"metadata.value >= 27 AND done = false", runningNames[:1]},
		{"metadata.@type = type.googleapis.com/google.protobuf.Int32Value AND metadata.value < 3", []string{runningNames[len(runningNames)-1], failedNames[len(failedNames)-1], doneNames[len(doneNames)-1]}},
	}
	for _, tt := range tests {
		for _, size := range []int32{0, 1, 4} {
			got := listAll(t, m, &longrunningpb.ListOperationsRequest{Filter: tt.filter, PageSize: size})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("filter %q page_size %d (-want +got):\n%s", tt.filter, size, diff)
			}
		}
	}
	for _, bad := range []struct{ filter, want string }{
		{"done = 5", "column"},
		{"nosuchfield = 1", "nosuchfield"},
		{"(done = true", "column"},
		{"done =", "column"},
		{strings.Repeat("(", 100) + "done" + strings.Repeat(")", 100), "deep"},
		{strings.Repeat("done = true AND ", 400), "long"},
	} {
		_, err := m.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Filter: bad.filter})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(strings.ToLower(status.Convert(err).Message()), bad.want) {
			t.Errorf("filter %.40q: got %v, want INVALID_ARGUMENT mentioning %q", bad.filter, err, bad.want)
		}
	}
}
