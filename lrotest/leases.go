package lrotest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lrokit/lro"
)

// The lease cases: owner leases (RegisterOwner, RenewLeases, ReleaseOwner),
// ClaimExpired and ListOwned.
//
// A store judges leases by now: LeaseParams.Now, or its own clock when it
// is shared between processes. The cases pass the real time as Now and
// give leases of an hour, which any such clock sees as running, or of
// minus an hour, which have run out at once; so they never wait.

// leaseFor is how long the cases' running leases last.
const leaseFor = time.Hour

// leaseParams are the arguments of an owner lease call made now.
func leaseParams(owner, token string, lease time.Duration) lro.LeaseParams {
	return lro.LeaseParams{Owner: owner, Token: token, Now: time.Now(), Lease: lease}
}

// register registers owner under token for lease and fails the test on
// error.
func register(t *testing.T, s lro.Store, owner, token string, lease time.Duration) {
	t.Helper()
	if err := s.RegisterOwner(t.Context(), leaseParams(owner, token, lease)); err != nil {
		t.Fatalf("RegisterOwner(%q, %q, %v): %v", owner, token, lease, err)
	}
}

// wantRenew fails the test unless RenewLeases for owner under token
// returns an error wrapping want (nil for success).
func wantRenew(t *testing.T, s lro.Store, owner, token string, lease time.Duration, want error) {
	t.Helper()
	err := s.RenewLeases(t.Context(), leaseParams(owner, token, lease))
	if (want == nil) != (err == nil) || (want != nil && !errors.Is(err, want)) {
		t.Fatalf("RenewLeases(%q, %q, %v) = %v, want %v", owner, token, lease, err, want)
	}
}

// wantTaken fails the test unless RegisterOwner refuses owner under token
// with ErrOwnerTaken.
func wantTaken(t *testing.T, s lro.Store, owner, token string) {
	t.Helper()
	if err := s.RegisterOwner(t.Context(), leaseParams(owner, token, leaseFor)); !errors.Is(err, lro.ErrOwnerTaken) {
		t.Fatalf("RegisterOwner(%q, %q) while another token holds its lease = %v, want ErrOwnerTaken", owner, token, err)
	}
}

// claim runs ClaimExpired now for owner and fails the test on error.
func claim(t *testing.T, s lro.Store, owner string, limit int) []*lro.Record {
	t.Helper()
	got, err := s.ClaimExpired(t.Context(), lro.ClaimParams{Owner: owner, Now: time.Now(), Limit: limit})
	if err != nil {
		t.Fatalf("ClaimExpired(%q, %d): %v", owner, limit, err)
	}
	return got
}

// owned returns a running record named name, owned by owner.
func owned(t *testing.T, name, owner string) *lro.Record {
	r := fullRecord(t, name, at(0))
	r.RequestID = ""
	r.Owner = owner
	return r
}

func testRegisterExclusive(t *testing.T, s lro.Store) {
	register(t, s, "a", "a-1", leaseFor)
	wantTaken(t, s, "a", "a-2")
	register(t, s, "a", "a-1", leaseFor) // the holder may register again
	register(t, s, "b", "b-1", leaseFor) // ids are independent
	wantRenew(t, s, "a", "a-2", leaseFor, lro.ErrLeaseLost)
	wantRenew(t, s, "a", "a-1", leaseFor, nil)
	wantRenew(t, s, "b", "b-1", leaseFor, nil)
	wantRenew(t, s, "never-registered", "x", leaseFor, lro.ErrLeaseLost)
}

func testRegisterTakesOverLapsed(t *testing.T, s lro.Store) {
	register(t, s, "a", "a-1", -leaseFor) // ran out at once
	register(t, s, "a", "a-2", leaseFor)
	wantRenew(t, s, "a", "a-1", leaseFor, lro.ErrLeaseLost)
	wantRenew(t, s, "a", "a-2", leaseFor, nil)
	wantTaken(t, s, "a", "a-3")
}

func testRenewLapsed(t *testing.T, s lro.Store) {
	register(t, s, "a", "a-1", leaseFor)
	wantRenew(t, s, "a", "a-1", -leaseFor, nil) // renewed to run out at once
	wantRenew(t, s, "a", "a-1", leaseFor, lro.ErrLeaseLost)
	register(t, s, "a", "a-2", leaseFor) // a lapsed lease is free
}

func testRelease(t *testing.T, s lro.Store) {
	register(t, s, "a", "a-1", leaseFor)
	if err := s.ReleaseOwner(t.Context(), leaseParams("a", "a-2", 0)); err != nil {
		t.Fatalf("ReleaseOwner with another token: %v", err)
	}
	wantTaken(t, s, "a", "a-3")
	if err := s.ReleaseOwner(t.Context(), leaseParams("a", "a-1", 0)); err != nil {
		t.Fatalf("ReleaseOwner: %v", err)
	}
	wantRenew(t, s, "a", "a-1", leaseFor, lro.ErrLeaseLost)
	register(t, s, "a", "a-3", leaseFor) // free at once
	if err := s.ReleaseOwner(t.Context(), leaseParams("never-registered", "x", 0)); err != nil {
		t.Fatalf("ReleaseOwner of an unknown owner: %v", err)
	}
}

