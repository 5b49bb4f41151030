package lro

import (
	"context"
	"errors"
	"sync"
	"time"
)

// The fallback for a Poller store, whose notifications can be lost: one
// pass every PollInterval, for the whole Manager, re-reads the operations
// that blocked WaitOperation calls wait on and wakes the waiters of those
// that are done or gone. While a NotifyHealth store reports that its
// notifications flow, a pass reads nothing, so idle waiters cost the store
// nothing.

// waitPoll holds the wake channels of the blocked WaitOperation calls, by
// operation name.
type waitPoll struct {
	mu      sync.Mutex
	waiting map[string]map[chan<- struct{}]struct{}
}

// add registers wake, a waiter on name, until remove is called.
func (w *waitPoll) add(name string, wake chan<- struct{}) (remove func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waiting == nil {
		w.waiting = make(map[string]map[chan<- struct{}]struct{})
	}
	set := w.waiting[name]
	if set == nil {
		set = make(map[chan<- struct{}]struct{})
		w.waiting[name] = set
	}
	set[wake] = struct{}{}
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		// A set leaves the map only once empty, so wake is still in the
		// one the map holds.
		cur := w.waiting[name]
		delete(cur, wake)
		if len(cur) == 0 {
			delete(w.waiting, name)
		}
	}
}

// names returns the operations waited on.
func (w *waitPoll) names() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	names := make([]string, 0, len(w.waiting))
	for n := range w.waiting {
		names = append(names, n)
	}
	return names
}

// wake wakes the waiters of the named operations.
func (w *waitPoll) wake(names []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, n := range names {
		for wake := range w.waiting[n] {
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}
}

// waitPollLoop polls for the waiters every interval until Close stops it.
func (m *Manager) waitPollLoop(interval time.Duration) {
	defer m.bg.Done()
	for {
		t := m.clock.NewTimer(interval)
		select {
		case <-m.stopBG:
			t.Stop()
			return
		case <-t.C():
		}
		m.pollWaiters(m.abandonCtx)
		if m.afterWaitPoll != nil {
			m.afterWaitPoll()
		}
	}
}

// pollWaiters re-reads the operations waited on, unless the store's
// notifications flow, and wakes the waiters of those that are done or
// gone: in one query for a StateReader, else one Get each.
func (m *Manager) pollWaiters(ctx context.Context) {
	if h, ok := m.store.(NotifyHealth); ok && h.Notifying() {
		return
	}
	names := m.waiting.names()
	if len(names) == 0 {
		return
	}
	var ended []string
	if sr, ok := m.store.(StateReader); ok {
		evs, err := sr.ReadStates(ctx, names)
		if err != nil {
			m.log.Warn("lro: re-reading the operations waited on", "error", err)
			return
		}
		running := make(map[string]bool, len(evs))
		for _, ev := range evs {
			running[ev.Name] = !ev.Done
		}
		for _, n := range names {
			if !running[n] {
				ended = append(ended, n)
			}
		}
	} else {
		for _, n := range names {
			r, err := m.store.Get(ctx, n)
			if errors.Is(err, ErrNotFound) || (err == nil && r.Done()) {
				ended = append(ended, n)
			}
		}
	}
	m.waiting.wake(ended)
}
