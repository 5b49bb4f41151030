package pgstore_test

import (
	"context"
	"log"
	"os"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/pgstore"
	"google.golang.org/grpc"
)

// Every replica of a service opens the same database and serves the
// Operations API from it; any replica answers for any operation.
func Example() {
	ctx := context.Background()
	store, err := pgstore.Open(ctx, os.Getenv("DATABASE_URL"), pgstore.WithAutoMigrate())
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	m, err := lro.New(lro.WithStore(store))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close(ctx)

	srv := grpc.NewServer()
	longrunningpb.RegisterOperationsServer(srv, m)
	// ... register the service's own API, whose handlers call m.Start, and
	// serve.
}
