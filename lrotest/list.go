package lrotest

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lrokit/lro"
)

// The List cases: order, parents, cursors, limits and filters.

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

func testListFilter(t *testing.T, s lro.Store) {
	// The 60 newest records do not match; then one in four does. A store
	// may narrow with the Filter or ignore it: the records it returns,
	// matched against the filter, must be exactly the matching ones.
	var matching []*lro.Record
	for i := range 100 {
		name := fmt.Sprintf("projects/p/operations/m%03d", i)
		if i >= 60 && i%4 == 0 {
			name = fmt.Sprintf("projects/p/operations/wanted-m%03d", i)
		}
		r := NewRecord(name, at(-time.Duration(i)*time.Millisecond))
		if i >= 60 && i%4 == 0 {
			matching = append(matching, r)
		}
		create(t, s, r)
	}
	f, err := lro.ParseFilter("name:wanted", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := names(matching) // already in List order

	for _, tc := range []struct {
		desc string
		q    lro.ListQuery
		want []string // the first q.Limit matches
	}{
		{"Limit 3", lro.ListQuery{Parent: "projects/p", Filter: f, Limit: 3}, want[:3]},
		{"Limit 3, all parents", lro.ListQuery{AllParents: true, Filter: f, Limit: 3}, want[:3]},
		{"Limit 10", lro.ListQuery{Parent: "projects/p", Filter: f, Limit: 10}, want},
		{"Limit 50", lro.ListQuery{Parent: "projects/p", Filter: f, Limit: 50}, want},
		{"after the third match", lro.ListQuery{Parent: "projects/p", Filter: f, Limit: 4, After: cursorOf(matching[2])}, want[3:7]},
		{"after the last match", lro.ListQuery{Parent: "projects/p", Filter: f, Limit: 4, After: cursorOf(matching[9])}, nil},
		{"Budget 7", lro.ListQuery{Parent: "projects/p", Filter: f, Limit: 5, Budget: 7}, want[:5]},
		{"other parent", lro.ListQuery{Parent: "projects/q", Filter: f, Limit: 5}, nil},
	} {
		got := scanMatches(t, s, tc.q)
		wantNames(t, "List with a Filter, "+tc.desc, got[:min(len(got), tc.q.Limit)], tc.want)
	}
	// Nothing matches: the listing still ends.
	none, err := lro.ParseFilter("name:nothing-has-this", nil)
	if err != nil {
		t.Fatal(err)
	}
	wantNames(t, "List with a Filter that matches nothing", scanMatches(t, s, lro.ListQuery{Parent: "projects/p", Filter: none, Limit: 5, Budget: 9}), nil)
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
	} {
		wantNames(t, "List with "+tc.desc, list(t, s, tc.q), tc.want)
	}
	f := mustFilter(t, "name != "+running[0])
	got := scanMatches(t, s, lro.ListQuery{Parent: "projects/p", Done: &no, Limit: 100, Filter: f})
	wantNames(t, "List with Done false and a Filter", got, running[1:])
}

// mustFilter parses an AIP-160 filter or fails the test.
func mustFilter(t *testing.T, src string) *lro.Filter {
	t.Helper()
	f, err := lro.ParseFilter(src, nil)
	if err != nil {
		t.Fatalf("ParseFilter(%q): %v", src, err)
	}
	return f
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
		r.Operation.Metadata = mustAny(t, wrapperspb.String("changed"))
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
	} {
		wantNames(t, "List after Updates, "+tc.desc, list(t, s, tc.q), tc.want)
	}
	for _, src := range []string{
		"metadata.value = changed",
		"metadata.@type = type.googleapis.com/google.protobuf.StringValue AND metadata.value = changed",
		"metadata.@type:StringValue",
	} {
		got := scanMatches(t, s, lro.ListQuery{AllParents: true, Limit: 10, Filter: mustFilter(t, src)})
		wantNames(t, "List after Updates, a Filter on the updated metadata: "+src, got, []string{"projects/p/operations/u3"})
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

	checkPaging(t, seen, throughout, seq)
}

// checkPaging checks what paging through a listing returned while records
// came and went: nothing twice, nothing that existed throughout skipped,
// and everything in List order.
func checkPaging(t *testing.T, seen map[string]int, throughout map[string]bool, seq []*lro.Record) {
	t.Helper()
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
