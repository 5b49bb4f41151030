package spannerstore_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"github.com/lrokit/lro/spannerstore"
)

// waitNotifying waits until s reads its change stream and has caught up.
func waitNotifying(t *testing.T, s *spannerstore.Store) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !s.Notifying(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Notifying stayed false: the change stream reader did not start")
		}
	}
}

// TestChangeStreamAcross: a change committed through one Store reaches a
// watcher on another (with a client of its own) through the change stream,
// updates and deletions alike, and Notifying is false once Close stopped
// the reader. It logs the latency from commit to event.
func TestChangeStreamAcross(t *testing.T) {
	a, db := newStore(t, spannerstore.WithoutChangeStream())
	b := replica(t, db, spannerstore.WithPollInterval(time.Hour))
	waitNotifying(t, b)
	ctx := context.Background()
	r := lrotest.NewRecord("projects/p/operations/x", time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC))
	r.Owner = "replica-a"
	if _, _, err := a.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	events := make(chan lro.Event, 100)
	stop := b.Watch(r.Operation.GetName(), func(ev lro.Event) { events <- ev })
	defer stop()
	next := func(what string, ok func(lro.Event) bool) {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case ev := <-events:
				if ok(ev) {
					return
				}
			case <-timeout:
				t.Fatalf("no event for %s", what)
			}
		}
	}
	var lat []time.Duration
	for i := range 10 {
		t0 := time.Now()
		if _, err := a.Update(ctx, r.Operation.GetName(), func(rec *lro.Record) error {
			rec.CancelRequested = i%2 == 0
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		want := i%2 == 0
		next("update", func(ev lro.Event) bool {
			return ev.CancelRequested == want && ev.Owner == "replica-a" && !ev.Deleted
		})
		lat = append(lat, time.Since(t0))
	}
	if err := a.Delete(ctx, r.Operation.GetName()); err != nil {
		t.Fatal(err)
	}
	next("delete", func(ev lro.Event) bool { return ev.Deleted })
	slices.Sort(lat)
	t.Logf("emulator: commit to event on another Store, over %d updates: median %v, max %v", len(lat), lat[len(lat)/2], lat[len(lat)-1])
	b.Close()
	if b.Notifying() {
		t.Error("Notifying = true after Close")
	}
}
