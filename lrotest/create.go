package lrotest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lrokit/lro"
)

// The Create cases, and the Copies cases: a record crosses the Store
// boundary by value, in both directions.

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

func testCreateRequestIDFreedByExpiry(t *testing.T, s lro.Store) {
	const parent = "projects/p"
	r1 := NewRecord(parent+"/operations/one", at(0))
	r1.RequestID = "req"
	create(t, s, r1)
	done := update(t, s, r1.Operation.Name, func(r *lro.Record) { finish(t, r, at(time.Hour)) })
	w := watch(t, s, r1.Operation.Name)

	// Until it expires, the done operation holds its request id.
	before := NewRecord(parent+"/operations/before", at(time.Hour-time.Microsecond))
	before.RequestID = "req"
	got, created, err := s.Create(t.Context(), before)
	if err != nil || created {
		t.Fatalf("Create with the request id of a done operation before it expires = created %v, err %v; want false, nil", created, err)
	}
	wantSame(t, "Create with the request id of an operation about to expire", got, done)

	// From its ExpireTime on (as the new record's CreateTime tells), it
	// holds it no more: the new record is created, the expired one goes.
	after := NewRecord(parent+"/operations/after", at(time.Hour))
	after.RequestID = "req"
	want := after.Clone()
	got, created, err = s.Create(t.Context(), after)
	if err != nil || !created {
		t.Fatalf("Create with the request id of an expired operation = created %v, err %v; want true, nil", created, err)
	}
	wantRecord(t, "Create with the request id of an expired operation", got, want)
	wantNotFound(t, s, r1.Operation.Name)
	w.waitFor(t, "with Deleted for the expired record", func(ev lro.Event) bool { return ev.Deleted })
	all := list(t, s, lro.ListQuery{AllParents: true, Limit: 10})
	wantNames(t, "List after the request id moved on", all, []string{after.Operation.Name})

	// The new record holds the request id now.
	again := NewRecord(parent+"/operations/again", at(time.Hour+time.Second))
	again.RequestID = "req"
	got, created, err = s.Create(t.Context(), again)
	if err != nil || created || got.Operation.GetName() != after.Operation.Name {
		t.Fatalf("Create with the request id again = %v, created %v, err %v; want %q, false, nil", names([]*lro.Record{got}), created, err, after.Operation.Name)
	}
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
	r.TraceParent += "-changed"
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
			recs, err := s.ClaimExpired(t.Context(), lro.ClaimParams{Owner: "owner-2", Now: time.Now(), Limit: 10})
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
