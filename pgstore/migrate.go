package pgstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"math"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is one versioned schema change.
type migration struct {
	version int64
	name    string
	sql     string
}

// loadMigrations reads the embedded migrations, named NNNN_description.sql,
// in version order.
func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, fmt.Errorf("pgstore: reading migrations: %w", err)
	}
	var out []migration
	seen := make(map[int64]string)
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		if !ok {
			return nil, fmt.Errorf("pgstore: migration %q: name must be NNNN_description.sql", e.Name())
		}
		v, err := strconv.ParseInt(num, 10, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("pgstore: migration %q: bad version %q", e.Name(), num)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("pgstore: migrations %q and %q share version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(migrationFS, path.Join("migrations", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("pgstore: reading migration %q: %w", e.Name(), err)
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// SchemaVersion is the newest migration version this package knows.
func SchemaVersion() int64 {
	ms, err := loadMigrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// Migrate brings the tables of pgstore up to date in the pool's current
// schema (the first schema of its search_path). Applied versions are
// recorded in lro_schema_migrations; each pending migration runs in its own
// transaction, in version order. When it applies migration 0003, Migrate
// then fills its derived columns for the rows already there, in batches
// (see backfillDerived). A session advisory lock, keyed by the schema,
// serialises concurrent callers, so several replicas may migrate at
// start-up at once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return migrate(ctx, pool, math.MaxInt64)
}

// migrate is Migrate, applying the migrations up to version upTo only.
func migrate(ctx context.Context, pool *pgxpool.Pool, upTo int64) (err error) {
	migrations, err := loadMigrations()
	if err != nil {
		return err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return storeErr("migrate: acquiring a connection", err)
	}
	defer conn.Release()

	const lockKey = `hashtextextended('lro.pgstore.migrate:' || coalesce(current_schema(), ''), 0)`
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+lockKey+`)`); err != nil {
		return storeErr("migrate: taking the migration lock", err)
	}
	defer func() {
		// Unlock even when ctx is done; if that fails, close the
		// connection so that the server drops the lock with the session
		// rather than a pooled connection keeping it.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
		defer cancel()
		if _, uerr := conn.Exec(uctx, `SELECT pg_advisory_unlock(`+lockKey+`)`); uerr != nil {
			_ = conn.Conn().Close(uctx)
		}
	}()

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS lro_schema_migrations (
		version    bigint PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return storeErr("migrate: creating lro_schema_migrations", err)
	}
	applied := make(map[int64]bool)
	rows, err := conn.Query(ctx, `SELECT version FROM lro_schema_migrations`)
	if err != nil {
		return storeErr("migrate: reading applied versions", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return storeErr("migrate: reading applied versions", err)
	}
	for _, v := range versions {
		applied[v] = true
	}
	backfill := false
	for _, m := range migrations {
		if applied[m.version] || m.version > upTo {
			continue
		}
		backfill = backfill || m.version == derivedMigration
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			// No arguments: pgx sends the file with the simple protocol,
			// so it may hold several statements.
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO lro_schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name)
			return err
		})
		if err != nil {
			return storeErr(fmt.Sprintf("migrate: applying %s", m.name), err)
		}
	}
	if backfill {
		return backfillDerived(ctx, conn.Conn())
	}
	return nil
}
