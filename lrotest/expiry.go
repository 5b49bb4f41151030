package lrotest

import (
	"fmt"
	"testing"
	"time"

	"github.com/lrokit/lro"
)

// The DeleteExpired cases.

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
