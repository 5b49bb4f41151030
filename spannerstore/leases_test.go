package spannerstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/spannerstore"
)

// TestLeasesJudgedBySpannerClock: the Manager's time is ignored: a lease
// of a minute taken "an hour from now" still holds against a registration
// that claims to be a day later, and a lease of zero has lapsed at once
// whatever Now says.
func TestLeasesJudgedBySpannerClock(t *testing.T) {
	s, _ := newStore(t, spannerstore.WithoutChangeStream())
	ctx := context.Background()
	now := time.Now()
	if err := s.RegisterOwner(ctx, lro.LeaseParams{Owner: "a", Token: "t1", Now: now.Add(time.Hour), Lease: time.Minute}); err != nil {
		t.Fatal(err)
	}
	err := s.RegisterOwner(ctx, lro.LeaseParams{Owner: "a", Token: "t2", Now: now.Add(24 * time.Hour), Lease: time.Minute})
	if !errors.Is(err, lro.ErrOwnerTaken) {
		t.Fatalf("RegisterOwner with a later Now = %v; want ErrOwnerTaken", err)
	}
	if err := s.RegisterOwner(ctx, lro.LeaseParams{Owner: "b", Token: "t1", Now: now.Add(-24 * time.Hour), Lease: 0}); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterOwner(ctx, lro.LeaseParams{Owner: "b", Token: "t2", Now: now.Add(-48 * time.Hour), Lease: time.Minute}); err != nil {
		t.Errorf("RegisterOwner over a lease of zero = %v; want it taken over", err)
	}
}

// TestMigrateTwice: Migrate on a migrated database changes nothing and
// succeeds.
func TestMigrateTwice(t *testing.T) {
	_, db := newStore(t, spannerstore.WithoutChangeStream())
	if err := spannerstore.Migrate(context.Background(), db.Admin, db.Client, db.Name); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
}
