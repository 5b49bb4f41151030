package chaos_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lrokit/lro/internal/pgtest"
)

// testURL returns the test database URL, skipping the test without one
// (failing it in CI).
func testURL(t testing.TB) string { return pgtest.URL(t) }

// freshSchema creates a schema of the test's own, dropped when it ends, so
// that tests can share a database.
func freshSchema(t testing.TB, url string) string { return pgtest.FreshSchema(t, url, "lro_chaos_") }

// newPool returns a pool on url whose search_path is schema, closed when
// the test ends.
func newPool(t testing.TB, url, schema string, maxConns int32) *pgxpool.Pool {
	return pgtest.Pool(t, url, schema, maxConns)
}

// buildReplica builds the replica program into a temporary directory, with
// -race when the test has it, and returns its path.
func buildReplica(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "replica")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "github.com/lrokit/lro/internal/chaos/replica")
	// A cold build cache can take a while on a small machine; this bound is
	// separate from the test's run deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %v: %v\n%s", args, err, out)
	}
	return bin
}

// TestFinishedLatest pins the check TestKillReplica makes of each re-run
// operation, with the run order of a failure it once reported wrongly.
func TestFinishedLatest(t *testing.T) {
	tests := []struct {
		runs []run
		fin  run
		want bool
	}{
		{[]run{{"r0", 1}, {"r2", 2}}, run{"r2", 2}, true},
		// r0's run began late, after r2 took the operation over.
		{[]run{{"r2", 2}, {"r0", 1}}, run{"r2", 2}, true},
		{[]run{{"r0", 1}, {"r2", 2}, {"r1", 3}}, run{"r2", 2}, false},
		{[]run{{"r0", 1}}, run{"r2", 2}, false},
		{[]run{{"r0", 1}, {"r1", 2}}, run{"r2", 2}, false},
		{nil, run{"r2", 2}, false},
	}
	for _, tt := range tests {
		if got := finishedLatest(tt.runs, tt.fin); got != tt.want {
			t.Errorf("finishedLatest(%v, %v) = %v, want %v", tt.runs, tt.fin, got, tt.want)
		}
	}
}

// run is one run of an operation's work, as chaos_runs records it when the
// run begins.
type run struct {
	owner   string
	attempt int
}

// finishedLatest reports whether fin, the run that finished an operation,
// is among its runs and no run has a later attempt. It does not ask that
// fin began last: attempts are numbered when a replica takes the
// operation over, but a run begins when its work gets to its first
// statement, and a replica that lost its lease without knowing it yet may
// get there after the next attempt began elsewhere.
func finishedLatest(runs []run, fin run) bool {
	found := false
	for _, r := range runs {
		if r.attempt > fin.attempt {
			return false
		}
		found = found || r == fin
	}
	return found
}

// parallel calls f(0..n-1) from workers goroutines and returns when all
// calls returned or ctx ended.
func parallel(ctx context.Context, workers, n int, f func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
}
