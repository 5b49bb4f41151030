package lrotest

import (
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lrokit/lro"
)

// Fixtures and checks shared by the cases of the suite.

// Epoch is the fixed instant the suite's records are created around. It has
// microsecond precision, which is what database backends keep.
var Epoch = time.Date(2026, time.March, 14, 15, 9, 26, 535897000, time.UTC)

// WatchTimeout is how long the suite waits for a Watch notification before
// it fails. It is generous so that stores which deliver notifications late
// (see lro.Poller) pass.
const WatchTimeout = 10 * time.Second

// NewRecord returns the record of a running operation named name, created
// and last updated at created. Its Parent is the part of name before
// "/operations/", or "" for a top-level "operations/{id}"; every other
// field is zero.
func NewRecord(name string, created time.Time) *lro.Record {
	return &lro.Record{
		Operation:  &longrunningpb.Operation{Name: name},
		Parent:     parentOf(name),
		CreateTime: created,
		UpdateTime: created,
	}
}

// CmpOptions returns the go-cmp options the suite compares records with:
// protocol buffer messages are compared by value (protocmp.Transform) and
// Record.Version, which the store assigns, is ignored. Times are compared
// with time.Time.Equal, so a backend may return them in any location.
func CmpOptions() cmp.Options {
	return cmp.Options{
		protocmp.Transform(),
		cmpopts.IgnoreFields(lro.Record{}, "Version"),
	}
}

// parentOf returns the parent part of an operation name.
func parentOf(name string) string {
	if i := strings.LastIndex(name, "/operations/"); i >= 0 {
		return name[:i]
	}
	return ""
}

// at returns Epoch plus d.
func at(d time.Duration) time.Time { return Epoch.Add(d) }

// mustAny packs m into an Any.
func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatalf("anypb.New(%T): %v", m, err)
	}
	return a
}

// fullRecord returns a running record with every field set.
func fullRecord(t *testing.T, name string, created time.Time) *lro.Record {
	t.Helper()
	r := NewRecord(name, created)
	r.Operation.Metadata = mustAny(t, wrapperspb.String("metadata of "+name))
	r.UpdateTime = created.Add(1500 * time.Microsecond)
	r.RequestID = "request-" + name
	r.Owner = "owner-1"
	r.LeaseExpireTime = created.Add(30 * time.Second)
	r.Kind = "lrotest.kind"
	r.Request = mustAny(t, &longrunningpb.GetOperationRequest{Name: "request of " + name})
	r.Attempt = 1
	r.StartTime = created.Add(2 * time.Millisecond)
	r.Deadline = created.Add(time.Hour)
	r.RunAfter = created.Add(time.Minute)
	r.TraceParent = TraceParent
	return r
}

// TraceParent is the Record.TraceParent of the suite's records: a store
// keeps it as written, through every write and claim, and gives it back
// with every record it returns.
const TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// finish marks r done with a response and the given expire time.
func finish(t *testing.T, r *lro.Record, expire time.Time) *lro.Record {
	t.Helper()
	r.Operation.Done = true
	r.Operation.Result = &longrunningpb.Operation_Response{
		Response: mustAny(t, wrapperspb.Int64(42)),
	}
	r.ExpireTime = expire
	return r
}

// create creates rec and fails the test unless it was created.
func create(t *testing.T, s lro.Store, rec *lro.Record) *lro.Record {
	t.Helper()
	got, created, err := s.Create(t.Context(), rec)
	if err != nil {
		t.Fatalf("Create(%q): %v", rec.Operation.GetName(), err)
	}
	if !created {
		t.Fatalf("Create(%q): created = false, want true", rec.Operation.GetName())
	}
	if got == nil {
		t.Fatalf("Create(%q) returned a nil record", rec.Operation.GetName())
	}
	return got
}

// get returns the named record and fails the test if it is missing.
func get(t *testing.T, s lro.Store, name string) *lro.Record {
	t.Helper()
	got, err := s.Get(t.Context(), name)
	if err != nil {
		t.Fatalf("Get(%q): %v", name, err)
	}
	if got == nil {
		t.Fatalf("Get(%q) returned a nil record", name)
	}
	return got
}

// update runs Update and fails the test on error.
func update(t *testing.T, s lro.Store, name string, fn func(*lro.Record)) *lro.Record {
	t.Helper()
	got, err := s.Update(t.Context(), name, func(r *lro.Record) error {
		fn(r)
		return nil
	})
	if err != nil {
		t.Fatalf("Update(%q): %v", name, err)
	}
	if got == nil {
		t.Fatalf("Update(%q) returned a nil record", name)
	}
	return got
}

// list runs List, fails the test on error, checks the result against the
// contract (see checkListResult) and returns its records.
func list(t *testing.T, s lro.Store, q lro.ListQuery) []*lro.Record {
	t.Helper()
	return listResult(t, s, q).Records
}

// wantNotFound fails the test unless Get reports ErrNotFound for name.
func wantNotFound(t *testing.T, s lro.Store, name string) {
	t.Helper()
	got, err := s.Get(t.Context(), name)
	if !errors.Is(err, lro.ErrNotFound) {
		t.Fatalf("Get(%q) = %v, %v; want error %v", name, got, err, lro.ErrNotFound)
	}
}

// wantRecord fails the test unless got equals want (Version aside).
func wantRecord(t *testing.T, what string, got, want *lro.Record) {
	t.Helper()
	if diff := cmp.Diff(want, got, CmpOptions()); diff != "" {
		t.Fatalf("%s: record mismatch (-want +got):\n%s", what, diff)
	}
}

// wantSame fails the test unless got equals want, Version included.
func wantSame(t *testing.T, what string, got, want *lro.Record) {
	t.Helper()
	wantRecord(t, what, got, want)
	if got.Version != want.Version {
		t.Fatalf("%s: Version = %d, want %d", what, got.Version, want.Version)
	}
}

// names returns the names of recs in order.
func names(recs []*lro.Record) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.Operation.GetName())
	}
	return out
}

// wantNames fails the test unless recs have exactly the given names, in
// order.
func wantNames(t *testing.T, what string, recs []*lro.Record, want []string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if diff := cmp.Diff(want, names(recs)); diff != "" {
		t.Errorf("%s: names mismatch (-want +got):\n%s", what, diff)
	}
}

// listLess reports whether a comes before b in List order: newest
// CreateTime first, ties by ascending Name.
func listLess(a, b *lro.Record) bool {
	if !a.CreateTime.Equal(b.CreateTime) {
		return a.CreateTime.After(b.CreateTime)
	}
	return a.Operation.GetName() < b.Operation.GetName()
}

// sortedNames returns the names of recs sorted in List order.
func sortedNames(recs []*lro.Record) []string {
	s := slices.Clone(recs)
	sort.Slice(s, func(i, j int) bool { return listLess(s[i], s[j]) })
	return names(s)
}

// cursorOf returns the List position of r.
func cursorOf(r *lro.Record) *lro.Cursor {
	return &lro.Cursor{CreateTime: r.CreateTime, Name: r.Operation.GetName()}
}
