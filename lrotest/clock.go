package lrotest

import (
	"sync"
	"time"

	"github.com/lrokit/lro"
)

// Clock is a fake lro.Clock for tests: time stands still until Advance
// moves it, and timers fire only then. WaitForTimers lets a test wait, with
// no sleeping, until the code under test has armed its timers.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	timers  map[*fakeTimer]struct{}
	changed chan struct{} // closed and replaced whenever timers change
}

var _ lro.Clock = (*Clock)(nil)

// NewClock returns a Clock set to start.
func NewClock(start time.Time) *Clock {
	return &Clock{now: start, timers: make(map[*fakeTimer]struct{}), changed: make(chan struct{})}
}

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer that fires when Advance reaches d from now.
func (c *Clock) NewTimer(d time.Duration) lro.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, when: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
		return t
	}
	c.timers[t] = struct{}{}
	c.signal()
	return t
}

// Advance moves the time forward by d and fires the timers that are due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for t := range c.timers {
		if !t.when.After(c.now) {
			delete(c.timers, t)
			t.ch <- c.now
		}
	}
	c.signal()
}

// Timers returns how many timers are armed and not yet fired.
func (c *Clock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// WaitForTimers blocks until at least n timers are armed, or done is
// closed; it reports whether the timers were armed.
func (c *Clock) WaitForTimers(n int, done <-chan struct{}) bool {
	return c.waitUntil(func() bool { return len(c.timers) >= n }, done)
}

// WaitForTimer blocks until a timer is armed that fires d after the
// current fake time, or done is closed; it reports whether one was. A test
// uses it to wait for one timer it knows the length of, whatever other
// timers come and go.
func (c *Clock) WaitForTimer(d time.Duration, done <-chan struct{}) bool {
	return c.waitUntil(func() bool {
		when := c.now.Add(d)
		for t := range c.timers {
			if t.when.Equal(when) {
				return true
			}
		}
		return false
	}, done)
}

// waitUntil blocks until cond, called with c.mu held, holds after a change
// of the timers, or done is closed; it reports whether cond held.
func (c *Clock) waitUntil(cond func() bool, done <-chan struct{}) bool {
	for {
		c.mu.Lock()
		if cond() {
			c.mu.Unlock()
			return true
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-done:
			return false
		}
	}
}

// signal wakes WaitForTimers and WaitForTimer. The caller holds c.mu.
func (c *Clock) signal() {
	close(c.changed)
	c.changed = make(chan struct{})
}

type fakeTimer struct {
	c    *Clock
	when time.Time
	ch   chan time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, ok := t.c.timers[t]
	delete(t.c.timers, t)
	if ok {
		t.c.signal()
	}
	return ok
}
