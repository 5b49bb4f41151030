package lrotest

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lrokit/lro"
)

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

// TestStore runs the conformance suite for lro.Store implementations. Every
// case is a subtest that gets a new, empty store from newStore; newStore
// should register any cleanup it needs with t.Cleanup.
func TestStore(t *testing.T, newStore func(t *testing.T) lro.Store) {
	t.Helper()
	groups := []struct {
		name  string
		cases []storeCase
	}{
		{"Create", []storeCase{
			{"ReturnsStoredCopy", testCreateReturnsStored},
			{"MinimalRecord", testCreateMinimal},
			{"AlreadyExists", testCreateAlreadyExists},
			{"RequestIDDedupe", testCreateRequestIDDedupe},
			{"RequestIDPerParent", testCreateRequestIDPerParent},
			{"EmptyRequestIDNeverDedupes", testCreateEmptyRequestID},
			{"RequestIDFreedByDelete", testCreateRequestIDFreedByDelete},
			{"ConcurrentRequestID", testCreateConcurrentRequestID},
			{"ConcurrentSameName", testCreateConcurrentSameName},
		}},
		{"Copies", []storeCase{
			{"CreateInput", testCopiesCreateInput},
			{"Returned", testCopiesReturned},
		}},
		{"Get", []storeCase{
			{"NotFound", testGetNotFound},
		}},
		{"Update", []storeCase{
			{"Persists", testUpdatePersists},
			{"FnError", testUpdateFnError},
			{"NotFound", testUpdateNotFound},
			{"Concurrent", testUpdateConcurrent},
		}},
		{"Delete", []storeCase{
			{"Removes", testDeleteRemoves},
			{"NotFound", testDeleteNotFound},
		}},
		{"List", []storeCase{
			{"Order", testListOrder},
			{"TiesByteOrder", testListTiesByteOrder},
			{"Parent", testListParent},
			{"After", testListAfter},
			{"Limit", testListLimit},
			{"Match", testListMatch},
			{"Done", testListDone},
			{"AfterUpdate", testListAfterUpdate},
			{"KeysetPaging", testListKeyset},
		}},
		{"DeleteExpired", []storeCase{
			{"Selects", testDeleteExpiredSelects},
			{"Limit", testDeleteExpiredLimit},
			{"AfterUpdate", testDeleteExpiredAfterUpdate},
		}},
		{"RenewLeases", []storeCase{
			{"Selects", testRenewLeases},
			{"AfterUpdate", testRenewLeasesAfterUpdate},
		}},
		{"ClaimExpired", []storeCase{
			{"Selects", testClaimExpiredSelects},
			{"Limit", testClaimExpiredLimit},
			{"AfterUpdate", testClaimExpiredAfterUpdate},
			{"Concurrent", testClaimExpiredConcurrent},
		}},
		{"Watch", []storeCase{
			{"UpdateAndDelete", testWatchUpdateAndDelete},
			{"Stop", testWatchStop},
			{"OtherNames", testWatchOtherNames},
			{"DeleteExpired", testWatchDeleteExpired},
		}},
		// Optional interfaces: checked when the store implements them.
		{"Finisher", []storeCase{
			{"Finishes", testFinisher},
			{"Refuses", testFinisherRefuses},
			{"Concurrent", testFinisherConcurrent},
		}},
		{"CancelRequestLister", []storeCase{
			{"Selects", testCancelRequestLister},
		}},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					c.run(t, newStore(t))
				})
			}
		})
	}
}

// storeCase is one conformance check run against a fresh store.
type storeCase struct {
	name string
	run  func(t *testing.T, s lro.Store)
}

// ---------------------------------------------------------------------------
// Helpers.

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
	return r
}

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

// list runs List and fails the test on error.
func list(t *testing.T, s lro.Store, q lro.ListQuery) []*lro.Record {
	t.Helper()
	got, err := s.List(t.Context(), q)
	if err != nil {
		t.Fatalf("List(%+v): %v", q, err)
	}
	return got
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

// ---------------------------------------------------------------------------
// Create.

func testCreateReturnsStored(t *testing.T, s lro.Store) {
	rec := fullRecord(t, "projects/p/operations/full", at(0))
	want := rec.Clone()
	stored := create(t, s, rec)
	if stored == rec || stored.Operation == rec.Operation {
		t.Errorf("Create returned the record it was given, want a copy")
	}
	wantRecord(t, "Create result", stored, want)
	wantSame(t, "Get after Create", get(t, s, "projects/p/operations/full"), stored)

	// A done operation with an error result round-trips too.
	done := fullRecord(t, "operations/failed", at(time.Second))
	done.Operation.Done = true
	done.Operation.Result = &longrunningpb.Operation_Error{Error: &status.Status{
		Code:    5,
		Message: "not found",
		Details: []*anypb.Any{mustAny(t, wrapperspb.Bool(true))},
	}}
	done.ExpireTime = at(time.Hour)
	done.CancelRequested = true
	want = done.Clone()
	stored = create(t, s, done)
	wantRecord(t, "Create result (done)", stored, want)
	wantSame(t, "Get after Create (done)", get(t, s, "operations/failed"), stored)
}

func testCreateMinimal(t *testing.T, s lro.Store) {
	rec := NewRecord("operations/minimal", at(0))
	want := rec.Clone()
	stored := create(t, s, rec)
	wantRecord(t, "Create result", stored, want)
	got := get(t, s, "operations/minimal")
	wantSame(t, "Get after Create", got, stored)
	for _, z := range []struct {
		field string
		v     time.Time
	}{{"ExpireTime", got.ExpireTime}, {"LeaseExpireTime", got.LeaseExpireTime}} {
		if !z.v.IsZero() {
			t.Errorf("%s = %v, want the zero time", z.field, z.v)
		}
	}
}

func testCreateAlreadyExists(t *testing.T, s lro.Store) {
	const name = "projects/p/operations/dup"
	first := create(t, s, NewRecord(name, at(0)))

	for _, tc := range []struct {
		desc string
		rec  *lro.Record
	}{
		{"no request id", NewRecord(name, at(time.Second))},
		{"new request id", func() *lro.Record {
			r := NewRecord(name, at(time.Second))
			r.RequestID = "other"
			return r
		}()},
	} {
		got, created, err := s.Create(t.Context(), tc.rec)
		if !errors.Is(err, lro.ErrAlreadyExists) {
			t.Errorf("second Create(%q) with %s = %v, %v, %v; want error %v",
				name, tc.desc, got, created, err, lro.ErrAlreadyExists)
		}
	}
	wantSame(t, "Get after failed Creates", get(t, s, name), first)
}

func testCreateRequestIDDedupe(t *testing.T, s lro.Store) {
	const parent = "projects/p/locations/l"
	r1 := NewRecord(parent+"/operations/one", at(0))
	r1.RequestID = "req-1"
	r1.Operation.Metadata = mustAny(t, wrapperspb.String("first"))
	first := create(t, s, r1)

	r2 := NewRecord(parent+"/operations/two", at(time.Second))
	r2.RequestID = "req-1"
	r2.Operation.Metadata = mustAny(t, wrapperspb.String("second"))
	got, created, err := s.Create(t.Context(), r2)
	if err != nil {
		t.Fatalf("Create with a known request id: %v", err)
	}
	if created {
		t.Errorf("Create with a known request id: created = true, want false")
	}
	wantSame(t, "Create with a known request id", got, first)
	wantNotFound(t, s, parent+"/operations/two")

	// A retry of the very same record is answered the same way.
	got, created, err = s.Create(t.Context(), r1.Clone())
	if err != nil || created {
		t.Fatalf("Create retrying the same record = created %v, err %v; want false, nil", created, err)
	}
	wantSame(t, "Create retrying the same record", got, first)

	// The dedupe holds once the operation is done.
	done := update(t, s, r1.Operation.Name, func(r *lro.Record) { finish(t, r, at(time.Hour)) })
	r3 := NewRecord(parent+"/operations/three", at(2*time.Second))
	r3.RequestID = "req-1"
	got, created, err = s.Create(t.Context(), r3)
	if err != nil || created {
		t.Fatalf("Create with the request id of a done operation = created %v, err %v; want false, nil", created, err)
	}
	wantSame(t, "Create with the request id of a done operation", got, done)
	wantNotFound(t, s, parent+"/operations/three")

	all := list(t, s, lro.ListQuery{AllParents: true, Limit: 10})
	wantNames(t, "List after deduped Creates", all, []string{parent + "/operations/one"})
}

func testCreateRequestIDPerParent(t *testing.T, s lro.Store) {
	recs := []*lro.Record{
		NewRecord("projects/a/operations/x", at(0)),
		NewRecord("projects/b/operations/x", at(0)),
		NewRecord("projects/a/locations/l/operations/x", at(0)),
		NewRecord("operations/x", at(0)),
	}
	for _, r := range recs {
		r.RequestID = "shared"
		create(t, s, r)
	}
	// Each parent now dedupes to its own record.
	for i, r := range recs {
		again := NewRecord(strings.TrimPrefix(r.Parent+"/operations/again", "/"), at(time.Second))
		again.RequestID = "shared"
		got, created, err := s.Create(t.Context(), again)
		if err != nil || created {
			t.Fatalf("Create in parent %q with a known request id = created %v, err %v; want false, nil", r.Parent, created, err)
		}
		if got.Operation.GetName() != recs[i].Operation.Name {
			t.Errorf("Create in parent %q with a known request id returned %q, want %q",
				r.Parent, got.Operation.GetName(), recs[i].Operation.Name)
		}
	}
}

func testCreateEmptyRequestID(t *testing.T, s lro.Store) {
	for _, name := range []string{"projects/p/operations/a", "projects/p/operations/b", "operations/a", "operations/b"} {
		create(t, s, NewRecord(name, at(0)))
	}
	all := list(t, s, lro.ListQuery{AllParents: true, Limit: 10})
	if len(all) != 4 {
		t.Errorf("List after four Creates without request id = %v, want 4 records", names(all))
	}
}

func testCreateRequestIDFreedByDelete(t *testing.T, s lro.Store) {
	r1 := NewRecord("projects/p/operations/one", at(0))
	r1.RequestID = "req"
	create(t, s, r1)
	if err := s.Delete(t.Context(), r1.Operation.Name); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	r2 := NewRecord("projects/p/operations/two", at(time.Second))
	r2.RequestID = "req"
	create(t, s, r2)
	// The name of the deleted record can be used again too.
	create(t, s, NewRecord("projects/p/operations/one", at(2*time.Second)))
}

func testCreateConcurrentRequestID(t *testing.T, s lro.Store) {
	const n = 16
	type result struct {
		name    string
		created bool
		err     error
	}
	results := make([]result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := NewRecord(fmt.Sprintf("projects/p/operations/c%02d", i), at(time.Duration(i)*time.Microsecond))
			r.RequestID = "same-request"
			<-start
			got, created, err := s.Create(t.Context(), r)
			results[i] = result{created: created, err: err}
			if got != nil {
				results[i].name = got.Operation.GetName()
			}
		})
	}
	close(start)
	wg.Wait()

	var winner string
	createdCount := 0
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("Create #%d: %v", i, r.err)
		}
		if r.created {
			createdCount++
			winner = r.name
		}
	}
	if createdCount != 1 {
		t.Fatalf("%d of %d concurrent Creates with one request id created a record, want exactly 1", createdCount, n)
	}
	for i, r := range results {
		if r.name != winner {
			t.Errorf("Create #%d returned %q, want the created %q", i, r.name, winner)
		}
	}
	get(t, s, winner)
	all := list(t, s, lro.ListQuery{AllParents: true, Limit: 2 * n})
	wantNames(t, "List after concurrent Creates", all, []string{winner})
}

