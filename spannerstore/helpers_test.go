package spannerstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/lrokit/lro"

	"cloud.google.com/go/spanner"
	"github.com/lrokit/lro/spannerstore"
	"github.com/lrokit/lro/spannerstore/internal/emulator"
)

// replica returns another Store on db's database, with a Spanner client of
// its own, as another process would have.
func replica(t *testing.T, db *emulator.DB, opts ...spannerstore.Option) *spannerstore.Store {
	t.Helper()
	client, err := spanner.NewClientWithConfig(context.Background(), db.Name, spanner.ClientConfig{
		SessionPoolConfig:    spanner.SessionPoolConfig{MinOpened: 1},
		DisableNativeMetrics: true,
	})
	if err != nil {
		t.Fatalf("spanner client: %v", err)
	}
	s := spannerstore.New(client, opts...)
	t.Cleanup(func() {
		s.Close()
		client.Close()
	})
	return s
}

// newManager returns a Manager on s, closed at the end of the test (before
// s, since cleanups run last first).
func newManager(t *testing.T, s lro.Store, opts ...lro.Option) *lro.Manager {
	t.Helper()
	m, err := lro.New(append([]lro.Option{lro.WithStore(s)}, opts...)...)
	if err != nil {
		t.Fatalf("lro.New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}
