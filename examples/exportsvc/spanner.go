package main

import (
	"context"
	"flag"
	"fmt"
	"regexp"

	"cloud.google.com/go/spanner"
	database "cloud.google.com/go/spanner/admin/database/apiv1"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/spannerstore"
)

// spannerDB matches a Cloud Spanner database path.
var spannerDB = regexp.MustCompile(`^projects/[^/]+/instances/[^/]+/databases/[^/]+$`)

// spannerFlag registers --spanner on fs and returns where its value goes:
// the database to keep operations in, or "" for none.
func spannerFlag(fs *flag.FlagSet) *string {
	return fs.String("spanner", "", "keep operations in this Cloud Spanner `database` (projects/P/instances/I/databases/D), shared by replicas, instead of in memory")
}

// openSpannerStore opens the Cloud Spanner database db, brings its schema
// up to date (spannerstore.Migrate), and returns a store on it with the
// function that closes the store and its client, to call after the server
// shut down. It fails, saying which step, for a malformed path or when the
// database cannot be reached or migrated. The clients honour
// SPANNER_EMULATOR_HOST.
func openSpannerStore(ctx context.Context, db string) (lro.Store, func(), error) {
	if !spannerDB.MatchString(db) {
		return nil, nil, fmt.Errorf("--spanner %q: want projects/P/instances/I/databases/D", db)
	}
	admin, err := database.NewDatabaseAdminClient(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("--spanner: database admin client: %w", err)
	}
	defer admin.Close()
	client, err := spanner.NewClient(ctx, db)
	if err != nil {
		return nil, nil, fmt.Errorf("--spanner: client: %w", err)
	}
	if err := spannerstore.Migrate(ctx, admin, client, db); err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("--spanner: %w", err)
	}
	store := spannerstore.New(client)
	return store, func() {
		store.Close()
		client.Close()
	}, nil
}
