package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lrokit/lro"
)

// TestQueuedState runs list and get against a real Manager, over gRPC and
// REST, with one operation of each state: the one waiting for a slot shows
// QUEUED, the others RUNNING and SUCCEEDED.
func TestQueuedState(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, lro.WithMaxRunning(1))
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // before the Manager closes
	hold := func(ctx context.Context, _ *lro.Op) (proto.Message, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return wrapperspb.String("done"), nil
	}
	succeeded, err := m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Complete(ctx, succeeded.GetName(), wrapperspb.String("ok")); err != nil {
		t.Fatal(err)
	}
	external, err := m.Create(ctx) // never queued
	if err != nil {
		t.Fatal(err)
	}
	running, err := m.Start(ctx, hold) // takes the one slot
	if err != nil {
		t.Fatal(err)
	}
	queued, err := m.Start(ctx, hold) // waits for it
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		succeeded.GetName(): "SUCCEEDED",
		external.GetName():  "RUNNING",
		running.GetName():   "RUNNING",
		queued.GetName():    "QUEUED",
	}
	for transport, flags := range servers(t, m) {
		t.Run(transport, func(t *testing.T) {
			out, code := lroctl(t, append(flags, "list")...)
			if code != 0 {
				t.Fatalf("list:\n%s", out)
			}
			if got := tableStates(out); !equalStates(got, want) {
				t.Errorf("list states = %v, want %v\n%s", got, want, out)
			}
			for name, state := range want {
				out, code := lroctl(t, append(flags, "get", name)...)
				if code != 0 || !strings.Contains(out, "State:     "+state+"\n") {
					t.Errorf("get %s: want state %s\n%s", name, state, out)
				}
			}
			out, _ = lroctl(t, append(flags, "list", "--filter", "queued = true")...)
			if got := tableStates(out); !equalStates(got, map[string]string{queued.GetName(): "QUEUED"}) {
				t.Errorf("list --filter 'queued = true' states = %v, want only %s\n%s", got, queued.GetName(), out)
			}
		})
	}
}

// tableStates reads the NAME and STATE columns of lroctl list's table.
func tableStates(out string) map[string]string {
	states := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && strings.Contains(f[0], "operations/") {
			states[f[0]] = f[1]
		}
	}
	return states
}

