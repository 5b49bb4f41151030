package spannerstore_test

import (
	"context"
	"testing"

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
