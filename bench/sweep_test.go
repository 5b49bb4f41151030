package bench

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// sweepBatch is the batch the Manager's sweeper asks DeleteExpired for
// (lro's sweepBatch).
const sweepBatch = 1000

// BenchmarkSweep measures the retention sweeper's statement on a table of
// 1,000,000 operations (900,000 done, half of those expired, in an order
// unrelated to their names): each iteration is one DeleteExpired call for
// up to 1000 rows, as the Manager's sweep makes them one after another. It
// reports expiries/s, and the p50, p99 and max time of one call: the
// statement runs in its own transaction, so that is the longest any of its
// row locks is held. Run it with -benchtime 100x (each iteration deletes
// 1000 of the 450,000 expired rows).
func BenchmarkSweep(b *testing.B) {
	const rows = 1_000_000
	url := dbURL(b)
	s := newStore(b, url, freshSchema(b, url), 4)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	// Names in creation order; expiry times a permutation of them (7919 is
	// prime to rows), spread over rows milliseconds around now; one in ten
	// still running.
	if _, err := s.Pool().Exec(ctx, `INSERT INTO lro_operations (name, parent, create_time, update_time,
			expire_time, version, done, operation)
		SELECT 'projects/p' || (g % 100) || '/operations/op' || lpad(g::text, 8, '0'), 'projects/p' || (g % 100),
			$1::timestamptz - make_interval(secs => ($2 - g) / 1000.0), $1::timestamptz,
			CASE WHEN g % 10 <> 0 THEN $1::timestamptz + make_interval(secs => ((g::bigint * 7919) % $2 - $2 / 2) / 1000.0) END,
			2, g % 10 <> 0, '\x'::bytea
		FROM generate_series(1, $2) g`, now, rows); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, `VACUUM ANALYZE lro_operations`); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	deleted := 0
	b.ResetTimer()
	began := time.Now()
	for range b.N {
		t0 := time.Now()
		n, err := s.DeleteExpired(ctx, now, sweepBatch)
		lat = append(lat, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		if n != sweepBatch {
			b.Fatal(fmt.Sprintf("deleted %d rows, want %d", n, sweepBatch))
		}
		deleted += n
	}
	elapsed := time.Since(began)
	b.StopTimer()
	reportLatencies(b, lat)
	b.ReportMetric(float64(deleted)/elapsed.Seconds(), "expiries/s")
}
