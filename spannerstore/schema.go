package spannerstore

import (
	"context"
	"fmt"
	"time"

	database "cloud.google.com/go/spanner/admin/database/apiv1"
	"cloud.google.com/go/spanner/admin/database/apiv1/databasepb"

	"cloud.google.com/go/spanner"
)

// migration is one version of the schema: DDL statements applied together.
// Every statement is idempotent (IF NOT EXISTS), so that two replicas
// migrating at once both succeed.
type migration struct {
	version int64
	ddl     []string
	// exists, when set, is a query whose count is positive when the
	// version's objects exist already (for DDL without IF NOT EXISTS).
	exists string
	// backfill, when set, is a partitioned DML statement run after the
	// version's DDL by a Migrate that found the version unrecorded, with
	// @cutoff the time that Migrate began: it brings the rows written
	// before the version to it.
	backfill string
}

// migrationsTable records the applied versions.
const migrationsDDL = `CREATE TABLE IF NOT EXISTS lro_schema_migrations (
	version INT64 NOT NULL,
	applied_time TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp = true),
) PRIMARY KEY (version)`

// migrations are the schema versions, in order. Never change one that has
// shipped: add a new one.
var migrations = []migration{{
	version: 1,
	ddl: []string{
		// Keyed by name: operation ids are random, so writes spread over
		// the key space. request_id is NULL when empty (NULL_FILTERED
		// unique index); expire_time and lease_expire_time are NULL when
		// zero.
		`CREATE TABLE IF NOT EXISTS lro_operations (
	name STRING(MAX) NOT NULL,
	parent STRING(MAX) NOT NULL,
	create_time TIMESTAMP NOT NULL,
	update_time TIMESTAMP NOT NULL,
	expire_time TIMESTAMP,
	request_id STRING(MAX),
	cancel_requested BOOL NOT NULL,
	owner STRING(MAX) NOT NULL,
	lease_expire_time TIMESTAMP,
	kind STRING(MAX) NOT NULL,
	request BYTES(MAX),
	attempt INT64 NOT NULL,
	version INT64 NOT NULL,
	done BOOL NOT NULL,
	operation BYTES(MAX) NOT NULL,
) PRIMARY KEY (name)`,
		// AIP-155: one operation per (parent, request id).
		`CREATE UNIQUE NULL_FILTERED INDEX IF NOT EXISTS lro_operations_request_id_idx ON lro_operations (parent, request_id)`,
		// Keyset listing of one collection, newest first, ties by name.
		`CREATE INDEX IF NOT EXISTS lro_operations_parent_list_idx ON lro_operations (parent, create_time DESC, name) STORING (done)`,
		// Keyset listing of every collection (and of wildcard parents).
		`CREATE INDEX IF NOT EXISTS lro_operations_list_idx ON lro_operations (create_time DESC, name) STORING (parent, done)`,
		// The expiry sweep: done operations by expiry (NULL while running).
		`CREATE NULL_FILTERED INDEX IF NOT EXISTS lro_operations_expire_idx ON lro_operations (expire_time, name) STORING (done)`,
		// Claims, ListOwned and cancellation checks: running operations by owner.
		`CREATE INDEX IF NOT EXISTS lro_operations_owner_idx ON lro_operations (owner, done, name) STORING (cancel_requested)`,
		// Owner leases, one row per owner id, judged by Spanner's clock.
		`CREATE TABLE IF NOT EXISTS lro_owners (
	owner STRING(MAX) NOT NULL,
	token STRING(MAX) NOT NULL,
	lease_expire_time TIMESTAMP NOT NULL,
) PRIMARY KEY (owner)`,
		// The key that signs page tokens, shared by every replica: one row.
		`CREATE TABLE IF NOT EXISTS lro_token_secret (
	id INT64 NOT NULL,
	secret BYTES(MAX) NOT NULL,
) PRIMARY KEY (id)`,
	},
}, {
	version: 2,
	ddl: []string{
		// The change stream every replica reads for Watch (NEW_ROW: each
		// change carries the tracked columns as they are after it).
		`CREATE CHANGE STREAM ` + changeStream + ` FOR lro_operations(done, cancel_requested, owner) OPTIONS (value_capture_type = 'NEW_ROW')`,
	},
	exists: `SELECT COUNT(*) FROM information_schema.change_streams WHERE change_stream_name = '` + changeStream + `'`,
}, {
	version: 3,
	ddl: []string{
		// Work control (issue 10): start_time is NULL while an operation
		// is queued; deadline and run_after are NULL when unset.
		`ALTER TABLE lro_operations ADD COLUMN IF NOT EXISTS start_time TIMESTAMP`,
		`ALTER TABLE lro_operations ADD COLUMN IF NOT EXISTS deadline TIMESTAMP`,
		`ALTER TABLE lro_operations ADD COLUMN IF NOT EXISTS run_after TIMESTAMP`,
		// The queue, oldest first per kind (start_time NULL), and the
		// running operations of a kind for global limits (start_time set).
		`CREATE INDEX IF NOT EXISTS lro_operations_queue_idx ON lro_operations (kind, start_time, create_time, name) STORING (done, owner, run_after)`,
		// Deadlines of operations nobody holds (NULL when unset).
		`CREATE NULL_FILTERED INDEX IF NOT EXISTS lro_operations_deadline_idx ON lro_operations (deadline, name) STORING (done, owner)`,
	},
	// Operations that exist already started when they were created: there
	// was no queue.
	backfill: `UPDATE lro_operations SET start_time = create_time WHERE start_time IS NULL AND create_time < @cutoff`,
}, {
	version: 4,
	ddl: []string{
		// Queue notification (lro.QueueWatcher): the stream also carries
		// kind and start_time, so that a reader tells a record queued or
		// put back (a kind, no start time), and the end of a kind's work
		// (a slot freed), from other changes.
		`ALTER CHANGE STREAM ` + changeStream + ` SET FOR lro_operations(done, cancel_requested, owner, kind, start_time)`,
	},
}, {
	version: 5,
	ddl: []string{
		// Filter pushdown (pushdown.go): columns derived from the
		// operation, current while derived_version = version. Rows
		// written before, or by a replica that predates them, have them
		// NULL or stale, and are left to the Manager's evaluation.
		`ALTER TABLE lro_operations ADD COLUMN IF NOT EXISTS error_code INT64`,
		`ALTER TABLE lro_operations ADD COLUMN IF NOT EXISTS metadata_type STRING(MAX)`,
		`ALTER TABLE lro_operations ADD COLUMN IF NOT EXISTS response_type STRING(MAX)`,
		`ALTER TABLE lro_operations ADD COLUMN IF NOT EXISTS derived_version INT64`,
	},
}, {
	version: 6,
	ddl: []string{
		// The trace context of the request that started the operation
		// (lro.Record.TraceParent). NULL, read as "", in the rows
		// written before it: adding it rewrites nothing.
		`ALTER TABLE lro_operations ADD COLUMN IF NOT EXISTS trace_parent STRING(MAX)`,
	},
}}

