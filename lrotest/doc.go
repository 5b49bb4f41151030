// Package lrotest holds test helpers for package lro and its storage
// backends.
//
// TestStore is a conformance suite that every lro.Store implementation must
// pass. A backend runs it from its own tests with a constructor that returns
// an empty store:
//
//	func TestConformance(t *testing.T) {
//		lrotest.TestStore(t, func(t *testing.T) lro.Store {
//			return mystore.New(t, ...)
//		})
//	}
//
// The suite runs every case as a subtest with a fresh store, uses only
// fixed, microsecond-precision times so that database backends can store them
// exactly, and never sleeps: notifications are awaited on channels with a
// generous timeout, so stores that deliver them late (see lro.Poller) pass
// too.
package lrotest
