package chaos_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lrokit/lro/internal/chaos"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
)

// movesSQL installs, beside observerSQL, a trigger that records every
// change of owner of an operation that was not done: who held it and at
// which attempt, who took it (empty when it was put back in the queue), the
// transaction's now()
// (the clock pgstore judges leases by), and the lease the previous owner
// held at that moment (NULL without one). %[1]s is the quoted schema.
const movesSQL = `
CREATE TABLE %[1]s.chaos_moves (
    name         text NOT NULL,
    from_owner   text NOT NULL,
    from_attempt integer NOT NULL,
    to_owner     text NOT NULL,
    at           timestamptz NOT NULL,
    lease_expire timestamptz
);
CREATE FUNCTION %[1]s.chaos_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT OLD.done AND OLD.owner <> '' AND NEW.owner <> OLD.owner THEN
        INSERT INTO %[1]s.chaos_moves SELECT NEW.name, OLD.owner, OLD.attempt, NEW.owner, now(),
            (SELECT w.lease_expire_time FROM %[1]s.lro_owners w WHERE w.owner = OLD.owner);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER chaos_move AFTER UPDATE ON %[1]s.lro_operations
    FOR EACH ROW EXECUTE FUNCTION %[1]s.chaos_move();`

// queueRun is the setting of TestQueueAcrossReplicas that its checks need.
type queueRun struct {
	total  int
	front  string         // the accept-only replica
	victim string         // the worker SIGKILLed mid-run
	limits map[string]int // each worker's effective limit on running works
	global int            // KindMaxRunningGlobal of the sleep kind
	ms     func(i int) int
	names  []string
	final  []*longrunningpb.Operation
}