// changeStream names the change stream on lro_operations.
const changeStream = "lro_changes"

// SchemaVersion is the schema version this package writes and reads.
var SchemaVersion = migrations[len(migrations)-1].version

// Migrate brings the schema of the database (projects/P/instances/I/databases/D)
// to SchemaVersion: it creates lro_schema_migrations when missing, applies
// with UpdateDatabaseDdl each version not yet recorded there, and records
// it. Every statement is idempotent, so replicas may migrate at once. It
// returns the first DDL or query error, wrapped; versions applied before
// the failure stay applied.
func Migrate(ctx context.Context, admin *database.DatabaseAdminClient, client *spanner.Client, db string) error {
	if err := applyDDL(ctx, admin, db, []string{migrationsDDL}); err != nil {
		return fmt.Errorf("spannerstore: creating lro_schema_migrations: %w", err)
	}
	// Taken before the applied versions are read: a replica that recorded
	// a version after this read wrote its rows under it after this time.
	cutoff := time.Now()
	applied := map[int64]bool{}
	iter := client.Single().Read(ctx, "lro_schema_migrations", spanner.AllKeys(), []string{"version"})
	if err := iter.Do(func(r *spanner.Row) error {
		var v int64
		if err := r.Columns(&v); err != nil {
			return err
		}
		applied[v] = true
		return nil
	}); err != nil {
		return fmt.Errorf("spannerstore: reading the applied schema versions: %w", err)
	}
	for _, m := range migrations {
		if applied[m.version] {
			continue
		}
		there := false
		if m.exists != "" {
			var n int64
			if err := client.Single().Query(ctx, spanner.Statement{SQL: m.exists}).Do(func(r *spanner.Row) error { return r.Columns(&n) }); err != nil {
				return fmt.Errorf("spannerstore: checking schema version %d: %w", m.version, err)
			}
			there = n > 0
		}
		if there {
			// Applied by a concurrent Migrate: record it below.
		} else if err := applyDDL(ctx, admin, db, m.ddl); err != nil {
			return fmt.Errorf("spannerstore: applying schema version %d: %w", m.version, err)
		}
		if m.backfill != "" {
			stmt := spanner.Statement{SQL: m.backfill, Params: map[string]any{"cutoff": cutoff.UTC()}}
			if _, err := client.PartitionedUpdate(ctx, stmt); err != nil {
				return fmt.Errorf("spannerstore: bringing the rows to schema version %d: %w", m.version, err)
			}
		}
		_, err := client.Apply(ctx, []*spanner.Mutation{spanner.InsertOrUpdate("lro_schema_migrations",
			[]string{"version", "applied_time"}, []any{m.version, spanner.CommitTimestamp})})
		if err != nil {
			return fmt.Errorf("spannerstore: recording schema version %d: %w", m.version, err)
		}
	}
	return nil
}

// applyDDL runs statements as one schema change and waits for it.
func applyDDL(ctx context.Context, admin *database.DatabaseAdminClient, db string, stmts []string) error {
	op, err := admin.UpdateDatabaseDdl(ctx, &databasepb.UpdateDatabaseDdlRequest{Database: db, Statements: stmts})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	return op.Wait(ctx)
}
