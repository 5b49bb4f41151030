package lro

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Close and its stages: stop taking work, let the work finish until
// Close's context ends, cut it short, and give up, after a grace, on work
// that ignores its cancelled context.

// ErrWorkAbandoned is wrapped by the error Close returns when it gave up
// on work that was still running when its grace ended (see Close).
var ErrWorkAbandoned = errors.New("lro: work abandoned")

const (
	// abandonWriteTimeout bounds the writes that end the operations of
	// abandoned work.
	abandonWriteTimeout = time.Second
	// maxNamed is how many abandoned operations Close's error names.
	maxNamed = 10
)

// Close stops the Manager. New starts fail with UNAVAILABLE at once.
// Running work may finish until ctx ends; then its context is cancelled
// and the operations it leaves unfinished end with UNAVAILABLE. Work
// functions still queued here end with UNAVAILABLE at once; queued
// operations of registered kinds stay queued in the store for other
// replicas.
//
// Work that ignores its cancelled context gets a grace (WithCloseGrace, 5
// s by default) to return. Then Close gives up on it: it makes one
// best-effort write, bounded to one second, that ends each such operation
// with UNAVAILABLE (should it fail, the lease lapses and another replica
// takes the operation over), and returns an error that wraps
// ErrWorkAbandoned and names the operations. The goroutines running
// abandoned work cannot be stopped: each runs on until its work returns,
// and the result is dropped. So Close returns at most the grace plus one
// second after ctx ends.
//
// Close returns when every other goroutine the Manager started has ended:
// with nil, or with an error wrapping ctx's error if it had to cut work
// short. It may be called more than once, and concurrently: every call
// returns once the Manager has stopped, with the same result, and the
// first call whose ctx ends cuts the work short. Once stopped, the Manager
// releases its owner id, so that a new Manager may take it at once. Close
// does not close the Store. A nil ctx is an INVALID_ARGUMENT error and
// closes nothing.
func (m *Manager) Close(ctx context.Context) error {
	if err := m.checkContext(ctx, "Close"); err != nil {
		return err
	}
	m.mu.Lock()
	first := !m.closed
	var queued []*localEntry
	if first {
		m.closed = true
		close(m.closing)
		if m.tasks == 0 {
			close(m.drained)
		}
		queued = m.takeLocal()
	}
	m.mu.Unlock()
	if first {
		m.stopQueue()
		// Work functions still queued here can run nowhere else: they end.
		for _, e := range queued {
			e.stopDeadline()
			m.abandonQueued(ctx, e.name)
		}
		m.closeErr = m.shutdown(ctx)
		close(m.stopped)
		return m.closeErr
	}
	select {
	case <-m.stopped:
	case <-ctx.Done():
		m.cutShort(ctx.Err())
		<-m.stopped
	}
	return m.closeErr
}

// cutShort asks the first Close to cut the work short because of cause;
// the first call decides the cause.
func (m *Manager) cutShort(cause error) {
	m.cutOnce.Do(func() {
		m.cutCause = cause
		close(m.cut)
	})
}

// shutdown is the first Close's work once it has stopped taking work: it
// waits for the work to end, cutting it short when a Close's ctx ends and
// giving up on it after the grace, then stops everything else.
func (m *Manager) shutdown(ctx context.Context) error {
	select {
	case <-m.drained:
		return m.stop(nil)
	case <-ctx.Done():
		m.cutShort(ctx.Err())
	case <-m.cut:
	}
	<-m.cut
	err := fmt.Errorf("lro: closing: work cut short: %w", m.cutCause)
	m.mu.Lock()
	for _, t := range m.running {
		t.cancel(errClosing)
	}
	m.mu.Unlock()
	// Cut-short work still makes one attempt to record UNAVAILABLE;
	// retries stop, and the lease lets another replica take over.
	m.abandonCancel()
	grace := m.clock.NewTimer(m.cfg.closeGrace)
	select {
	case <-m.drained:
		grace.Stop()
	case <-grace.C():
		err = m.abandonWork(err)
	}
	return m.stop(err)
}

// stop ends the Manager's loops and pool workers, all but those running
// abandoned work, and returns err.
func (m *Manager) stop(err error) error {
	m.abandonCancel()
	close(m.stopBG)
	m.bg.Wait()
	m.releaseLease()
	m.workers.close(m.stuck)
	m.writeCancel()
	m.obs.close()
	return err
}

// abandonWork gives up on the work still running after the grace: its
// results will be dropped, its finishing writes in flight are cancelled,
// and its operations end with UNAVAILABLE, best effort. It returns cause
// with what was abandoned, or cause alone if the work ended meanwhile.
func (m *Manager) abandonWork(cause error) error {
	m.mu.Lock()
	m.giveUp = true
	names := make([]string, 0, len(m.running))
	for name, t := range m.running {
		t.abandoned.Store(true)
		names = append(names, name)
	}
	m.mu.Unlock()
	if len(names) == 0 {
		return cause
	}
	m.writeCancel()
	slices.Sort(names)
	ctx, cancel := context.WithTimeout(context.Background(), abandonWriteTimeout)
	defer cancel()
	for _, name := range names {
		if err := m.finishByUpdate(ctx, name, 0, failed(m.closingStatus(name)))(); err != nil && !errors.Is(err, ErrLeaseLost) {
			m.log.Warn("lro: ending abandoned work's operation; its lease will lapse and another replica will take it over", "operation", name, "error", err)
		}
	}
	named := names
	if len(named) > maxNamed {
		named = append(named[:maxNamed:maxNamed], fmt.Sprintf("and %d more", len(names)-maxNamed))
	}
	m.log.Error("lro: closing: gave up on work that ignored its cancelled context; it is left running and its results will be dropped", "operations", len(names), "grace", m.cfg.closeGrace)
	return fmt.Errorf("%w; %w after the %v grace: %d operations whose work ignored its cancelled context, left running, their results dropped: %s",
		cause, ErrWorkAbandoned, m.cfg.closeGrace, len(names), strings.Join(named, ", "))
}

// stuck counts the abandoned work still running on a pool worker.
func (m *Manager) stuck() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, t := range m.running {
		if t.launched {
			n++
		}
	}
	return n
}
