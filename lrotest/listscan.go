package lrotest

import (
	"fmt"
	"testing"
	"time"

	"github.com/lrokit/lro"
)

// The List cases of the scan budget: partial and empty pages, where a
// listing resumes, and how it ends.

// listResult runs List, fails the test on error and checks the result
// against the contract of lro.ListResult.
func listResult(t *testing.T, s lro.Store, q lro.ListQuery) lro.ListResult {
	t.Helper()
	res, err := s.List(t.Context(), q)
	if err != nil {
		t.Fatalf("List(%+v): %v", q, err)
	}
	checkListResult(t, q, res)
	return res
}

// checkListResult fails the test unless res keeps the promises of
// lro.ListResult for q.
func checkListResult(t *testing.T, q lro.ListQuery, res lro.ListResult) {
	t.Helper()
	recs := res.Records
	if len(recs) > q.Limit {
		t.Fatalf("List(%+v) returned %d records, more than Limit", q, len(recs))
	}
	if res.Examined < len(recs) {
		t.Fatalf("List(%+v) examined %d records and returned %d", q, res.Examined, len(recs))
	}
	if q.Budget > 0 && res.Examined > q.Budget {
		t.Fatalf("List(%+v) examined %d records, more than Budget", q, res.Examined)
	}
	for i, r := range recs {
		if q.After != nil && !q.After.Precedes(r.CreateTime, r.Operation.GetName()) {
			t.Fatalf("List(%+v) returned %q, which is not after the cursor", q, r.Operation.GetName())
		}
		if i > 0 && !listLess(recs[i-1], r) {
			t.Fatalf("List(%+v) returned %q before %q, out of List order", q, recs[i-1].Operation.GetName(), r.Operation.GetName())
		}
	}
	if res.Resume == nil {
		return
	}
	if q.After != nil && !q.After.Precedes(res.Resume.CreateTime, res.Resume.Name) {
		t.Fatalf("List(%+v) resumes at %+v, which is not after the cursor", q, *res.Resume)
	}
	if n := len(recs); n > 0 && res.Resume.Precedes(recs[n-1].CreateTime, recs[n-1].Operation.GetName()) {
		t.Fatalf("List(%+v) resumes at %+v, before the last record it returned", q, *res.Resume)
	}
}

// scanMatches lists q to its end, each call resuming where the last one
// stopped, and returns the records that match q.Filter.
func scanMatches(t *testing.T, s lro.Store, q lro.ListQuery) []*lro.Record {
	t.Helper()
	var out []*lro.Record
	for calls := 0; ; calls++ {
		if calls > 10_000 {
			t.Fatalf("List(%+v) did not end after %d calls", q, calls)
		}
		res := listResult(t, s, q)
		for _, r := range res.Records {
			if q.Filter.MatchRecord(r) {
				out = append(out, r)
			}
		}
		if res.Resume == nil {
			return out
		}
		q.After = res.Resume
	}
}

// budgetFixture makes 30 records of projects/p, one millisecond apart and
// newest first, of which every fifth (from the newest) is done, and 10 of
// projects/q between them. It returns the projects/p records in List
// order.
func budgetFixture(t *testing.T, s lro.Store) []*lro.Record {
	t.Helper()
	var recs []*lro.Record
	for i := range 30 {
		r := NewRecord(fmt.Sprintf("projects/p/operations/b%02d", i), at(-time.Duration(i)*time.Millisecond))
		if i%5 == 0 {
			finish(t, r, at(time.Hour))
		}
		recs = append(recs, create(t, s, r))
		if i%3 == 0 {
			create(t, s, NewRecord(fmt.Sprintf("projects/q/operations/b%02d", i), at(-time.Duration(i)*time.Millisecond-time.Microsecond)))
		}
	}
	return recs
}

func testListBudget(t *testing.T, s lro.Store) {
	recs := budgetFixture(t, s)
	all := names(recs)
	done := names(filterRecs(recs, (*lro.Record).Done))
	yes := true
	for _, tc := range []struct {
		desc     string
		q        lro.ListQuery
		want     []string
		examined int
		resume   *lro.Record // nil: the listing ended
	}{
		{"a partial page", lro.ListQuery{Parent: "projects/p", Limit: 100, Budget: 7}, all[:7], 7, recs[6]},
		{"a partial page of done records", lro.ListQuery{Parent: "projects/p", Limit: 100, Budget: 7, Done: &yes}, done[:2], 7, recs[6]},
		{"an empty page", lro.ListQuery{Parent: "projects/p", Limit: 100, Budget: 3, Done: &yes, After: cursorOf(recs[0])}, nil, 3, recs[3]},
		{"Limit before the budget", lro.ListQuery{Parent: "projects/p", Limit: 2, Budget: 100, Done: &yes}, done[:2], 6, recs[5]},
		{"the budget reaches the end", lro.ListQuery{Parent: "projects/p", Limit: 100, Budget: 30}, all, 30, nil},
		{"the end before the budget", lro.ListQuery{Parent: "projects/p", Limit: 100, Budget: 40, After: cursorOf(recs[20])}, all[21:], 9, nil},
	} {
		res := listResult(t, s, tc.q)
		what := "List with a budget, " + tc.desc
		wantNames(t, what, res.Records, tc.want)
		if res.Examined != tc.examined {
			t.Errorf("%s: Examined = %d, want %d", what, res.Examined, tc.examined)
		}
		switch {
		case tc.resume == nil && res.Resume != nil:
			t.Errorf("%s: Resume = %+v, want nil (the listing ended)", what, *res.Resume)
		case tc.resume != nil && (res.Resume == nil || *res.Resume != *cursorOf(tc.resume)):
			t.Errorf("%s: Resume = %v, want the position of %q", what, res.Resume, tc.resume.Operation.GetName())
		}
	}
	// Paging with a small budget visits every record once, in order,
	// whatever the parent selection, and ends.
	for _, q := range []lro.ListQuery{
		{Parent: "projects/p", Limit: 100, Budget: 4, Done: &yes},
		{Parent: "projects/-", Limit: 3, Budget: 4, Done: &yes},
		{AllParents: true, Limit: 100, Budget: 1, Done: &yes},
		{Parent: "projects/p", Limit: 1, Budget: 1},
	} {
		var got []*lro.Record
		calls := 0
		for {
			res := listResult(t, s, q)
			calls++
			got = append(got, res.Records...)
			if res.Resume == nil {
				break
			}
			q.After = res.Resume
		}
		want := done
		if q.Done == nil {
			want = all
		}
		wantNames(t, fmt.Sprintf("paging through %+v", q), got, want)
		if min := 30 / q.Budget; calls < min {
			t.Errorf("paging through %+v took %d calls; with that budget it needs at least %d", q, calls, min)
		}
	}
}