// TestQueueAcrossReplicas is issue 10's cross-replica queue proof: three
// replica processes on one schema. The front is accept-only
// (WithMaxRunning(0)) and receives every StartKind; two workers drain the
// queue, one with WithMaxRunning(4), the other with KindMaxRunning(4) under
// a looser WithMaxRunning, and the sleep kind has KindMaxRunningGlobal(6)
// everywhere. All 1000 operations are queued before the second worker
// starts; the first worker is SIGKILLed while it runs work. Then, counting
// in the database: every operation became done exactly once and
// successfully, recorded its effect, and none is left queued or running;
// the front ran nothing; no worker ever ran more than its limit at once,
// nor the workers together more than the global limit; and the operations
// the killed worker held were taken over, after its lease lapsed, and
// finished by the survivor.
func TestQueueAcrossReplicas(t *testing.T) {
	dbURL := testURL(t)
	const (
		total    = 1000
		starters = 16
		global   = 6
		// The victim's lease is short, so that its operations are taken
		// over soon after the kill; the others' are long, so that a slow
		// machine does not cost them theirs.
		victimLease = time.Second
		lease       = 5 * time.Second
	)
	schema, pool := observedSchema(t, dbURL, 8)
	setup, cancelSetup := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelSetup()
	if _, err := pool.Exec(setup, fmt.Sprintf(movesSQL, pgx.Identifier{schema}.Sanitize())); err != nil {
		t.Fatalf("installing the moves trigger: %v", err)
	}
	bin := buildReplica(t)

	// A guard against hangs only: every wait below gives up when it passes.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	began := time.Now()
	run := &queueRun{
		total: total, front: "front", victim: "w1", global: global,
		limits: map[string]int{"w1": 4, "w2": 4},
		// Long enough that the workers' runs overlap, so that the limits
		// bind, rather than the database round trips of each operation.
		ms:    func(i int) int { return 10 + i%11 },
		names: make([]string, total),
		final: make([]*longrunningpb.Operation, total),
	}
	g := fmt.Sprint(global)
	front := startReplica(ctx, t, bin, dbURL, schema, run.front, lease, "-record-ends", "-max-running", "0", "-kind-global", g)
	w1 := startReplica(ctx, t, bin, dbURL, schema, "w1", victimLease, "-record-ends", "-max-running", "4", "-kind-global", g)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: starters}}
	defer client.CloseIdleConnections()

	// The front refuses a work function: its closure could not move.
	if _, err := front.start(ctx, client, chaos.KindFunc, 1, "queue-func"); err == nil ||
		!strings.Contains(err.Error(), fmt.Sprintf(": %d ", codes.FailedPrecondition)) {
		t.Errorf("front: Start of a work function = %v, want FAILED_PRECONDITION", err)
	}

	// Every operation is started through the front, while w1 alone drains.
	var (
		errMu sync.Mutex
		errs  []error
	)
	fail := func(err error) {
		errMu.Lock()
		defer errMu.Unlock()
		errs = append(errs, err)
	}
	parallel(ctx, starters, total, func(i int) {
		name, err := front.start(ctx, client, chaos.KindSleep, run.ms(i), fmt.Sprintf("queue-%d", i))
		if err != nil {
			fail(fmt.Errorf("start %d on the front: %w", i, err))
			return
		}
		run.names[i] = name
	})
	if len(errs) > 0 {
		t.Fatalf("%d starts failed, first: %v", len(errs), errs[0])
	}
	t.Logf("%d operations started through the front in %v", total, time.Since(began))

	// w2 joins; once both workers have run work side by side, and w1 runs
	// some now with plenty left queued, w1 is killed.
	w2 := startReplica(ctx, t, bin, dbURL, schema, "w2", lease, "-record-ends", "-max-running", "8", "-kind-max", "4", "-kind-global", g)
	waitTrue(ctx, t, pool, "w2 has run work, w1 runs some, and a backlog is left", `SELECT
		(SELECT count(*) FROM chaos_runs WHERE owner = 'w2' AND ended IS NOT NULL) >= 50
		AND EXISTS (SELECT 1 FROM chaos_runs WHERE owner = 'w1' AND ended IS NULL)
		AND (SELECT count(*) FROM lro_operations WHERE start_time IS NULL) >= 200`)
	w1.kill()
	var killed time.Time // by the database's clock, after the kill
	if err := pool.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&killed); err != nil {
		t.Fatalf("reading the database's clock: %v", err)
	}
	var doneAtKill int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM lro_operations WHERE done`).Scan(&doneAtKill)
	t.Logf("w1 killed %v after the run began, with %d operations done", time.Since(began), doneAtKill)

	// Every operation ends, as the front tells through its Operations API.
	parallel(ctx, starters, total, func(i int) {
		for ctx.Err() == nil {
			op, err := front.ops.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: run.names[i], Timeout: durationpb.New(10 * time.Second)})
			if err != nil {
				fail(fmt.Errorf("wait %s via the front: %w", run.names[i], err))
				return
			}
			if op.GetDone() {
				run.final[i] = op
				return
			}
		}
	})
	if len(errs) > 0 {
		t.Fatalf("%d waits failed, first: %v", len(errs), errs[0])
	}
	if ctx.Err() != nil {
		t.Fatalf("not every operation was done %v after the run began", time.Since(began))
	}
	t.Logf("every operation done %v after the run began", time.Since(began))
	left, err := front.ops.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: "operations", Filter: "done = false"})
	if err != nil {
		t.Fatalf("List via the front: %v", err)
	}
	if n := len(left.GetOperations()); n != 0 {
		t.Errorf("List via the front shows %d operations not done", n)
	}

	// The processes' own count of works running at once.
	for p, limit := range map[*proc]int{front: 0, w2: run.limits["w2"]} {
		if peak := peakOf(ctx, t, client, p); peak > limit {
			t.Errorf("%s ran %d works at once by its own count, limit %d", p.owner, peak, limit)
		}
	}
	front.stop(t, 10*time.Second)
	w2.stop(t, 10*time.Second)

	vctx, vcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer vcancel()
	verifyQueueRun(vctx, t, pool, run, killed)
}

// waitTrue runs query (one boolean result) until it is true or ctx ends.
// Like pollUntil, it waits on the replica processes through the database.
func waitTrue(ctx context.Context, t *testing.T, pool *pgxpool.Pool, what, query string) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		var ok bool
		err := pool.QueryRow(ctx, query).Scan(&ok)
		if err == nil && ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not so when the deadline passed (last error: %v)", what, err)
		case <-tick.C:
		}
	}
}

// peakOf asks a replica for the most works it ever ran at once.
func peakOf(ctx context.Context, t *testing.T, client *http.Client, p *proc) int {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.http+"/stats", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("stats of %s: %v", p.owner, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("stats of %s: %v", p.owner, err)
	}
	var peak int
	if _, err := fmt.Sscanf(string(body), "peak=%d", &peak); err != nil {
		t.Fatalf("stats of %s: %q: %v", p.owner, body, err)
	}
	return peak
}
