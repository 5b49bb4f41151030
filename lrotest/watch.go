package lrotest

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lrokit/lro"
)

// The Watch cases, and the watcher that collects their events.

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
