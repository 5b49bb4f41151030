// Package pgtest gives tests a PostgreSQL database to work in: the URL from
// LRO_TEST_DATABASE_URL (skipping without it, failing without it in CI), a
// schema of the test's own, and pools whose search_path is that schema.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EnvURL names the variable holding the test database URL.
const EnvURL = "LRO_TEST_DATABASE_URL"

// skipped counts the tests URL skipped for want of a database.
var skipped atomic.Int64

// URL returns the test database URL. It skips the test when the variable is
// unset, and fails it when CI is set, since CI must run the PostgreSQL
// tests (.ci/run starts a database and sets the variable).
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(EnvURL)
	if url == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set, but CI is: the PostgreSQL tests must run in CI (see .ci/run)", EnvURL)
		}
		skipped.Add(1)
		t.Skipf("%s is not set; set it to a PostgreSQL database URL (e.g. postgres://user@127.0.0.1:5432/lro_test?sslmode=disable) to run the PostgreSQL tests", EnvURL)
	}
	return url
}

// Main runs the tests of a package that uses PostgreSQL; call it from the
// package's TestMain. When tests skipped because EnvURL is unset, it says
// so in one line naming pkg, so that the skip is seen without -v.
//
// go test shows nothing but "ok" for a passing package in package list
// mode (go test ./...) unless -v is given: the test binary's stdout and
// stderr are both discarded. The line therefore goes to the controlling
// terminal (/dev/tty) when there is one, and to stdout otherwise (seen
// with -v, or when go test runs in the package's directory). A result
// that go test replays from its cache prints nothing; -count=1 runs the
// tests again.
func Main(m *testing.M, pkg string) {
	code := m.Run()
	if n := skipped.Load(); n > 0 {
		reportSkips(pkg, n)
	}
	os.Exit(code)
}

// reportSkips prints the line of Main.
func reportSkips(pkg string, n int64) {
	var w io.Writer = os.Stdout
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		w = tty
	}
	fmt.Fprintf(w, "%s: %d PostgreSQL tests skipped: set %s to a database URL to run them (README.md, \"Running the PostgreSQL tests\")\n", pkg, n, EnvURL)
}

// Exec runs one statement on a connection of its own.
func Exec(t testing.TB, url, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Errorf("connecting to %s: %v", EnvURL, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Errorf("%s: %v", sql, err)
	}
}

// FreshSchema creates a schema of the test's own in the database at url,
// named prefix and random hex, and drops it when the test ends, so tests
// can share one database and run in parallel.
func FreshSchema(t testing.TB, url, prefix string) string {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := prefix + hex.EncodeToString(b)
	Exec(t, url, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize())
	t.Cleanup(func() { Exec(t, url, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE") })
	return schema
}

// Pool returns a pool on url whose search_path is schema, closed when the
// test ends.
func Pool(t testing.TB, url, schema string, maxConns int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatalf("parsing %s: %v", EnvURL, err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("making a pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}
