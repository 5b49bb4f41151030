package lrotest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lrokit/lro"
)

// The lease cases: RenewLeases and ClaimExpired.

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
	for i, tc := range []struct{ limit, want int }{{0, 0}, {2, 2}, {2, 2}, {2, 1}, {2, 0}} {
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
