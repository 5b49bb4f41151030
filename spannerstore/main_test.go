package spannerstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"github.com/lrokit/lro/spannerstore"
	"github.com/lrokit/lro/spannerstore/internal/emulator"
)

// TestMain starts the Cloud Spanner emulator, and says in one line when
// the tests skipped for want of it.
func TestMain(m *testing.M) { emulator.Main(m, "spannerstore") }

// newStore returns a Store on a fresh, migrated database of the test's own.
func newStore(t *testing.T, opts ...spannerstore.Option) (*spannerstore.Store, *emulator.DB) {
	t.Helper()
	db := emulator.Database(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := spannerstore.Migrate(ctx, db.Admin, db.Client, db.Name); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	s := spannerstore.New(db.Client, opts...)
	t.Cleanup(func() { s.Close() })
	return s, db
}

// TestConformance runs the suite on Stores that watch only their own
// changes (no change stream).
func TestConformance(t *testing.T) {
	lrotest.TestStore(t, func(t *testing.T) lro.Store {
		s, _ := newStore(t, spannerstore.WithoutChangeStream())
		return s
	})
}

// TestReplicas runs the shared multi-replica scenarios on one emulator
// database, every replica a Store with a Spanner client of its own. An
// hour between polls: only the change stream can wake a waiter on another
// replica or reach work running there.
func TestReplicas(t *testing.T) {
	lrotest.TestReplicas(t, func(t *testing.T) func(t *testing.T) lro.Store {
		oneAtATime(t)
		_, db := newStore(t, spannerstore.WithoutChangeStream())
		return func(t *testing.T) lro.Store {
			return replica(t, db, spannerstore.WithPollInterval(time.Hour))
		}
	})
}

// scenarios runs the multi-replica scenarios one at a time.
var scenarios sync.Mutex

// oneAtATime holds the rest of the test until no other scenario runs, and
// until it ends (after the scenario's stores closed). The emulator runs one
// read-write transaction at a time (and its change stream queries conflict
// with them), so scenarios run together starve each other's lease
// renewals, which their leases of a second or two cannot bear.
func oneAtATime(t *testing.T) {
	scenarios.Lock()
	t.Cleanup(scenarios.Unlock)
}

// TestReplicasPolled runs them without the change stream: changes from
// another replica are seen through the Manager's poll alone.
func TestReplicasPolled(t *testing.T) {
	lrotest.TestReplicas(t, func(t *testing.T) func(t *testing.T) lro.Store {
		oneAtATime(t)
		_, db := newStore(t, spannerstore.WithoutChangeStream())
		return func(t *testing.T) lro.Store {
			return replica(t, db, spannerstore.WithoutChangeStream(), spannerstore.WithPollInterval(50*time.Millisecond))
		}
	})
}

// TestConformanceWithStream runs the suite on Stores that read the change
// stream: its events (late duplicates of the Store's own) must keep the
// Watch contract.
func TestConformanceWithStream(t *testing.T) {
	lrotest.TestStore(t, func(t *testing.T) lro.Store {
		s, _ := newStore(t)
		return s
	})
}