func testCreateConcurrentSameName(t *testing.T, s lro.Store) {
	const n = 16
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := NewRecord("projects/p/operations/same", at(0))
			r.Attempt = int32(i)
			<-start
			_, _, errs[i] = s.Create(t.Context(), r)
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, lro.ErrAlreadyExists):
			t.Errorf("Create #%d: %v, want nil or %v", i, err, lro.ErrAlreadyExists)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent Creates of one name succeeded, want exactly 1", ok, n)
	}
}

// ---------------------------------------------------------------------------
// Copies.

// scribble changes every field of r in place, the messages it points to
// included.
func scribble(r *lro.Record) {
	op := r.Operation
	op.Name += "-changed"
	op.Done = !op.Done
	if md := op.GetMetadata(); md != nil {
		md.TypeUrl += "x"
		if len(md.Value) > 0 {
			md.Value[0] ^= 0xff
		}
	}
	if resp := op.GetResponse(); resp != nil && len(resp.Value) > 0 {
		resp.Value[0] ^= 0xff
	}
	r.Parent += "/changed"
	r.CreateTime = r.CreateTime.Add(time.Hour)
	r.UpdateTime = r.UpdateTime.Add(time.Hour)
	r.ExpireTime = r.ExpireTime.Add(time.Hour)
	r.RequestID += "-changed"
	r.CancelRequested = !r.CancelRequested
	r.Owner += "-changed"
	r.LeaseExpireTime = r.LeaseExpireTime.Add(time.Hour)
	r.Kind += "-changed"
	if r.Request != nil {
		r.Request.TypeUrl += "x"
		if len(r.Request.Value) > 0 {
			r.Request.Value[0] ^= 0xff
		}
	}
	r.Attempt += 7
	r.Version += 100
}

func testCopiesCreateInput(t *testing.T, s lro.Store) {
	rec := fullRecord(t, "projects/p/operations/input", at(0))
	want := rec.Clone()
	stored := create(t, s, rec)
	scribble(rec)
	wantSame(t, "Get after changing the record given to Create", get(t, s, "projects/p/operations/input"), stored)
	wantRecord(t, "Get after changing the record given to Create", stored, want)
}

func testCopiesReturned(t *testing.T, s lro.Store) {
	const name = "projects/p/operations/returned"
	for _, tc := range []struct {
		desc string
		// obtain returns a record the store handed out.
		obtain func(t *testing.T) *lro.Record
	}{
		{"Create result", func(t *testing.T) *lro.Record {
			return create(t, s, fullRecord(t, name, at(0)))
		}},
		{"Create result for a known request id", func(t *testing.T) *lro.Record {
			r := fullRecord(t, "projects/p/operations/other", at(time.Second))
			r.RequestID = "request-" + name
			got, _, err := s.Create(t.Context(), r)
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			return got
		}},
		{"Get result", func(t *testing.T) *lro.Record { return get(t, s, name) }},
		{"Update result", func(t *testing.T) *lro.Record {
			return update(t, s, name, func(r *lro.Record) { r.Attempt++ })
		}},
		{"record passed to the Update function", func(t *testing.T) *lro.Record {
			var kept *lro.Record
			update(t, s, name, func(r *lro.Record) { r.Attempt++; kept = r })
			return kept
		}},
		{"List result", func(t *testing.T) *lro.Record {
			recs := list(t, s, lro.ListQuery{AllParents: true, Limit: 1})
			if len(recs) != 1 {
				t.Fatalf("List = %v, want 1 record", names(recs))
			}
			return recs[0]
		}},
		{"ClaimExpired result", func(t *testing.T) *lro.Record {
			recs, err := s.ClaimExpired(t.Context(), lro.ClaimParams{Owner: "owner-2", Now: at(time.Hour), LeaseExpireTime: at(2 * time.Hour), Limit: 10})
			if err != nil {
				t.Fatalf("ClaimExpired: %v", err)
			}
			if len(recs) != 1 {
				t.Fatalf("ClaimExpired = %v, want 1 record", names(recs))
			}
			return recs[0]
		}},
	} {
		r := tc.obtain(t)
		want := get(t, s, name)
		scribble(r)
		got := get(t, s, name)
		wantRecord(t, "Get after changing the "+tc.desc, got, want)
	}
}

// ---------------------------------------------------------------------------
// Get, Update, Delete.

func testGetNotFound(t *testing.T, s lro.Store) {
	wantNotFound(t, s, "operations/unknown")
	create(t, s, NewRecord("projects/p/operations/known", at(0)))
	wantNotFound(t, s, "projects/p/operations/unknown")
	wantNotFound(t, s, "projects/p/operations/know")
	wantNotFound(t, s, "operations/known")
}

