package main

import (
	"context"
	"flag"
	"fmt"
	"regexp"

	"cloud.google.com/go/spanner"
	database "cloud.google.com/go/spanner/admin/database/apiv1"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/examples/exportsvc/exportserver"
	"github.com/lrokit/lro/spannerstore"
)

// spannerDB matches a Cloud Spanner database path.
var spannerDB = regexp.MustCompile(`^projects/[^/]+/instances/[^/]+/databases/[^/]+$`)

// spannerFlag registers --spanner on fs. The function it returns, called
// after fs is parsed, does nothing when the flag is empty; otherwise it
// opens the database, brings its schema up to date (spannerstore.Migrate)
// and sets cfg to keep the operations there, and returns the function that
// closes the store and its clients, to call after the server shut down.
// It fails, saying which step, for a malformed path or when the database
// cannot be reached or migrated. The clients honour SPANNER_EMULATOR_HOST.
func spannerFlag(fs *flag.FlagSet) func(ctx context.Context, cfg *exportserver.Config) (closeStore func(), err error) {
	db := fs.String("spanner", "", "keep operations in this Cloud Spanner `database` (projects/P/instances/I/databases/D) instead of in memory, so replicas share them")
	return func(ctx context.Context, cfg *exportserver.Config) (func(), error) {
		if *db == "" {
			return func() {}, nil
		}
		if !spannerDB.MatchString(*db) {
			return nil, fmt.Errorf("--spanner %q: want projects/P/instances/I/databases/D", *db)
		}
		admin, err := database.NewDatabaseAdminClient(ctx)
		if err != nil {
			return nil, fmt.Errorf("--spanner: database admin client: %w", err)
		}
		defer admin.Close()
		client, err := spanner.NewClient(ctx, *db)
		if err != nil {
			return nil, fmt.Errorf("--spanner: client: %w", err)
		}
		if err := spannerstore.Migrate(ctx, admin, client, *db); err != nil {
			client.Close()
			return nil, fmt.Errorf("--spanner: %w", err)
		}
		store := spannerstore.New(client)
		cfg.ManagerOptions = append(cfg.ManagerOptions, lro.WithStore(store))
		return func() {
			store.Close()
			client.Close()
		}, nil
	}
}
