package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lrokit/lro"
)

// envURL names the variable holding the test database URL.
const envURL = "LRO_TEST_DATABASE_URL"

// testURL returns the test database URL, skipping the test when it is
// unset, or failing it when running in CI, where the database must be there.
func testURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(envURL)
	if url == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set, but CI is: the PostgreSQL tests must run in CI (see .ci/run)", envURL)
		}
		t.Skipf("%s is not set; set it to a PostgreSQL database URL (e.g. postgres://user@127.0.0.1:5432/lro_test?sslmode=disable) to run the PostgreSQL tests", envURL)
	}
	return url
}

// freshSchema creates a schema of its own for the test, dropped at the end,
// so that tests can run in parallel on one database.
func freshSchema(t testing.TB) string {
	t.Helper()
	url := testURL(t)
	ctx := context.Background()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "lro_test_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connecting to %s: %v", envURL, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("creating schema: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("connecting to drop schema: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	return schema
}

// newPool returns a pool whose search_path is schema, closed at the end of
// the test.
func newPool(t testing.TB, schema string, maxConns int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testURL(t))
	if err != nil {
		t.Fatalf("parsing %s: %v", envURL, err)
	}
	cfg.MaxConns = maxConns
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("making pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// newStore returns a migrated Store in schema, closed at the end of the
// test.
func newStore(t testing.TB, schema string, opts ...Option) *Store {
	t.Helper()
	pool := newPool(t, schema, 4)
	s, err := New(context.Background(), pool, append([]Option{WithAutoMigrate()}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// baseTime is a fixed, microsecond-precision time for records.
var baseTime = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)

// rec returns a running record named parent/operations/id (or
// operations/id), created at baseTime plus age seconds.
func rec(parent, id string, age int) *lro.Record {
	name := "operations/" + id
	if parent != "" {
		name = parent + "/" + name
	}
	t := baseTime.Add(time.Duration(age) * time.Second)
	return &lro.Record{
		Operation:  &longrunningpb.Operation{Name: name},
		Parent:     parent,
		CreateTime: t,
		UpdateTime: t,
	}
}

// mustCreate creates r or fails the test.
func mustCreate(t testing.TB, s *Store, r *lro.Record) *lro.Record {
	t.Helper()
	got, created, err := s.Create(context.Background(), r)
	if err != nil || !created {
		t.Fatalf("Create(%q) = created %v, %v; want created", r.Operation.GetName(), created, err)
	}
	return got
}

// events collects a watcher's events on a channel.
func events(s *Store, name string) (<-chan lro.Event, func()) {
	ch := make(chan lro.Event, 100)
	stop := s.Watch(name, func(ev lro.Event) {
		select {
		case ch <- ev:
		default:
			panic(fmt.Sprintf("watcher of %q: event buffer full", name))
		}
	})
	return ch, stop
}

// waitEvent waits for an event satisfying ok, failing the test after a
// generous timeout.
func waitEvent(t testing.TB, ch <-chan lro.Event, what string, ok func(lro.Event) bool) lro.Event {
	t.Helper()
	timeout := time.NewTimer(20 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case ev := <-ch:
			if ok(ev) {
				return ev
			}
		case <-timeout.C:
			t.Fatalf("no event: %s", what)
			return lro.Event{}
		}
	}
}
