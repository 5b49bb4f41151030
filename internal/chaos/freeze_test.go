package chaos_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lrokit/lro/internal/chaos"
	"google.golang.org/protobuf/types/known/durationpb"
)

// pollUntil runs query (one integer result) until it returns want or ctx
// ends. It is for waiting on the replica processes, which tell the test
// nothing directly: they are external, and the database is where their
// progress shows.
func pollUntil(ctx context.Context, t *testing.T, pool *pgxpool.Pool, what, query string, want int) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var got int
	for {
		if err := pool.QueryRow(ctx, query).Scan(&got); err == nil && got == want {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %d, want %d, when the deadline passed", what, got, want)
		case <-tick.C:
		}
	}
}

// TestFrozenReplica freezes (SIGSTOP) a replica in the middle of its work
// for longer than its lease. A survivor takes the operations over and runs
// them again. When the frozen replica resumes, its work still has seconds
// to go, and it must stop at once: it learns that it lost its owner lease
// (its clock says the lease ran out, and the survivor's claims arrive as
// notifications naming the new owner), so each run's context is cancelled
// and its error dropped. No run of the frozen replica gets to the end, and
// each operation is finished once, by the survivor.
func TestFrozenReplica(t *testing.T) {
	dbURL := testURL(t)
	const (
		n     = 20
		lease = time.Second
		work  = 5 * time.Second
	)
	schema, pool := observedSchema(t, dbURL, 4)
	bin := buildReplica(t)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	frozen := startReplica(ctx, t, bin, dbURL, schema, "frozen", lease)
	survivor := startReplica(ctx, t, bin, dbURL, schema, "survivor", lease)
	client := &http.Client{}
	defer client.CloseIdleConnections()

	names := make([]string, n)
	for i := range names {
		name, err := frozen.start(ctx, client, chaos.KindSleep, int(work/time.Millisecond), fmt.Sprintf("freeze-%d", i))
		if err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		names[i] = name
	}
	pollUntil(ctx, t, pool, "runs begun on the replica to freeze",
		`SELECT count(*) FROM chaos_runs WHERE owner = 'frozen'`, n)

	if err := frozen.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			_ = frozen.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()

	// The survivor claims the operations of the lapsed lease and runs the
	// work again.
	pollUntil(ctx, t, pool, "runs begun on the survivor",
		`SELECT count(*) FROM chaos_runs WHERE owner = 'survivor' AND attempt = 2`, n)

	// The frozen replica wakes up with seconds of work left on each run.
	if err := frozen.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stopped = false
	for _, name := range names {
		op := waitVia(ctx, t, survivor, name)
		var got durationpb.Duration
		if err := op.GetResponse().UnmarshalTo(&got); err != nil || got.AsDuration() != work {
			t.Errorf("%s: %v, want the response %v", name, op.GetResult(), work)
		}
	}
	frozen.stop(t, 10*time.Second)
	survivor.stop(t, 10*time.Second)

	for _, name := range names {
		var done, attempt, runs int
		var owner string
		if err := pool.QueryRow(ctx, `SELECT n, owner, attempt FROM chaos_done WHERE name = $1`, name).Scan(&done, &owner, &attempt); err != nil {
			t.Fatalf("%s: reading chaos_done: %v", name, err)
		}
		if done != 1 || owner != "survivor" || attempt != 2 {
			t.Errorf("%s: done %d times, last by %q at attempt %d; want once, by the survivor, at attempt 2", name, done, owner, attempt)
		}
		if err := pool.QueryRow(ctx, `SELECT runs FROM chaos_effects WHERE name = $1`, name).Scan(&runs); err != nil || runs != 1 {
			t.Errorf("%s: the work ran to the end %d times (%v); want once, on the survivor: the frozen replica's run must stop", name, runs, err)
		}
	}
	var anomalies int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM chaos_anomalies`).Scan(&anomalies); err != nil || anomalies != 0 {
		t.Errorf("%d changes to done operations (%v)", anomalies, err)
	}
	log, err := os.ReadFile(frozen.stderr)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(log), "result dropped: this replica lost the operation"); got != n {
		t.Errorf("the resumed replica dropped %d results as lost, want %d", got, n)
	}
}

// waitVia waits through p's Operations API until the operation is done.
func waitVia(ctx context.Context, t *testing.T, p *proc, name string) *longrunningpb.Operation {
	t.Helper()
	for {
		op, err := p.ops.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: name, Timeout: durationpb.New(10 * time.Second)})
		if err != nil {
			t.Fatalf("wait %s via %s: %v", name, p.owner, err)
		}
		if op.GetDone() {
			return op
		}
	}
}
