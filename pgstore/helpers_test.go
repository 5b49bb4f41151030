package pgstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/internal/pgtest"
)

// envURL names the variable holding the test database URL.
const envURL = pgtest.EnvURL

// testURL returns the test database URL (see pgtest.URL).
func testURL(t testing.TB) string { return pgtest.URL(t) }

// freshSchema creates a schema of the test's own, dropped at the end.
func freshSchema(t testing.TB) string { return pgtest.FreshSchema(t, testURL(t), "lro_test_") }

// newPool returns a pool whose search_path is schema, closed at the end of
// the test.
func newPool(t testing.TB, schema string, maxConns int32) *pgxpool.Pool {
	return pgtest.Pool(t, testURL(t), schema, maxConns)
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