func testListBudgetEnd(t *testing.T, s lro.Store) {
	// Resume is nil exactly when nothing follows the last record
	// examined: a listing that ends on a budget or Limit boundary says so.
	var recs []*lro.Record
	for i := range 6 {
		r := NewRecord(fmt.Sprintf("operations/e%d", i), at(-time.Duration(i)*time.Second))
		if i < 3 {
			finish(t, r, at(time.Hour))
		}
		recs = append(recs, create(t, s, r))
	}
	yes := true
	for _, tc := range []struct {
		desc string
		q    lro.ListQuery
		more bool
	}{
		{"budget = the records left", lro.ListQuery{Parent: "", Limit: 100, Budget: 6}, false},
		{"budget one short", lro.ListQuery{Parent: "", Limit: 100, Budget: 5}, true},
		{"budget one short, after the first", lro.ListQuery{Parent: "", Limit: 100, Budget: 4, After: cursorOf(recs[0])}, true},
		{"budget = the last one", lro.ListQuery{Parent: "", Limit: 100, Budget: 1, After: cursorOf(recs[4])}, false},
		{"Limit = the records left", lro.ListQuery{AllParents: true, Limit: 6}, false},
		{"Limit one short", lro.ListQuery{AllParents: true, Limit: 5}, true},
		{"Done, the rest never match", lro.ListQuery{AllParents: true, Limit: 100, Budget: 6, Done: &yes}, false},
		{"Done, Limit on the last match", lro.ListQuery{AllParents: true, Limit: 3, Budget: 100, Done: &yes}, true},
		{"no budget", lro.ListQuery{AllParents: true, Limit: 100}, false},
		{"an empty collection", lro.ListQuery{Parent: "projects/none", Limit: 5, Budget: 5}, false},
		{"after the end", lro.ListQuery{AllParents: true, Limit: 5, Budget: 5, After: cursorOf(recs[5])}, false},
	} {
		res := listResult(t, s, tc.q)
		if got := res.Resume != nil; got != tc.more {
			t.Errorf("List, %s: Resume = %v; want set: %v", tc.desc, res.Resume, tc.more)
		}
	}
}

func testListBudgetKeyset(t *testing.T, s lro.Store) {
	// Budgeted calls resume after the last record examined, while records
	// come and go between calls: none that existed throughout (and is
	// done) is skipped or repeated.
	const parent = "projects/keyset"
	prefix := parent + "/operations/"
	throughout := map[string]bool{}
	for i := range 40 {
		r := NewRecord(fmt.Sprintf("%sk%02d", prefix, (i*17)%40), at(time.Duration(i/3)*time.Second))
		if i%3 != 1 {
			finish(t, r, at(time.Hour))
			throughout[r.Operation.GetName()] = true
		}
		create(t, s, r)
	}
	yes := true
	q := lro.ListQuery{Parent: parent, Limit: 2, Budget: 3, Done: &yes}
	seen := map[string]int{}
	var seq []*lro.Record
	for call := 0; ; call++ {
		if call > 200 {
			t.Fatalf("paging did not end after %d calls", call)
		}
		res := listResult(t, s, q)
		for _, r := range res.Records {
			seen[r.Operation.GetName()]++
		}
		seq = append(seq, res.Records...)
		if res.Resume == nil {
			break
		}
		q.After = res.Resume
		// Between calls: a newer record, done records tied with the
		// cursor on both sides of it, and a deletion of a listed record.
		newer := NewRecord(fmt.Sprintf("%snew%03d", prefix, call), at(time.Hour+time.Duration(call)*time.Microsecond))
		create(t, s, finish(t, newer, at(2*time.Hour)))
		create(t, s, finish(t, NewRecord(fmt.Sprintf("%s!%03d", prefix, call), res.Resume.CreateTime), at(2*time.Hour)))
		create(t, s, finish(t, NewRecord(res.Resume.Name+"~tie", res.Resume.CreateTime), at(2*time.Hour)))
		if len(seq) > 0 {
			gone := seq[len(seq)-1].Operation.GetName()
			if throughout[gone] && seen[gone] == 1 {
				if err := s.Delete(t.Context(), gone); err != nil {
					t.Fatalf("Delete(%q): %v", gone, err)
				}
			}
		}
	}
	checkPaging(t, seen, throughout, seq)
}