func testUpdatePersists(t *testing.T, s lro.Store) {
	const name = "projects/p/operations/upd"
	created := create(t, s, fullRecord(t, name, at(0)))

	steps := []struct {
		desc   string
		change func(r *lro.Record)
	}{
		{"metadata", func(r *lro.Record) {
			r.Operation.Metadata = mustAny(t, wrapperspb.String("progress 50%"))
			r.UpdateTime = at(time.Minute)
		}},
		{"cancel and lease", func(r *lro.Record) {
			r.CancelRequested = true
			r.Owner = "owner-2"
			r.LeaseExpireTime = at(time.Hour)
			r.Attempt = 2
		}},
		{"done", func(r *lro.Record) {
			finish(t, r, at(24*time.Hour))
			r.UpdateTime = at(2 * time.Minute)
		}},
	}
	prev := created
	for _, st := range steps {
		var seen *lro.Record // what the first call of fn saw
		want := prev.Clone()
		st.change(want)
		got, err := s.Update(t.Context(), name, func(r *lro.Record) error {
			if seen == nil {
				seen = r.Clone()
			}
			st.change(r)
			return nil
		})
		if err != nil {
			t.Fatalf("Update (%s): %v", st.desc, err)
		}
		if seen == nil {
			t.Fatalf("Update (%s) did not call its function", st.desc)
		}
		wantSame(t, st.desc+": record passed to the Update function", seen, prev)
		wantRecord(t, "Update result ("+st.desc+")", got, want)
		if got.Version <= prev.Version {
			t.Errorf("Update (%s): Version = %d, want more than the previous %d", st.desc, got.Version, prev.Version)
		}
		wantSame(t, "Get after Update ("+st.desc+")", get(t, s, name), got)
		prev = got
	}

	// An update that changes nothing is still a write.
	got := update(t, s, name, func(*lro.Record) {})
	if got.Version <= prev.Version {
		t.Errorf("Update without changes: Version = %d, want more than %d", got.Version, prev.Version)
	}
}

func testUpdateFnError(t *testing.T, s lro.Store) {
	const name = "projects/p/operations/upd"
	before := create(t, s, fullRecord(t, name, at(0)))
	errBoom := errors.New("boom")
	got, err := s.Update(t.Context(), name, func(r *lro.Record) error {
		scribble(r)
		r.Operation.Name = name
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update with a failing function = %v, %v; want error %v", got, err, errBoom)
	}
	wantSame(t, "Get after a failed Update", get(t, s, name), before)
}

func testUpdateNotFound(t *testing.T, s lro.Store) {
	create(t, s, NewRecord("projects/p/operations/known", at(0)))
	called := false
	got, err := s.Update(t.Context(), "projects/p/operations/unknown", func(*lro.Record) error {
		called = true
		return nil
	})
	if !errors.Is(err, lro.ErrNotFound) {
		t.Fatalf("Update of an unknown name = %v, %v; want error %v", got, err, lro.ErrNotFound)
	}
	if called {
		t.Errorf("Update of an unknown name called its function")
	}
	wantNotFound(t, s, "projects/p/operations/unknown")
}

func testUpdateConcurrent(t *testing.T, s lro.Store) {
	const (
		name       = "projects/p/operations/counter"
		goroutines = 32
		increments = 20
	)
	created := create(t, s, NewRecord(name, at(0)))
	versions := make([][]int64, goroutines)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			<-start
			for range increments {
				got, err := s.Update(t.Context(), name, func(r *lro.Record) error {
					r.Attempt++
					return nil
				})
				if err != nil {
					t.Errorf("Update: %v", err)
					return
				}
				versions[g] = append(versions[g], got.Version)
			}
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}

	final := get(t, s, name)
	if final.Attempt != goroutines*increments {
		t.Errorf("counter after %d concurrent increments = %d; updates were lost", goroutines*increments, final.Attempt)
	}
	seen := map[int64]bool{}
	var maxVersion int64
	for _, vs := range versions {
		for i, v := range vs {
			if seen[v] {
				t.Errorf("two Updates returned Version %d", v)
			}
			seen[v] = true
			if v <= created.Version {
				t.Errorf("Update returned Version %d, want more than the created %d", v, created.Version)
			}
			if i > 0 && v <= vs[i-1] {
				t.Errorf("sequential Updates returned Versions %d then %d, want growth", vs[i-1], v)
			}
			maxVersion = max(maxVersion, v)
		}
	}
	if final.Version != maxVersion {
		t.Errorf("Get after the Updates: Version = %d, want the last one written, %d", final.Version, maxVersion)
	}
}

func testDeleteRemoves(t *testing.T, s lro.Store) {
	const name = "projects/p/operations/del"
	create(t, s, NewRecord(name, at(0)))
	create(t, s, NewRecord("projects/p/operations/keep", at(time.Second)))
	if err := s.Delete(t.Context(), name); err != nil {
		t.Fatalf("Delete(%q): %v", name, err)
	}
	wantNotFound(t, s, name)
	wantNames(t, "List after Delete", list(t, s, lro.ListQuery{AllParents: true, Limit: 10}),
		[]string{"projects/p/operations/keep"})
	if err := s.Delete(t.Context(), name); !errors.Is(err, lro.ErrNotFound) {
		t.Errorf("second Delete(%q) = %v, want %v", name, err, lro.ErrNotFound)
	}
}

func testDeleteNotFound(t *testing.T, s lro.Store) {
	if err := s.Delete(t.Context(), "operations/unknown"); !errors.Is(err, lro.ErrNotFound) {
		t.Errorf("Delete of an unknown name = %v, want %v", err, lro.ErrNotFound)
	}
}

// ---------------------------------------------------------------------------
// List.

func testListOrder(t *testing.T, s lro.Store) {
	recs := []*lro.Record{
		NewRecord("projects/a/operations/c", at(2*time.Second)),
		NewRecord("projects/a/operations/b", at(time.Second)),
		NewRecord("projects/b/operations/d", at(3*time.Second)),
		NewRecord("projects/a/locations/x/operations/e", at(0)),
		NewRecord("operations/z", at(time.Second)),
		NewRecord("projects/a/operations/a", at(time.Second)),
		NewRecord("projects/a/operations/f", at(time.Second+time.Microsecond)),
	}
	for _, r := range recs {
		create(t, s, r)
	}
	want := []string{
		"projects/b/operations/d",
		"projects/a/operations/c",
		"projects/a/operations/f",
		"operations/z",
		"projects/a/operations/a",
		"projects/a/operations/b",
		"projects/a/locations/x/operations/e",
	}
	wantNames(t, "List of all parents", list(t, s, lro.ListQuery{AllParents: true, Limit: 100}), want)
	wantNames(t, "List of projects/a", list(t, s, lro.ListQuery{Parent: "projects/a", Limit: 100}), []string{
		"projects/a/operations/c",
		"projects/a/operations/f",
		"projects/a/operations/a",
		"projects/a/operations/b",
	})
}

func testListTiesByteOrder(t *testing.T, s lro.Store) {
	// Operation ids are URL-safe and mix cases; ties must be broken by
	// byte order (as lro.Cursor does), not by a locale's collation.
	ids := []string{"abc", "a_b", "Zed", "ab", "a-b", "AB", "a", "_x", "-x", "9"}
	var recs []*lro.Record
	for _, id := range ids {
		recs = append(recs, create(t, s, NewRecord("projects/p/operations/"+id, at(0))))
	}
	want := sortedNames(recs)
	got := list(t, s, lro.ListQuery{Parent: "projects/p", Limit: 100})
	wantNames(t, "List of names with equal CreateTime", got, want)

	// Paging one record at a time visits the same order.
	var paged []*lro.Record
	var after *lro.Cursor
	for range len(ids) + 1 {
		page := list(t, s, lro.ListQuery{Parent: "projects/p", Limit: 1, After: after})
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		after = cursorOf(page[len(page)-1])
	}
	wantNames(t, "paging one by one through names with equal CreateTime", paged, want)
}

