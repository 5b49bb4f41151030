package lro

// SetAfterSweep installs a hook called after every sweep, for tests.
func SetAfterSweep(m *Manager, f func(n int)) { m.afterSweep = f }

// SetAfterMaintain installs a hook called after every lease round, for tests.
func SetAfterMaintain(m *Manager, f func()) { m.afterMaintain = f }