func equalStates(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// queuedBackend is a backend whose list answers markQueued's calls.
type queuedBackend struct {
	backend // the methods markQueued does not call
	answer  func(filter string, pageSize int32) ([]*opView, error)
	filters []string
}

func (b *queuedBackend) list(_ context.Context, _, filter string, pageSize int32, _ string) ([]*opView, string, error) {
	b.filters = append(b.filters, filter)
	ops, err := b.answer(filter, pageSize)
	return ops, "", err
}

// TestMarkQueued: which operations show QUEUED for what the server
// answers, and how many calls it takes.
func TestMarkQueued(t *testing.T) {
	ops := func() []*opView {
		return []*opView{
			{Name: "operations/a"},
			{Name: "operations/b"},
			{Name: "operations/c", Done: true, Response: []byte(`{}`)},
			{Name: "operations/d", Done: true, Error: &statusView{Code: 1}},
		}
	}
	listed := func(names ...string) func(string, int32) ([]*opView, error) {
		return func(string, int32) ([]*opView, error) {
			var out []*opView
			for _, n := range names {
				out = append(out, &opView{Name: n})
			}
			return out, nil
		}
	}
	tests := []struct {
		name       string
		answer     func(string, int32) ([]*opView, error)
		wantStates []string // of a, b, c, d
		wantCalls  int
	}{
		{"one queued", listed("operations/b"), []string{"RUNNING", "QUEUED", "SUCCEEDED", "FAILED"}, 1},
		{"both queued", listed("operations/a", "operations/b"), []string{"QUEUED", "QUEUED", "SUCCEEDED", "FAILED"}, 1},
		{"none queued", listed(), []string{"RUNNING", "RUNNING", "SUCCEEDED", "FAILED"}, 1},
		{"server does not know queued", func(string, int32) ([]*opView, error) {
			return nil, status.Error(codes.InvalidArgument, `invalid filter: unknown field "queued"`)
		}, []string{"RUNNING", "RUNNING", "SUCCEEDED", "FAILED"}, 1},
		{"server down", func(string, int32) ([]*opView, error) {
			return nil, status.Error(codes.Unavailable, "connection refused")
		}, []string{"RUNNING", "RUNNING", "SUCCEEDED", "FAILED"}, 1},
		// A server that ignores the filter answers with other operations.
		{"filter ignored", listed("operations/a", "operations/b", "operations/c"), []string{"RUNNING", "RUNNING", "SUCCEEDED", "FAILED"}, 1},
		{"name not asked", listed("operations/b", "operations/z"), []string{"RUNNING", "RUNNING", "SUCCEEDED", "FAILED"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			be := &queuedBackend{answer: tc.answer}
			page := ops()
			markQueued(context.Background(), be, "operations", page)
			for i, o := range page {
				if got := o.state(); got != tc.wantStates[i] {
					t.Errorf("%s: state %s, want %s", o.Name, got, tc.wantStates[i])
				}
			}
			if len(be.filters) != tc.wantCalls {
				t.Errorf("%d calls (%q), want %d", len(be.filters), be.filters, tc.wantCalls)
			}
			if want := `queued = true AND (name = "operations/a" OR name = "operations/b")`; len(be.filters) > 0 && be.filters[0] != want {
				t.Errorf("filter %q, want %q", be.filters[0], want)
			}
		})
	}

	t.Run("all done", func(t *testing.T) {
		be := &queuedBackend{answer: func(string, int32) ([]*opView, error) { return nil, errors.New("unexpected call") }}
		markQueued(context.Background(), be, "operations", ops()[2:])
		if len(be.filters) != 0 {
			t.Errorf("%d calls for a page of finished operations, want none", len(be.filters))
		}
	})
}

// TestQueuedFilters: a default page of 50 operations takes one filter;
// names beyond one filter's length go to the next; every filter fits the
// server's limit and names each operation once; names are quoted.
func TestQueuedFilters(t *testing.T) {
	names := func(n, size int) []string {
		out := make([]string, n)
		for i := range out {
			id := fmt.Sprintf("%0*d", size, i)
			out[i] = "projects/p/locations/l/operations/" + id
		}
		return out
	}
	tests := []struct {
		name        string
		names       []string
		wantFilters int
	}{
		{"none", nil, 0},
		{"one", []string{"operations/a"}, 1},
		{"a default page of 50", names(50, 26), 1},
		{"a page of 500", names(500, 26), 10},
		{"a name too long for any filter", []string{strings.Repeat("x", maxFilterBytes)}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := queuedFilters(tc.names)
			if len(got) != tc.wantFilters {
				t.Fatalf("%d filters, want %d", len(got), tc.wantFilters)
			}
			var all []string
			for _, q := range got {
				if len(q.filter) > maxFilterBytes {
					t.Errorf("filter of %d bytes, over %d", len(q.filter), maxFilterBytes)
				}
				if !strings.HasPrefix(q.filter, "queued = true AND (") || strings.Count(q.filter, "name = ") != len(q.names) {
					t.Errorf("filter %.80q… does not name its %d operations", q.filter, len(q.names))
				}
				all = append(all, q.names...)
			}
			if tc.wantFilters > 0 && strings.Join(all, ",") != strings.Join(tc.names, ",") {
				t.Errorf("filters name %d operations, want the %d given, in order", len(all), len(tc.names))
			}
		})
	}
}

func TestQuoteFilter(t *testing.T) {
	tests := map[string]string{
		"operations/abc":   `"operations/abc"`,
		`operations/a"b`:   `"operations/a\"b"`,
		`operations/a\b`:   `"operations/a\\b"`,
		"operations/a*":    `"operations/a\*"`,
		"operations/a\n\t": `"operations/a\n\t"`,
	}
	for in, want := range tests {
		if got := quoteFilter(in); got != want {
			t.Errorf("quoteFilter(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestCollectionOf(t *testing.T) {
	tests := map[string]string{
		"operations/abc":                       "operations",
		"projects/p/locations/l/operations/ab": "projects/p/locations/l/operations",
		"abc":                                  "",
	}
	for in, want := range tests {
		if got := collectionOf(in); got != want {
			t.Errorf("collectionOf(%q) = %q, want %q", in, got, want)
		}
	}
}
