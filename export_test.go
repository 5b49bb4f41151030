package lro

// SetAfterSweep installs a hook called after every sweep, for tests.
func SetAfterSweep(m *Manager, f func(n int)) { m.afterSweep = f }

// SetAfterMaintain installs a hook called after every lease round, for tests.
func SetAfterMaintain(m *Manager, f func()) { m.afterMaintain = f }

// SetAfterWaitPoll installs a hook called after every pass of the
// waiters' fallback re-read, for tests.
func SetAfterWaitPoll(m *Manager, f func()) { m.afterWaitPoll = f }

// Closing returns a channel closed once Close has begun, for tests.
func Closing(m *Manager) <-chan struct{} { return m.closing }

// Len returns how many operations the store holds, for tests.
func (s *MemoryStore) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.recs)
}

// SetBetweenChunks installs a hook List calls between the chunks of a
// scan, with no lock held, for tests.
func (s *MemoryStore) SetBetweenChunks(f func()) { s.betweenChunks = f }

// MemListChunk is how many records List examines per hold of the lock.
const MemListChunk = memListChunk
