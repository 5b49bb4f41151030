package bench

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/internal/pgtest"
	"github.com/lrokit/lro/pgstore"
)

// quiet is a logger that drops everything.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// dbURL returns the database URL (LRO_TEST_DATABASE_URL) or skips.
func dbURL(b testing.TB) string { return pgtest.URL(b) }

// freshSchema creates a schema for the benchmark, dropped at the end.
func freshSchema(b testing.TB, url string) string { return pgtest.FreshSchema(b, url, "lro_bench_") }

// newPool returns a pool in schema, closed at the end.
func newPool(b testing.TB, url, schema string, maxConns int32) *pgxpool.Pool {
	return pgtest.Pool(b, url, schema, maxConns)
}

// newStore returns a migrated pgstore Store on its own pool in schema.
func newStore(b testing.TB, url, schema string, maxConns int32, opts ...pgstore.Option) *pgstore.Store {
	b.Helper()
	pool := newPool(b, url, schema, maxConns)
	s, err := pgstore.New(context.Background(), pool, append([]pgstore.Option{pgstore.WithAutoMigrate(), pgstore.WithLogger(quiet)}, opts...)...)
	if err != nil {
		b.Fatalf("pgstore.New: %v", err)
	}
	b.Cleanup(s.Close)
	return s
}

// newManager returns a Manager on s, closed at the end.
func newManager(b testing.TB, s lro.Store, opts ...lro.Option) *lro.Manager {
	b.Helper()
	m, err := lro.New(append([]lro.Option{lro.WithStore(s), lro.WithLogger(quiet)}, opts...)...)
	if err != nil {
		b.Fatalf("lro.New: %v", err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = m.Close(ctx)
	})
	return m
}

// reportLatencies reports the median, 99th percentile and maximum of ds in
// milliseconds.
func reportLatencies(b *testing.B, ds []time.Duration) {
	b.Helper()
	if len(ds) == 0 {
		return
	}
	reportQuantiles(b, "", ds)
	b.ReportMetric(float64(ds[len(ds)-1])/float64(time.Millisecond), "max-ms")
	b.ReportMetric(0, "ns/op")
}

// reportQuantiles reports the median and 99th percentile of ds in
// milliseconds, as prefix+"p50-ms" and prefix+"p99-ms". It sorts ds.
func reportQuantiles(b *testing.B, prefix string, ds []time.Duration) {
	b.Helper()
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	pick := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	b.ReportMetric(ms(pick(0.5)), prefix+"p50-ms")
	b.ReportMetric(ms(pick(0.99)), prefix+"p99-ms")
}
