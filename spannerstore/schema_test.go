package spannerstore

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/spanner"
	"github.com/lrokit/lro/lrotest"
	"github.com/lrokit/lro/spannerstore/internal/emulator"
	"google.golang.org/protobuf/proto"
)

// migrateTo brings db's schema to version n, recorded, as an older
// release of this package would have.
func migrateTo(t *testing.T, db *emulator.DB, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := applyDDL(ctx, db.Admin, db.Name, []string{migrationsDDL}); err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:n] {
		if err := applyDDL(ctx, db.Admin, db.Name, m.ddl); err != nil {
			t.Fatalf("version %d: %v", m.version, err)
		}
		if _, err := db.Client.Apply(ctx, []*spanner.Mutation{spanner.Insert("lro_schema_migrations",
			[]string{"version", "applied_time"}, []any{m.version, spanner.CommitTimestamp})}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMigrateToVersion3: a database at version 2 with an operation in it
// migrates to version 3; the operation, written before there was a queue,
// has started (start_time = create_time), not queued. Version 3's DDL
// applies again without error, as when two replicas migrate at once.
func TestMigrateToVersion3(t *testing.T) {
	db := emulator.Database(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	migrateTo(t, db, 2)
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	op, err := proto.Marshal(&longrunningpb.Operation{Name: "operations/old"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Client.Apply(ctx, []*spanner.Mutation{spanner.Insert("lro_operations",
		[]string{"name", "parent", "create_time", "update_time", "cancel_requested", "owner", "kind", "attempt", "version", "done", "operation"},
		[]any{"operations/old", "", created, created, false, "", "", int64(0), int64(1), false, op})}); err != nil {
		t.Fatal(err)
	}

	if err := Migrate(ctx, db.Admin, db.Client, db.Name); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	s := New(db.Client, WithoutChangeStream())
	defer s.Close()
	rec, err := s.Get(ctx, "operations/old")
	if err != nil {
		t.Fatal(err)
	}
	if !rec.StartTime.Equal(created) || rec.Queued() {
		t.Errorf("an operation from before version 3: start time %v, queued %v; want %v, not queued", rec.StartTime, rec.Queued(), created)
	}
	if err := applyDDL(ctx, db.Admin, db.Name, migrations[2].ddl); err != nil {
		t.Errorf("version 3's DDL again: %v", err)
	}
}

// TestMigrateToVersion4: a database at version 3 migrates to version 4,
// whose change stream then carries queued records: a Store reading it
// wakes its queue watchers when another Store (with a client of its own)
// records a queued operation. Version 4's DDL applies again without error.
func TestMigrateToVersion4(t *testing.T) {
	db := emulator.Database(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	migrateTo(t, db, 3)
	if err := Migrate(ctx, db.Admin, db.Client, db.Name); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if err := applyDDL(ctx, db.Admin, db.Name, migrations[3].ddl); err != nil {
		t.Errorf("version 4's DDL again: %v", err)
	}
	reader := New(db.Client, WithPollInterval(time.Hour))
	defer reader.Close()
	woken := make(chan struct{}, 100)
	stop := reader.WatchQueue(func() { woken <- struct{}{} })
	defer stop()
	for deadline := time.Now().Add(30 * time.Second); !reader.Notifying(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the change stream reader did not start")
		}
	}
	for len(woken) > 0 { // the catch-up's
		<-woken
	}
	other, err := spanner.NewClient(ctx, db.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	writer := New(other, WithoutChangeStream())
	defer writer.Close()
	var lat []time.Duration
	for i := range 5 {
		r := lrotest.NewRecord(fmt.Sprint("operations/queued-", i), time.Now())
		r.Kind, r.StartTime = "job", time.Time{}
		t0 := time.Now()
		if _, _, err := writer.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		select {
		case <-woken:
			lat = append(lat, time.Since(t0))
		case <-time.After(30 * time.Second):
			t.Fatal("a queued operation recorded by another Store did not wake the queue watcher")
		}
	}
	slices.Sort(lat)
	t.Logf("emulator: queued operation to queue wake on another Store, over %d: median %v, max %v", len(lat), lat[len(lat)/2], lat[len(lat)-1])
}
