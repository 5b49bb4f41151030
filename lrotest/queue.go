package lrotest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lrokit/lro"
	"google.golang.org/protobuf/types/known/anypb"
)

// The ClaimQueued cases: which queued records a claim takes, in which
// order, what it writes, and that concurrent claimers share nothing and
// never exceed a global limit.

// queued returns a queued record of kind, created at created.
func queued(name, kind string, created time.Time) *lro.Record {
	r := NewRecord(name, created)
	r.Kind = kind
	r.Request = &anypb.Any{TypeUrl: "type.googleapis.com/google.protobuf.StringValue"}
	r.TraceParent = TraceParent
	return r
}

func claimQueued(t *testing.T, s lro.Store, p lro.QueueClaimParams) []*lro.Record {
	t.Helper()
	got, err := s.ClaimQueued(t.Context(), p)
	if err != nil {
		t.Fatalf("ClaimQueued(%+v): %v", p, err)
	}
	return got
}

func testClaimQueuedSelects(t *testing.T, s lro.Store) {
	now := Epoch.Add(time.Hour)
	create(t, s, queued("operations/q1", "a", Epoch.Add(1*time.Second)))
	create(t, s, queued("operations/q0", "a", Epoch)) // oldest first
	create(t, s, queued("operations/q2", "b", Epoch.Add(2*time.Second)))
	later := queued("operations/later", "a", Epoch)
	later.RunAfter = now.Add(time.Second) // not due yet
	create(t, s, later)
	started := queued("operations/started", "a", Epoch)
	started.StartTime = Epoch // running, not queued
	started.Owner = "x"
	create(t, s, started)
	plain := NewRecord("operations/plain", Epoch) // no kind
	create(t, s, plain)
	done := queued("operations/done", "a", Epoch)
	done.Operation.Done = true
	create(t, s, done)

	got := claimQueued(t, s, lro.QueueClaimParams{Owner: "me", Now: now, Kinds: map[string]int{"a": 5}, Limit: 10})
	if n := names(got); len(n) != 2 || n[0] != "operations/q0" || n[1] != "operations/q1" {
		t.Fatalf("claimed %v; want q0 then q1", n)
	}
	for _, r := range got {
		if r.Owner != "me" || !r.StartTime.Equal(now) || r.Attempt != 1 {
			t.Errorf("claimed %q: owner %q start %v attempt %d; want me, now, 1", r.Operation.GetName(), r.Owner, r.StartTime, r.Attempt)
		}
		if r.TraceParent != TraceParent {
			t.Errorf("claimed %q: TraceParent %q; want %q as created", r.Operation.GetName(), r.TraceParent, TraceParent)
		}
		if stored := get(t, s, r.Operation.GetName()); stored.Owner != "me" || !stored.StartTime.Equal(now) || stored.Queued() {
			t.Errorf("stored %q: owner %q start %v", r.Operation.GetName(), stored.Owner, stored.StartTime)
		}
	}
	if again := claimQueued(t, s, lro.QueueClaimParams{Owner: "me", Now: now, Kinds: map[string]int{"a": 5}, Limit: 10}); len(again) != 0 {
		t.Errorf("claimed %v again", names(again))
	}
	// Due later.
	got = claimQueued(t, s, lro.QueueClaimParams{Owner: "me", Now: now.Add(time.Second), Kinds: map[string]int{"a": 5, "b": 1}, Limit: 10})
	if n := names(got); len(n) != 2 || n[0] != "operations/later" || n[1] != "operations/q2" {
		t.Errorf("claimed %v; want later and q2", n)
	}
}