// testRenewWritesNoRecord: renewing costs one lease, whatever the owner
// runs: no record changes, not even its Version or LeaseExpireTime.
func testRenewWritesNoRecord(t *testing.T, s lro.Store) {
	register(t, s, "a", "a-1", leaseFor)
	var stored []*lro.Record
	for i := range 3 {
		stored = append(stored, create(t, s, owned(t, fmt.Sprintf("operations/a%d", i), "a")))
	}
	wantRenew(t, s, "a", "a-1", leaseFor, nil)
	for _, r := range stored {
		wantSame(t, "Get after RenewLeases", get(t, s, r.Operation.GetName()), r)
	}
}

func testClaimExpiredSelects(t *testing.T, s lro.Store) {
	register(t, s, "live", "live-1", leaseFor)
	register(t, s, "lapsed", "lapsed-1", -leaseFor)
	register(t, s, "released", "released-1", leaseFor)
	if err := s.ReleaseOwner(t.Context(), leaseParams("released", "released-1", 0)); err != nil {
		t.Fatal(err)
	}
	register(t, s, "owner-z", "z-1", leaseFor)
	mk := func(name, owner string, lease time.Time, done bool) *lro.Record {
		r := owned(t, name, owner)
		r.LeaseExpireTime = lease // judged by no store
		if done {
			finish(t, r, at(24*time.Hour))
		}
		return r
	}
	past, future := time.Now().Add(-24*time.Hour), time.Now().Add(24*time.Hour)
	recs := []*lro.Record{
		mk("operations/lapsed", "lapsed", future, false),
		mk("projects/p/operations/released", "released", future, false),
		mk("operations/never-registered", "never-registered", time.Time{}, false),
		mk("operations/live", "live", past, false),
		mk("operations/live-zero", "live", time.Time{}, false),
		mk("operations/lapsed-done", "lapsed", past, true),
		mk("operations/unowned", "", past, false),
		mk("operations/claimers-own", "owner-z", past, false),
	}
	stored := map[string]*lro.Record{}
	for _, r := range recs {
		stored[r.Operation.Name] = create(t, s, r)
	}
	claimed := claim(t, s, "owner-z", 100)
	wantClaimed := []string{"operations/lapsed", "operations/never-registered", "projects/p/operations/released"}
	gotNames := names(claimed)
	slices.Sort(gotNames)
	if diff := cmp.Diff(wantClaimed, gotNames); diff != "" {
		t.Fatalf("ClaimExpired claimed the wrong records (-want +got):\n%s", diff)
	}
	for _, r := range claimed {
		name := r.Operation.GetName()
		want := stored[name].Clone()
		want.Owner = "owner-z" // and nothing else changes, LeaseExpireTime included
		wantRecord(t, "ClaimExpired result", r, want)
		got := get(t, s, name)
		wantSame(t, "Get of a claimed record", got, r)
		if got.Version <= stored[name].Version {
			t.Errorf("claimed %q: Version = %d, want more than %d", name, got.Version, stored[name].Version)
		}
	}
	for _, name := range []string{"operations/live", "operations/live-zero", "operations/lapsed-done", "operations/unowned", "operations/claimers-own"} {
		wantSame(t, "Get of a record ClaimExpired skips", get(t, s, name), stored[name])
	}
	if again := claim(t, s, "owner-w", 100); len(again) != 0 {
		t.Errorf("second ClaimExpired = %v; want nothing", names(again))
	}
}