func testListParent(t *testing.T, s lro.Store) {
	// Index order is List order: each record is older than the one before.
	all := []string{
		"operations/top",
		"projects/a/operations/1",
		"projects/ab/operations/2",
		"projects/a/locations/b/operations/3",
		"projects/c/locations/d/operations/4",
		"projects/a/locations/b/zones/z/operations/5",
		"folders/a/locations/b/operations/6",
		"projects/a/locations/c/operations/7",
		"operations/top2",
	}
	for i, name := range all {
		create(t, s, NewRecord(name, at(-time.Duration(i)*time.Second)))
	}
	for _, tc := range []struct {
		parent string
		want   []string
	}{
		{"", []string{"operations/top", "operations/top2"}},
		{"projects/a", []string{"projects/a/operations/1"}},
		{"projects/ab", []string{"projects/ab/operations/2"}},
		{"projects/a/locations/b", []string{"projects/a/locations/b/operations/3"}},
		{"projects/-", []string{"projects/a/operations/1", "projects/ab/operations/2"}},
		{"projects/-/locations/-", []string{
			"projects/a/locations/b/operations/3",
			"projects/c/locations/d/operations/4",
			"projects/a/locations/c/operations/7",
		}},
		{"projects/a/locations/-", []string{
			"projects/a/locations/b/operations/3",
			"projects/a/locations/c/operations/7",
		}},
		{"-/-/locations/b", []string{
			"projects/a/locations/b/operations/3",
			"folders/a/locations/b/operations/6",
		}},
		{"projects/-/locations/d", []string{"projects/c/locations/d/operations/4"}},
		{"projects/-/locations/-/zones/-", []string{"projects/a/locations/b/zones/z/operations/5"}},
		{"projects/zzz", nil},
		{"projects", nil},
		{"projects/a/locations", nil},
		{"-", nil},
	} {
		got := list(t, s, lro.ListQuery{Parent: tc.parent, Limit: 100})
		wantNames(t, fmt.Sprintf("List of parent %q", tc.parent), got, tc.want)
	}
	wantNames(t, "List of all parents", list(t, s, lro.ListQuery{AllParents: true, Limit: 100}), all)
}

func testListAfter(t *testing.T, s lro.Store) {
	var recs []*lro.Record
	for i := range 10 {
		// Pairs share a CreateTime; names are not in time order.
		name := fmt.Sprintf("projects/p/operations/op%d", (i*7)%10)
		recs = append(recs, create(t, s, NewRecord(name, at(time.Duration(i/2)*time.Second))))
	}
	// A record in another parent must not leak into the listing.
	create(t, s, NewRecord("projects/q/operations/op5", at(time.Second)))
	order := sortedNames(recs)
	byName := map[string]*lro.Record{}
	for _, r := range recs {
		byName[r.Operation.GetName()] = r
	}

	for i, name := range order {
		got := list(t, s, lro.ListQuery{Parent: "projects/p", After: cursorOf(byName[name]), Limit: 100})
		wantNames(t, fmt.Sprintf("List after %q", name), got, order[i+1:])
	}
	for _, tc := range []struct {
		desc  string
		after lro.Cursor
		want  []string
	}{
		{"a time newer than all", lro.Cursor{CreateTime: at(time.Hour), Name: "a"}, order},
		{"a time older than all", lro.Cursor{CreateTime: at(-time.Hour), Name: "z"}, nil},
		{"a time between records", lro.Cursor{CreateTime: at(2500 * time.Millisecond), Name: "zzz"}, sortedNames(filterRecs(recs, func(r *lro.Record) bool {
			return r.CreateTime.Before(at(2500 * time.Millisecond))
		}))},
		{"a tie and a name between the pair", lro.Cursor{CreateTime: at(2 * time.Second), Name: "projects/p/operations/op3"}, sortedNames(filterRecs(recs, func(r *lro.Record) bool {
			return r.CreateTime.Before(at(2*time.Second)) ||
				r.CreateTime.Equal(at(2*time.Second)) && r.Operation.GetName() > "projects/p/operations/op3"
		}))},
		{"a tie and an empty name", lro.Cursor{CreateTime: at(2 * time.Second)}, sortedNames(filterRecs(recs, func(r *lro.Record) bool {
			return !r.CreateTime.After(at(2 * time.Second))
		}))},
	} {
		after := tc.after
		got := list(t, s, lro.ListQuery{Parent: "projects/p", After: &after, Limit: 100})
		wantNames(t, "List after "+tc.desc, got, tc.want)
	}
}