func testClaimQueuedLimits(t *testing.T, s lro.Store) {
	for i := range 4 {
		create(t, s, queued(fmt.Sprintf("operations/a%d", i), "a", Epoch.Add(time.Duration(i)*time.Second)))
		create(t, s, queued(fmt.Sprintf("operations/b%d", i), "b", Epoch.Add(time.Duration(i)*time.Second)))
	}
	now := Epoch.Add(time.Hour)
	got := claimQueued(t, s, lro.QueueClaimParams{Owner: "me", Now: now, Kinds: map[string]int{"a": 1, "b": 3}, Limit: 3})
	kinds := map[string]int{}
	for _, r := range got {
		kinds[r.Kind]++
	}
	if len(got) != 3 || kinds["a"] != 1 || kinds["b"] != 2 {
		t.Errorf("claimed %v; want a0, b0, b1 (a at most 1, 3 in all, oldest first)", names(got))
	}
	if got := claimQueued(t, s, lro.QueueClaimParams{Owner: "me", Now: now, Kinds: map[string]int{"a": 0}, Limit: 3}); len(got) != 0 {
		t.Errorf("claimed %v with no slot for the kind", names(got))
	}
	// The global limit counts what runs: 1 of a runs already.
	got = claimQueued(t, s, lro.QueueClaimParams{Owner: "other", Now: now, Kinds: map[string]int{"a": 5}, GlobalLimits: map[string]int{"a": 2}, Limit: 5})
	if len(got) != 1 {
		t.Errorf("claimed %v under a global limit of 2 with 1 running; want 1", names(got))
	}
}

func testClaimQueuedOverdue(t *testing.T, s lro.Store) {
	now := Epoch.Add(time.Hour)
	due := queued("operations/due", "a", Epoch)
	due.Deadline = now
	create(t, s, due)
	notYet := queued("operations/notyet", "a", Epoch)
	notYet.Deadline = now.Add(time.Second)
	create(t, s, notYet)
	ext := NewRecord("operations/external", Epoch) // made by Create: no owner, started
	ext.StartTime = Epoch
	ext.Deadline = now
	create(t, s, ext)
	held := queued("operations/held", "", Epoch)
	held.Owner = "x"
	held.Deadline = now
	create(t, s, held)
	got := claimQueued(t, s, lro.QueueClaimParams{Owner: "me", Now: now, Limit: 10, Overdue: true})
	n := map[string]bool{}
	for _, r := range got {
		n[r.Operation.GetName()] = true
		if r.Owner != "me" || r.Attempt != 0 {
			t.Errorf("overdue %q: owner %q attempt %d; want me, unchanged attempt", r.Operation.GetName(), r.Owner, r.Attempt)
		}
	}
	if len(n) != 2 || !n["operations/due"] || !n["operations/external"] {
		t.Errorf("overdue claim took %v; want due and external", names(got))
	}
}

// testClaimQueuedConcurrent: concurrent claimers never claim a record
// twice, and never run more of a kind than its global limit.
func testClaimQueuedConcurrent(t *testing.T, s lro.Store) {
	const (
		records  = 30
		claimers = 5
		global   = 4
	)
	for i := range records {
		create(t, s, queued(fmt.Sprintf("operations/c%02d", i), "k", Epoch.Add(time.Duration(i)*time.Millisecond)))
	}
	var (
		mu      sync.Mutex
		owner   = map[string]int{}
		running int
		wg      sync.WaitGroup
	)
	start := make(chan struct{})
	for c := range claimers {
		wg.Go(func() {
			<-start
			for {
				got, err := s.ClaimQueued(t.Context(), lro.QueueClaimParams{Owner: fmt.Sprintf("c%d", c), Now: Epoch.Add(time.Hour),
					Kinds: map[string]int{"k": 3}, GlobalLimits: map[string]int{"k": global}, Limit: 3})
				if err != nil {
					t.Errorf("ClaimQueued: %v", err)
					return
				}
				mu.Lock()
				running += len(got)
				if running > global {
					t.Errorf("%d running; the global limit is %d", running, global)
				}
				for _, r := range got {
					if prev, ok := owner[r.Operation.GetName()]; ok {
						t.Errorf("%q claimed by c%d and c%d", r.Operation.GetName(), prev, c)
					}
					owner[r.Operation.GetName()] = c
				}
				finished := len(owner) == records
				mu.Unlock()
				if finished {
					return
				}
				// Finish what was claimed, freeing the slots.
				for _, r := range got {
					name := r.Operation.GetName()
					mu.Lock()
					running-- // before the write, so the count never lags the store
					mu.Unlock()
					if _, err := s.Update(t.Context(), name, func(cur *lro.Record) error {
						cur.Operation.Done = true
						return nil
					}); err != nil {
						t.Errorf("finishing %q: %v", name, err)
					}
				}
				if len(got) == 0 {
					mu.Lock()
					finished = len(owner) == records
					mu.Unlock()
					if finished {
						return
					}
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if len(owner) != records {
		t.Errorf("claimed %d records; want %d", len(owner), records)
	}
}