func testClaimExpiredLimit(t *testing.T, s lro.Store) {
	for i := range 5 {
		create(t, s, owned(t, fmt.Sprintf("operations/c%d", i), "dead"))
	}
	claimedBy := map[string]int{}
	for i, tc := range []struct{ limit, want int }{{0, 0}, {2, 2}, {2, 2}, {2, 1}, {2, 0}} {
		owner := fmt.Sprintf("owner-%d", i)
		register(t, s, owner, owner, leaseFor)
		got := claim(t, s, owner, tc.limit)
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
	register(t, s, "alive", "alive-1", leaseFor)
	for _, r := range []struct{ name, owner string }{
		{"operations/finished", "dead"},
		{"operations/disowned", "dead"},
		{"operations/given-to-alive", "dead"},
		{"operations/given-to-dead", "alive"},
		{"operations/owned", ""},
	} {
		create(t, s, owned(t, r.name, r.owner))
	}
	update(t, s, "operations/finished", func(r *lro.Record) { finish(t, r, at(24*time.Hour)) })
	update(t, s, "operations/disowned", func(r *lro.Record) { r.Owner = "" })
	update(t, s, "operations/given-to-alive", func(r *lro.Record) { r.Owner = "alive" })
	update(t, s, "operations/given-to-dead", func(r *lro.Record) { r.Owner = "dead" })
	update(t, s, "operations/owned", func(r *lro.Record) { r.Owner = "dead" })

	got := names(claim(t, s, "owner-z", 10))
	slices.Sort(got)
	if diff := cmp.Diff([]string{"operations/given-to-dead", "operations/owned"}, got); diff != "" {
		t.Errorf("ClaimExpired after Updates claimed the wrong records (-want +got):\n%s", diff)
	}
}

// testClaimExpiredAfterRegister: an owner that registers again, after its
// lease lapsed, holds its records again; they are not claimed, and
// ListOwned finds them.
func testClaimExpiredAfterRegister(t *testing.T, s lro.Store) {
	register(t, s, "a", "a-1", leaseFor)
	create(t, s, owned(t, "operations/held", "a"))
	wantRenew(t, s, "a", "a-1", -leaseFor, nil) // lapses
	register(t, s, "a", "a-2", leaseFor)
	if got := claim(t, s, "owner-z", 10); len(got) != 0 {
		t.Errorf("ClaimExpired after its owner registered again = %v, want nothing", names(got))
	}
	wantNames(t, "ListOwned after registering again", listOwned(t, s, lro.OwnedQuery{Owner: "a", Limit: 10}), []string{"operations/held"})
}

func testClaimExpiredConcurrent(t *testing.T, s lro.Store) {
	const (
		records  = 24
		claimers = 6
	)
	for i := range records {
		create(t, s, owned(t, fmt.Sprintf("projects/p/operations/c%02d", i), "dead"))
	}
	for c := range claimers {
		register(t, s, fmt.Sprintf("claimer-%d", c), "t", leaseFor)
	}
	claims := make([][]string, claimers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for c := range claimers {
		wg.Go(func() {
			<-start
			for range records + 1 {
				got, err := s.ClaimExpired(t.Context(), lro.ClaimParams{Owner: fmt.Sprintf("claimer-%d", c), Now: time.Now(), Limit: 3})
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

// testClaimExpiredNotifies: watchers of a claimed record hear of its new
// owner, so that the replica that ran it can stop.
func testClaimExpiredNotifies(t *testing.T, s lro.Store) {
	const name = "operations/claimed"
	create(t, s, owned(t, name, "dead"))
	w := watch(t, s, name)
	if got := claim(t, s, "owner-z", 10); len(got) != 1 {
		t.Fatalf("ClaimExpired = %v, want %q", names(got), name)
	}
	w.waitFor(t, "naming the claimer as the Owner", func(ev lro.Event) bool {
		return ev == lro.Event{Name: name, Owner: "owner-z"}
	})
	update(t, s, name, func(r *lro.Record) { r.Owner = "owner-y" })
	w.waitFor(t, "naming the new Owner after Update", func(ev lro.Event) bool {
		return ev == lro.Event{Name: name, Owner: "owner-y"}
	})
	w.checkNames(t)
}

// listOwned runs ListOwned and fails the test on error.
func listOwned(t *testing.T, s lro.Store, q lro.OwnedQuery) []*lro.Record {
	t.Helper()
	got, err := s.ListOwned(t.Context(), q)
	if err != nil {
		t.Fatalf("ListOwned(%+v): %v", q, err)
	}
	return got
}

func testListOwned(t *testing.T, s lro.Store) {
	var want []*lro.Record
	for _, n := range []string{"operations/b", "projects/p/operations/a", "operations/c", "operations/a"} {
		want = append(want, create(t, s, owned(t, n, "a")))
	}
	done := owned(t, "operations/done", "a")
	finish(t, done, at(time.Hour))
	create(t, s, done)
	create(t, s, owned(t, "operations/other", "b"))
	create(t, s, owned(t, "operations/none", ""))
	slices.SortFunc(want, func(x, y *lro.Record) int { return strings.Compare(x.Operation.GetName(), y.Operation.GetName()) })

	all := listOwned(t, s, lro.OwnedQuery{Owner: "a", Limit: 10})
	wantNames(t, "ListOwned", all, names(want))
	for i, r := range all {
		wantSame(t, "ListOwned result", r, want[i])
	}
	var paged []string
	for after := ""; ; {
		page := listOwned(t, s, lro.OwnedQuery{Owner: "a", After: after, Limit: 3})
		paged = append(paged, names(page)...)
		if len(page) < 3 {
			break
		}
		after = page[len(page)-1].Operation.GetName()
	}
	if diff := cmp.Diff(names(want), paged); diff != "" {
		t.Errorf("ListOwned in pages of 3 (-want +got):\n%s", diff)
	}
	wantNames(t, "ListOwned with limit 0", listOwned(t, s, lro.OwnedQuery{Owner: "a"}), nil)
	wantNames(t, "ListOwned of an owner with none", listOwned(t, s, lro.OwnedQuery{Owner: "c", Limit: 10}), nil)
	wantNames(t, "ListOwned of the empty owner", listOwned(t, s, lro.OwnedQuery{Owner: "", Limit: 10}), nil)
}