// filterRecs returns the records of recs that keep accepts.
func filterRecs(recs []*lro.Record, keep func(*lro.Record) bool) []*lro.Record {
	var out []*lro.Record
	for _, r := range recs {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

func testListLimit(t *testing.T, s lro.Store) {
	var recs []*lro.Record
	for i := range 10 {
		recs = append(recs, create(t, s, NewRecord(fmt.Sprintf("operations/op%02d", i), at(time.Duration(i)*time.Second))))
	}
	order := sortedNames(recs)
	for _, limit := range []int{1, 3, 9, 10, 11, 1000} {
		got := list(t, s, lro.ListQuery{AllParents: true, Limit: limit})
		wantNames(t, fmt.Sprintf("List with Limit %d", limit), got, order[:min(limit, len(order))])
		got = list(t, s, lro.ListQuery{Parent: "", Limit: limit, After: cursorOf(recs[7])})
		wantNames(t, fmt.Sprintf("List after the fourth record with Limit %d", limit), got, order[3:][:min(limit, 7)])
	}
}

func testListMatch(t *testing.T, s lro.Store) {
	// The 60 newest records do not match; then one in four does.
	var matching []*lro.Record
	for i := range 100 {
		r := NewRecord(fmt.Sprintf("projects/p/operations/m%03d", i), at(-time.Duration(i)*time.Millisecond))
		if i >= 60 && i%4 == 0 {
			r.Kind = "wanted"
			matching = append(matching, r)
		}
		create(t, s, r)
	}
	var calls atomic.Int64
	match := func(r *lro.Record) bool {
		calls.Add(1)
		return r.Kind == "wanted"
	}
	want := names(matching) // already in List order

	for _, tc := range []struct {
		desc string
		q    lro.ListQuery
		want []string
	}{
		{"Limit 3", lro.ListQuery{Parent: "projects/p", Match: match, Limit: 3}, want[:3]},
		{"Limit 3, all parents", lro.ListQuery{AllParents: true, Match: match, Limit: 3}, want[:3]},
		{"Limit 10", lro.ListQuery{Parent: "projects/p", Match: match, Limit: 10}, want},
		{"Limit 50", lro.ListQuery{Parent: "projects/p", Match: match, Limit: 50}, want},
		{"after the third match", lro.ListQuery{Parent: "projects/p", Match: match, Limit: 4, After: cursorOf(matching[2])}, want[3:7]},
		{"after the last match", lro.ListQuery{Parent: "projects/p", Match: match, Limit: 4, After: cursorOf(matching[9])}, nil},
		{"nothing matches", lro.ListQuery{Parent: "projects/p", Match: func(*lro.Record) bool { return false }, Limit: 5}, nil},
		{"other parent", lro.ListQuery{Parent: "projects/q", Match: match, Limit: 5}, nil},
	} {
		got := list(t, s, tc.q)
		wantNames(t, "List with Match, "+tc.desc, got, tc.want)
		for _, r := range got {
			if !tc.q.Match(r) {
				t.Errorf("List with Match, %s: returned %q, which Match rejects", tc.desc, r.Operation.GetName())
			}
		}
	}
	if calls.Load() == 0 {
		t.Errorf("List never called Match")
	}
}

func testListDone(t *testing.T, s lro.Store) {
	var all, done, running []string
	for i := range 8 {
		r := NewRecord(fmt.Sprintf("projects/p/operations/d%d", i), at(-time.Duration(i)*time.Second))
		if i%3 == 0 {
			finish(t, r, at(time.Hour))
			done = append(done, r.Operation.Name)
		} else {
			running = append(running, r.Operation.Name)
		}
		all = append(all, r.Operation.Name)
		create(t, s, r)
	}
	yes, no := true, false
	for _, tc := range []struct {
		desc string
		q    lro.ListQuery
		want []string
	}{
		{"Done true", lro.ListQuery{Parent: "projects/p", Done: &yes, Limit: 100}, done},
		{"Done false", lro.ListQuery{Parent: "projects/p", Done: &no, Limit: 100}, running},
		{"Done unset", lro.ListQuery{Parent: "projects/p", Limit: 100}, all},
		{"Done true, all parents, Limit 2", lro.ListQuery{AllParents: true, Done: &yes, Limit: 2}, done[:2]},
		{"Done false with Match", lro.ListQuery{Parent: "projects/p", Done: &no, Limit: 100, Match: func(r *lro.Record) bool {
			return r.Operation.GetName() != running[0]
		}}, running[1:]},
	} {
		wantNames(t, "List with "+tc.desc, list(t, s, tc.q), tc.want)
	}
}

func testListAfterUpdate(t *testing.T, s lro.Store) {
	// Updates change what List selects but never a record's position.
	for i := range 4 {
		create(t, s, NewRecord(fmt.Sprintf("projects/p/operations/u%d", i), at(-time.Duration(i)*time.Second)))
	}
	update(t, s, "projects/p/operations/u1", func(r *lro.Record) {
		finish(t, r, at(time.Hour))
		r.UpdateTime = at(time.Hour)
	})
	update(t, s, "projects/p/operations/u3", func(r *lro.Record) {
		r.Kind = "changed"
		r.UpdateTime = at(2 * time.Hour)
	})
	yes, no := true, false
	for _, tc := range []struct {
		desc string
		q    lro.ListQuery
		want []string
	}{
		{"all", lro.ListQuery{Parent: "projects/p", Limit: 10}, []string{
			"projects/p/operations/u0", "projects/p/operations/u1", "projects/p/operations/u2", "projects/p/operations/u3",
		}},
		{"Done true", lro.ListQuery{Parent: "projects/p", Done: &yes, Limit: 10}, []string{"projects/p/operations/u1"}},
		{"Done false", lro.ListQuery{Parent: "projects/p", Done: &no, Limit: 10}, []string{
			"projects/p/operations/u0", "projects/p/operations/u2", "projects/p/operations/u3",
		}},
		{"Match on the updated field", lro.ListQuery{AllParents: true, Limit: 10, Match: func(r *lro.Record) bool {
			return r.Kind == "changed"
		}}, []string{"projects/p/operations/u3"}},
	} {
		wantNames(t, "List after Updates, "+tc.desc, list(t, s, tc.q), tc.want)
	}
}

func testListKeyset(t *testing.T, s lro.Store) {
	const (
		parent   = "projects/keyset"
		pageSize = 5
		initial  = 40
	)
	prefix := parent + "/operations/"
	var originals []string
	throughout := map[string]bool{} // originals not deleted so far
	for i := range initial {
		// Threes share a CreateTime; names are not in time order.
		name := fmt.Sprintf("%sk%02d", prefix, (i*17)%initial)
		create(t, s, NewRecord(name, at(time.Duration(i/3)*time.Second)))
		originals = append(originals, name)
		throughout[name] = true
	}

	seen := map[string]int{}
	deletedUnseen := map[string]bool{}
	var seq []*lro.Record
	var after *lro.Cursor
	extra := 0
	for page := 0; ; page++ {
		if page > 3*initial {
			t.Fatalf("paging did not end after %d pages", page)
		}
		got := list(t, s, lro.ListQuery{Parent: parent, After: after, Limit: pageSize})
		for _, r := range got {
			name := r.Operation.GetName()
			seen[name]++
			if deletedUnseen[name] {
				t.Errorf("page %d returned %q, deleted before it was listed", page, name)
			}
		}
		seq = append(seq, got...)
		if len(got) < pageSize {
			break
		}
		last := got[len(got)-1]
		after = cursorOf(last)

		// Between pages: newer records, records tied with the cursor on
		// both sides of it, and deletions of listed and unlisted records.
		extra++
		create(t, s, NewRecord(fmt.Sprintf("%snew%03d", prefix, extra), at(time.Hour+time.Duration(extra)*time.Microsecond)))
		create(t, s, NewRecord(fmt.Sprintf("%sA%03d", prefix, extra), last.CreateTime))      // before the cursor
		create(t, s, NewRecord(last.Operation.GetName()+"~tie", last.CreateTime))            // after the cursor
		create(t, s, NewRecord(fmt.Sprintf("%snew-old%03d", prefix, extra), at(-time.Hour))) // far after the cursor
		if err := s.Delete(t.Context(), got[0].Operation.GetName()); err != nil {
			t.Fatalf("Delete(%q): %v", got[0].Operation.GetName(), err)
		}
		delete(throughout, got[0].Operation.GetName())
		for _, name := range originals {
			if throughout[name] && seen[name] == 0 {
				if err := s.Delete(t.Context(), name); err != nil {
					t.Fatalf("Delete(%q): %v", name, err)
				}
				delete(throughout, name)
				deletedUnseen[name] = true
				break
			}
		}
	}

	for name, n := range seen {
		if n > 1 {
			t.Errorf("paging returned %q %d times", name, n)
		}
	}
	for name := range throughout {
		if seen[name] == 0 {
			t.Errorf("paging skipped %q, which existed throughout", name)
		}
	}
	for i := 1; i < len(seq); i++ {
		if !listLess(seq[i-1], seq[i]) {
			t.Errorf("paging returned %q (%v) before %q (%v), out of List order",
				seq[i-1].Operation.GetName(), seq[i-1].CreateTime, seq[i].Operation.GetName(), seq[i].CreateTime)
		}
	}
}

// ---------------------------------------------------------------------------
// DeleteExpired, RenewLeases, ClaimExpired.

func testDeleteExpiredSelects(t *testing.T, s lro.Store) {
	now := at(time.Hour)
	recs := map[string]*lro.Record{
		"operations/done-before":    finish(t, NewRecord("operations/done-before", at(0)), now.Add(-time.Second)),
		"operations/done-at-now":    finish(t, NewRecord("operations/done-at-now", at(0)), now),
		"operations/done-after":     finish(t, NewRecord("operations/done-after", at(0)), now.Add(time.Microsecond)),
		"projects/p/operations/old": finish(t, NewRecord("projects/p/operations/old", at(0)), now.Add(-24*time.Hour)),
		"operations/running-past": func() *lro.Record {
			r := NewRecord("operations/running-past", at(0))
			r.ExpireTime = now.Add(-time.Second)
			return r
		}(),
		"operations/running": NewRecord("operations/running", at(0)),
	}
	stored := map[string]*lro.Record{}
	for name, r := range recs {
		stored[name] = create(t, s, r)
	}
	n, err := s.DeleteExpired(t.Context(), now, 100)
	if err != nil {
		t.Fatalf("DeleteExpired: %v", err)
	}
	if n != 3 {
		t.Errorf("DeleteExpired = %d, want 3", n)
	}
	for _, name := range []string{"operations/done-before", "operations/done-at-now", "projects/p/operations/old"} {
		wantNotFound(t, s, name)
	}
	for _, name := range []string{"operations/done-after", "operations/running-past", "operations/running"} {
		wantSame(t, "Get of a record DeleteExpired keeps", get(t, s, name), stored[name])
	}
	if n, err := s.DeleteExpired(t.Context(), now, 100); err != nil || n != 0 {
		t.Errorf("second DeleteExpired = %d, %v; want 0, nil", n, err)
	}
}

func testDeleteExpiredLimit(t *testing.T, s lro.Store) {
	now := at(time.Hour)
	for i := range 5 {
		create(t, s, finish(t, NewRecord(fmt.Sprintf("operations/e%d", i), at(time.Duration(i)*time.Second)), now.Add(-time.Duration(i)*time.Minute)))
	}
	create(t, s, finish(t, NewRecord("operations/later", at(0)), now.Add(time.Minute)))
	for i, tc := range []struct{ limit, want int }{{2, 2}, {2, 2}, {10, 1}, {10, 0}} {
		n, err := s.DeleteExpired(t.Context(), now, tc.limit)
		if err != nil {
			t.Fatalf("DeleteExpired #%d: %v", i, err)
		}
		if n != tc.want {
			t.Errorf("DeleteExpired #%d with limit %d = %d, want %d", i, tc.limit, n, tc.want)
		}
	}
	wantNames(t, "List after DeleteExpired", list(t, s, lro.ListQuery{AllParents: true, Limit: 10}), []string{"operations/later"})
}

func testDeleteExpiredAfterUpdate(t *testing.T, s lro.Store) {
	now := at(time.Hour)
	// Finished by Update: now expired.
	create(t, s, NewRecord("operations/finished", at(0)))
	update(t, s, "operations/finished", func(r *lro.Record) { finish(t, r, now.Add(-time.Second)) })
	// Created done and expired, then given more time by Update.
	create(t, s, finish(t, NewRecord("operations/extended", at(0)), now.Add(-time.Second)))
	extended := update(t, s, "operations/extended", func(r *lro.Record) { r.ExpireTime = now.Add(time.Hour) })
	// Created done with a later expiry, then brought forward by Update.
	create(t, s, finish(t, NewRecord("operations/shortened", at(0)), now.Add(time.Hour)))
	update(t, s, "operations/shortened", func(r *lro.Record) { r.ExpireTime = now.Add(-time.Minute) })

	n, err := s.DeleteExpired(t.Context(), now, 10)
	if err != nil {
		t.Fatalf("DeleteExpired: %v", err)
	}
	if n != 2 {
		t.Errorf("DeleteExpired = %d, want 2", n)
	}
	wantNotFound(t, s, "operations/finished")
	wantNotFound(t, s, "operations/shortened")
	wantSame(t, "Get of the record whose expiry Update moved later", get(t, s, "operations/extended"), extended)
}

func testRenewLeases(t *testing.T, s lro.Store) {
	until := at(time.Hour)
	mk := func(name, owner string, done bool) *lro.Record {
		r := fullRecord(t, name, at(0))
		r.RequestID = ""
		r.Owner = owner
		r.LeaseExpireTime = at(time.Minute)
		if done {
			finish(t, r, at(24*time.Hour))
		}
		return r
	}
	recs := []*lro.Record{
		mk("operations/a1", "owner-a", false),
		mk("projects/p/operations/a2", "owner-a", false),
		mk("operations/a-done", "owner-a", true),
		mk("operations/b", "owner-b", false),
		mk("operations/none", "", false),
	}
	stored := map[string]*lro.Record{}
	for _, r := range recs {
		stored[r.Operation.Name] = create(t, s, r)
	}
	n, err := s.RenewLeases(t.Context(), "owner-a", until)
	if err != nil {
		t.Fatalf("RenewLeases: %v", err)
	}
	if n != 2 {
		t.Errorf("RenewLeases = %d, want 2", n)
	}
	for _, name := range []string{"operations/a1", "projects/p/operations/a2"} {
		want := stored[name].Clone()
		want.LeaseExpireTime = until
		got := get(t, s, name)
		wantRecord(t, "Get of a renewed record", got, want)
		if got.Version <= stored[name].Version {
			t.Errorf("renewed %q: Version = %d, want more than %d", name, got.Version, stored[name].Version)
		}
	}
	for _, name := range []string{"operations/a-done", "operations/b", "operations/none"} {
		wantSame(t, "Get of a record RenewLeases skips", get(t, s, name), stored[name])
	}
	if n, err := s.RenewLeases(t.Context(), "owner-c", until); err != nil || n != 0 {
		t.Errorf("RenewLeases of an owner without records = %d, %v; want 0, nil", n, err)
	}
}

func testRenewLeasesAfterUpdate(t *testing.T, s lro.Store) {
	until := at(time.Hour)
	mk := func(name, owner string) {
		r := NewRecord(name, at(0))
		r.Owner = owner
		r.LeaseExpireTime = at(time.Minute)
		create(t, s, r)
	}
	mk("operations/moved", "owner-a")
	mk("operations/finished", "owner-a")
	mk("operations/adopted", "")
	moved := update(t, s, "operations/moved", func(r *lro.Record) { r.Owner = "owner-b" })
	finished := update(t, s, "operations/finished", func(r *lro.Record) { finish(t, r, at(24*time.Hour)) })
	adopted := update(t, s, "operations/adopted", func(r *lro.Record) { r.Owner = "owner-a" })

	n, err := s.RenewLeases(t.Context(), "owner-a", until)
	if err != nil {
		t.Fatalf("RenewLeases: %v", err)
	}
	if n != 1 {
		t.Errorf("RenewLeases = %d, want 1", n)
	}
	want := adopted.Clone()
	want.LeaseExpireTime = until
	wantRecord(t, "Get of the record Update gave to the owner", get(t, s, "operations/adopted"), want)
	wantSame(t, "Get of the record Update gave to another owner", get(t, s, "operations/moved"), moved)
	wantSame(t, "Get of the record Update finished", get(t, s, "operations/finished"), finished)
}

func testClaimExpiredSelects(t *testing.T, s lro.Store) {
	now, until := at(time.Hour), at(2*time.Hour)
	mk := func(name, owner string, lease time.Time, done bool) *lro.Record {
		r := fullRecord(t, name, at(0))
		r.RequestID = ""
		r.Owner = owner
		r.LeaseExpireTime = lease
		if done {
			finish(t, r, at(24*time.Hour))
		}
		return r
	}
	recs := []*lro.Record{
		mk("operations/expired-x", "owner-x", now.Add(-time.Microsecond), false),
		mk("projects/p/operations/expired-y", "owner-y", now.Add(-time.Hour), false),
		mk("operations/at-now", "owner-x", now, false),
		mk("operations/future", "owner-x", now.Add(time.Second), false),
		mk("operations/done", "owner-x", now.Add(-time.Hour), true),
		mk("operations/unowned", "", now.Add(-time.Hour), false),
		mk("operations/unowned-zero", "", time.Time{}, false),
	}
	stored := map[string]*lro.Record{}
	for _, r := range recs {
		stored[r.Operation.Name] = create(t, s, r)
	}
	claimed, err := s.ClaimExpired(t.Context(), lro.ClaimParams{Owner: "owner-z", Now: now, LeaseExpireTime: until, Limit: 100})
	if err != nil {
		t.Fatalf("ClaimExpired: %v", err)
	}
	wantClaimed := []string{"operations/expired-x", "projects/p/operations/expired-y"}
	gotNames := names(claimed)
	slices.Sort(gotNames)
	if diff := cmp.Diff(wantClaimed, gotNames); diff != "" {
		t.Fatalf("ClaimExpired claimed the wrong records (-want +got):\n%s", diff)
	}
	for _, r := range claimed {
		name := r.Operation.GetName()
		want := stored[name].Clone()
		want.Owner = "owner-z"
		want.LeaseExpireTime = until
		wantRecord(t, "ClaimExpired result", r, want)
		got := get(t, s, name)
		wantSame(t, "Get of a claimed record", got, r)
		if got.Version <= stored[name].Version {
			t.Errorf("claimed %q: Version = %d, want more than %d", name, got.Version, stored[name].Version)
		}
	}
	for _, name := range []string{"operations/at-now", "operations/future", "operations/done", "operations/unowned", "operations/unowned-zero"} {
		wantSame(t, "Get of a record ClaimExpired skips", get(t, s, name), stored[name])
	}
	again, err := s.ClaimExpired(t.Context(), lro.ClaimParams{Owner: "owner-w", Now: now, LeaseExpireTime: until, Limit: 100})
	if err != nil || len(again) != 0 {
		t.Errorf("second ClaimExpired = %v, %v; want nothing", names(again), err)
	}
}

func testClaimExpiredLimit(t *testing.T, s lro.Store) {
	now, until := at(time.Hour), at(2*time.Hour)
	for i := range 5 {
		r := NewRecord(fmt.Sprintf("operations/c%d", i), at(time.Duration(i)*time.Second))
		r.Owner = "dead"
		r.LeaseExpireTime = now.Add(-time.Duration(i+1) * time.Second)
		create(t, s, r)
	}
	claimedBy := map[string]int{}
	for i, tc := range []struct{ limit, want int }{{2, 2}, {2, 2}, {2, 1}, {2, 0}} {
		got, err := s.ClaimExpired(t.Context(), lro.ClaimParams{Owner: fmt.Sprintf("owner-%d", i), Now: now, LeaseExpireTime: until, Limit: tc.limit})
		if err != nil {
			t.Fatalf("ClaimExpired #%d: %v", i, err)
		}
		if len(got) != tc.want {
			t.Errorf("ClaimExpired #%d with limit %d = %v, want %d records", i, tc.limit, names(got), tc.want)
		}
		for _, r := range got {
			if prev, ok := claimedBy[r.Operation.GetName()]; ok {
				t.Errorf("%q claimed by #%d and #%d", r.Operation.GetName(), prev, i)
			}
			claimedBy[r.Operation.GetName()] = i
		}
	}
	for name, i := range claimedBy {
		if got := get(t, s, name); got.Owner != fmt.Sprintf("owner-%d", i) {
			t.Errorf("Get(%q).Owner = %q, want owner-%d", name, got.Owner, i)
		}
	}
}

func testClaimExpiredAfterUpdate(t *testing.T, s lro.Store) {
	now, until := at(time.Hour), at(2*time.Hour)
	mk := func(name, owner string, lease time.Time) {
		r := NewRecord(name, at(0))
		r.Owner = owner
		r.LeaseExpireTime = lease
		create(t, s, r)
	}
	mk("operations/finished", "dead", now.Add(-time.Minute))
	mk("operations/disowned", "dead", now.Add(-time.Minute))
	mk("operations/renewed", "dead", now.Add(-time.Minute))
	mk("operations/lapsed", "alive", now.Add(time.Minute))
	mk("operations/owned", "", now.Add(-time.Minute))
	update(t, s, "operations/finished", func(r *lro.Record) { finish(t, r, at(24*time.Hour)) })
	update(t, s, "operations/disowned", func(r *lro.Record) { r.Owner = "" })
	update(t, s, "operations/renewed", func(r *lro.Record) { r.LeaseExpireTime = now.Add(time.Minute) })
	update(t, s, "operations/lapsed", func(r *lro.Record) { r.LeaseExpireTime = now.Add(-time.Second) })
	update(t, s, "operations/owned", func(r *lro.Record) { r.Owner = "dead" })

	claimed, err := s.ClaimExpired(t.Context(), lro.ClaimParams{Owner: "owner-z", Now: now, LeaseExpireTime: until, Limit: 10})
	if err != nil {
		t.Fatalf("ClaimExpired: %v", err)
	}
	got := names(claimed)
	slices.Sort(got)
	if diff := cmp.Diff([]string{"operations/lapsed", "operations/owned"}, got); diff != "" {
		t.Errorf("ClaimExpired after Updates claimed the wrong records (-want +got):\n%s", diff)
	}
}

func testClaimExpiredConcurrent(t *testing.T, s lro.Store) {
	const (
		records  = 24
		claimers = 6
	)
	now, until := at(time.Hour), at(2*time.Hour)
	for i := range records {
		r := NewRecord(fmt.Sprintf("projects/p/operations/c%02d", i), at(time.Duration(i)*time.Second))
		r.Owner = "dead"
		r.LeaseExpireTime = now.Add(-time.Minute)
		create(t, s, r)
	}
	claims := make([][]string, claimers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for c := range claimers {
		wg.Go(func() {
			<-start
			for range records + 1 {
				got, err := s.ClaimExpired(t.Context(), lro.ClaimParams{Owner: fmt.Sprintf("claimer-%d", c), Now: now, LeaseExpireTime: until, Limit: 3})
				if err != nil {
					t.Errorf("ClaimExpired: %v", err)
					return
				}
				if len(got) == 0 {
					return
				}
				claims[c] = append(claims[c], names(got)...)
			}
		})
	}
	close(start)
	wg.Wait()

	owner := map[string]int{}
	for c, ns := range claims {
		for _, name := range ns {
			if prev, ok := owner[name]; ok {
				t.Errorf("%q claimed by claimer-%d and claimer-%d", name, prev, c)
			}
			owner[name] = c
		}
	}
	if len(owner) != records {
		t.Errorf("concurrent claimers claimed %d records, want all %d", len(owner), records)
	}
	for name, c := range owner {
		if got := get(t, s, name); got.Owner != fmt.Sprintf("claimer-%d", c) {
			t.Errorf("Get(%q).Owner = %q, want claimer-%d", name, got.Owner, c)
		}
	}
}

// ---------------------------------------------------------------------------
// Watch.

// watcher collects the events a Watch delivers.
type watcher struct {
	name   string
	mu     sync.Mutex
	events []lro.Event
	signal chan struct{}
	// stopped is set once stop has returned; calls after that are late.
	stopped atomic.Bool
	late    atomic.Int64
	stop    func()
}

// watch starts watching name; the watch is stopped when the test ends
// unless the test stops it first with w.halt.
func watch(t *testing.T, s lro.Store, name string) *watcher {
	t.Helper()
	w := &watcher{name: name, signal: make(chan struct{}, 1)}
	w.stop = s.Watch(name, w.fn)
	if w.stop == nil {
		t.Fatalf("Watch(%q) returned a nil stop function", name)
	}
	var once sync.Once
	stop := w.stop
	w.stop = func() { once.Do(stop) }
	t.Cleanup(w.stop)
	return w
}

// fn is the callback given to Watch.
func (w *watcher) fn(ev lro.Event) {
	if w.stopped.Load() {
		w.late.Add(1)
	}
	w.mu.Lock()
	w.events = append(w.events, ev)
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// halt stops the watch and records that it is stopped.
func (w *watcher) halt() {
	w.stop()
	w.stopped.Store(true)
}

// snapshot returns the events so far.
func (w *watcher) snapshot() []lro.Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.events)
}

// waitFor waits until an event satisfying ok arrives, or fails the test
// after WatchTimeout.
func (w *watcher) waitFor(t *testing.T, desc string, ok func(lro.Event) bool) {
	t.Helper()
	timer := time.NewTimer(WatchTimeout)
	defer timer.Stop()
	for {
		for _, ev := range w.snapshot() {
			if ok(ev) {
				return
			}
		}
		select {
		case <-w.signal:
		case <-timer.C:
			t.Fatalf("Watch(%q): no event %s within %v; got %+v", w.name, desc, WatchTimeout, w.snapshot())
		}
	}
}

// checkNames fails the test if w got an event for another name.
func (w *watcher) checkNames(t *testing.T) {
	t.Helper()
	for _, ev := range w.snapshot() {
		if ev.Name != w.name {
			t.Errorf("Watch(%q) got an event for %q", w.name, ev.Name)
		}
	}
}

func testWatchUpdateAndDelete(t *testing.T, s lro.Store) {
	const name = "projects/p/operations/watched"
	create(t, s, NewRecord(name, at(0)))
	w := watch(t, s, name)

	update(t, s, name, func(r *lro.Record) {
		r.Operation.Metadata = mustAny(t, wrapperspb.String("progress"))
	})
	w.waitFor(t, "after a metadata Update", func(ev lro.Event) bool {
		return ev == lro.Event{Name: name}
	})
	update(t, s, name, func(r *lro.Record) { r.CancelRequested = true })
	w.waitFor(t, "with CancelRequested after Update", func(ev lro.Event) bool {
		return ev == lro.Event{Name: name, CancelRequested: true}
	})
	update(t, s, name, func(r *lro.Record) {
		finish(t, r, at(time.Hour))
		r.CancelRequested = false
	})
	w.waitFor(t, "with Done after Update", func(ev lro.Event) bool {
		return ev == lro.Event{Name: name, Done: true}
	})
	if err := s.Delete(t.Context(), name); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	w.waitFor(t, "with Deleted after Delete", func(ev lro.Event) bool {
		return ev.Name == name && ev.Deleted
	})
	w.checkNames(t)
}

func testWatchStop(t *testing.T, s lro.Store) {
	const name = "projects/p/operations/watched"
	create(t, s, NewRecord(name, at(0)))
	stopped := watch(t, s, name)
	active := watch(t, s, name)

	update(t, s, name, func(r *lro.Record) { r.Attempt = 1 })
	stopped.waitFor(t, "before stop", func(ev lro.Event) bool { return ev.Name == name })
	active.waitFor(t, "before stop", func(ev lro.Event) bool { return ev.Name == name })

	stopped.halt()
	update(t, s, name, func(r *lro.Record) { r.CancelRequested = true })
	// The other watcher of the same record sees the change; the stopped
	// one must not be called for it.
	active.waitFor(t, "after the other watcher stopped", func(ev lro.Event) bool {
		return ev.Name == name && ev.CancelRequested
	})
	if err := s.Delete(t.Context(), name); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	active.waitFor(t, "with Deleted", func(ev lro.Event) bool { return ev.Name == name && ev.Deleted })
	if n := stopped.late.Load(); n > 0 {
		t.Errorf("Watch called its function %d times after stop returned", n)
	}
	for _, ev := range stopped.snapshot() {
		if ev.CancelRequested || ev.Deleted {
			t.Errorf("stopped watcher got %+v, a change made after stop", ev)
		}
	}
}

func testWatchOtherNames(t *testing.T, s lro.Store) {
	const (
		a = "projects/p/operations/a"
		b = "projects/p/operations/b"
		c = "projects/p/operations/a2" // shares a prefix with a
	)
	for _, name := range []string{a, b, c} {
		create(t, s, NewRecord(name, at(0)))
	}
	wa := watch(t, s, a)
	wb := watch(t, s, b)
	wc := watch(t, s, c)
	wu := watch(t, s, "projects/p/operations/unknown")

	update(t, s, a, func(r *lro.Record) { r.Attempt = 1 })
	wa.waitFor(t, "after Update", func(ev lro.Event) bool { return ev.Name == a })
	update(t, s, b, func(r *lro.Record) { r.CancelRequested = true })
	wb.waitFor(t, "after Update", func(ev lro.Event) bool { return ev.Name == b && ev.CancelRequested })
	if err := s.Delete(t.Context(), a); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wa.waitFor(t, "after Delete", func(ev lro.Event) bool { return ev.Name == a && ev.Deleted })

	for _, w := range []*watcher{wa, wb, wc, wu} {
		w.checkNames(t)
	}
	for _, ev := range wb.snapshot() {
		if ev.Deleted {
			t.Errorf("Watch(%q) got %+v after another record was deleted", b, ev)
		}
	}
	if evs := wc.snapshot(); len(evs) > 0 {
		t.Errorf("Watch(%q) got %+v though only other records changed", c, evs)
	}
	if evs := wu.snapshot(); len(evs) > 0 {
		t.Errorf("Watch of an unknown name got %+v", evs)
	}
}

func testWatchDeleteExpired(t *testing.T, s lro.Store) {
	const name = "projects/p/operations/expiring"
	create(t, s, finish(t, NewRecord(name, at(0)), at(time.Hour)))
	w := watch(t, s, name)
	n, err := s.DeleteExpired(t.Context(), at(2*time.Hour), 10)
	if err != nil || n != 1 {
		t.Fatalf("DeleteExpired = %d, %v; want 1, nil", n, err)
	}
	w.waitFor(t, "with Deleted after DeleteExpired", func(ev lro.Event) bool {
		return ev.Name == name && ev.Deleted
	})
	w.checkNames(t)
}

// ---------------------------------------------------------------------------
// Finisher and CancelRequestLister.

func finisherOf(t *testing.T, s lro.Store) lro.Finisher {
	t.Helper()
	f, ok := s.(lro.Finisher)
	if !ok {
		t.Skipf("%T does not implement lro.Finisher", s)
	}
	return f
}

// doneOp is the final operation Finish stores for name.
func doneOp(t *testing.T, name string, md string) *longrunningpb.Operation {
	return &longrunningpb.Operation{
		Name:     name,
		Metadata: mustAny(t, wrapperspb.String(md)),
		Done:     true,
		Result:   &longrunningpb.Operation_Response{Response: mustAny(t, wrapperspb.Int64(7))},
	}
}

func testFinisher(t *testing.T, s lro.Store) {
	f := finisherOf(t, s)
	rec := fullRecord(t, "projects/p/operations/fin", at(0))
	rec.CancelRequested = true
	before := create(t, s, rec)
	events := make(chan lro.Event, 10)
	stop := s.Watch(rec.Operation.GetName(), func(ev lro.Event) { events <- ev })
	defer stop()

	op := doneOp(t, rec.Operation.GetName(), "final metadata")
	if err := f.Finish(t.Context(), lro.FinishParams{Owner: "owner-1", Operation: op, UpdateTime: at(time.Second), ExpireTime: at(time.Hour)}); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	got := get(t, s, rec.Operation.GetName())
	want := before.Clone()
	want.Operation = op
	want.UpdateTime = at(time.Second)
	want.ExpireTime = at(time.Hour)
	want.CancelRequested = false
	want.LeaseExpireTime = time.Time{}
	wantRecord(t, "after Finish", got, want)
	if got.Version <= before.Version {
		t.Errorf("Version %d after Finish, want more than %d", got.Version, before.Version)
	}
	select {
	case ev := <-events:
		if !ev.Done || ev.Deleted || ev.Name != rec.Operation.GetName() {
			t.Errorf("event after Finish: %+v", ev)
		}
	case <-time.After(WatchTimeout):
		t.Fatal("no event after Finish")
	}
	// The finished record is listed as done and expires.
	done := true
	wantNames(t, "List(Done) after Finish", list(t, s, lro.ListQuery{AllParents: true, Limit: 10, Done: &done}), []string{rec.Operation.GetName()})
	if n, err := s.DeleteExpired(t.Context(), at(time.Hour), 10); err != nil || n != 1 {
		t.Errorf("DeleteExpired after Finish = %d, %v; want 1", n, err)
	}
}

func testFinisherRefuses(t *testing.T, s lro.Store) {
	f := finisherOf(t, s)
	ctx := t.Context()
	other := create(t, s, fullRecord(t, "operations/other-owner", at(0)))
	if err := f.Finish(ctx, lro.FinishParams{Owner: "owner-2", Operation: doneOp(t, "operations/other-owner", "x"), UpdateTime: at(time.Second), ExpireTime: at(time.Hour)}); !errors.Is(err, lro.ErrNotOwner) {
		t.Errorf("Finish by another owner: %v, want ErrNotOwner", err)
	}
	wantRecord(t, "after a refused Finish", get(t, s, "operations/other-owner"), other)

	r := fullRecord(t, "operations/already-done", at(0))
	finish(t, r, at(time.Hour))
	done := create(t, s, r)
	if err := f.Finish(ctx, lro.FinishParams{Owner: "owner-1", Operation: doneOp(t, "operations/already-done", "x"), UpdateTime: at(time.Second), ExpireTime: at(2 * time.Hour)}); !errors.Is(err, lro.ErrNotOwner) {
		t.Errorf("Finish of a done record: %v, want ErrNotOwner", err)
	}
	wantRecord(t, "done record after a refused Finish", get(t, s, "operations/already-done"), done)

	if err := f.Finish(ctx, lro.FinishParams{Owner: "owner-1", Operation: doneOp(t, "operations/missing", "x"), UpdateTime: at(time.Second), ExpireTime: at(time.Hour)}); !errors.Is(err, lro.ErrNotFound) {
		t.Errorf("Finish of a missing record: %v, want ErrNotFound", err)
	}
}

func testFinisherConcurrent(t *testing.T, s lro.Store) {
	f := finisherOf(t, s)
	const n = 64
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("operations/conc-%02d", i)
		create(t, s, fullRecord(t, names[i], at(time.Duration(i)*time.Millisecond)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range 2 * n { // every record finished twice at once: once wins
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := f.Finish(t.Context(), lro.FinishParams{Owner: "owner-1", Operation: doneOp(t, names[i%n], fmt.Sprint("try ", i/n)), UpdateTime: at(time.Second), ExpireTime: at(time.Hour)})
			if err != nil && !errors.Is(err, lro.ErrNotOwner) {
				errs <- err
			}
			if err == nil {
				errs <- nil
			}
		}()
	}
	wg.Wait()
	close(errs)
	wins := 0
	for err := range errs {
		if err != nil {
			t.Fatalf("Finish: %v", err)
		}
		wins++
	}
	if wins != n {
		t.Errorf("%d Finish calls succeeded, want exactly one per record (%d)", wins, n)
	}
	for _, name := range names {
		if !get(t, s, name).Done() {
			t.Errorf("%s not done", name)
		}
	}
}

func testCancelRequestLister(t *testing.T, s lro.Store) {
	cl, ok := s.(lro.CancelRequestLister)
	if !ok {
		t.Skipf("%T does not implement lro.CancelRequestLister", s)
	}
	mk := func(name, owner string, cancel, done bool) {
		r := fullRecord(t, name, at(0))
		r.RequestID = ""
		r.Owner = owner
		r.CancelRequested = cancel
		if done {
			finish(t, r, at(time.Hour))
		}
		create(t, s, r)
	}
	mk("operations/a-cancel", "a", true, false)
	mk("operations/a-cancel-2", "a", true, false)
	mk("operations/a-running", "a", false, false)
	mk("operations/a-done", "a", true, true)
	mk("operations/b-cancel", "b", true, false)
	got, err := cl.ListCancelRequests(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if diff := cmp.Diff([]string{"operations/a-cancel", "operations/a-cancel-2"}, got); diff != "" {
		t.Errorf("ListCancelRequests(a) (-want +got):\n%s", diff)
	}
}
