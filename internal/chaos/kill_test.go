package chaos_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lrokit/lro/internal/chaos"
	"github.com/lrokit/lro/pgstore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"
)

// observedSchema makes a fresh schema with pgstore's tables, the chaos
// tables and the observer trigger, and returns it with a pool of conns
// connections on it.
func observedSchema(t *testing.T, dbURL string, conns int32) (string, *pgxpool.Pool) {
	t.Helper()
	schema := freshSchema(t, dbURL)
	pool := newPool(t, dbURL, schema, conns)
	setup, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pgstore.Migrate(setup, pool); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if _, err := pool.Exec(setup, chaos.TablesSQL); err != nil {
		t.Fatalf("creating the chaos tables: %v", err)
	}
	if _, err := pool.Exec(setup, fmt.Sprintf(observerSQL, pgx.Identifier{schema}.Sanitize())); err != nil {
		t.Fatalf("installing the observer trigger: %v", err)
	}
	return schema, pool
}

// observerSQL installs, beside pgstore's tables, a trigger that watches
// every write to lro_operations from outside the library: chaos_created
// keeps the owner each operation was created by, chaos_done counts
// the transitions of each operation to done (with the owner and attempt at
// that moment), and chaos_anomalies records any change to an operation that
// was already done. %[1]s is the quoted schema.
const observerSQL = `
CREATE TABLE %[1]s.chaos_done (
    name    text PRIMARY KEY,
    n       integer NOT NULL,
    owner   text NOT NULL,
    attempt integer NOT NULL
);
CREATE TABLE %[1]s.chaos_created (
    name  text PRIMARY KEY,
    owner text NOT NULL
);
CREATE TABLE %[1]s.chaos_anomalies (
    name text NOT NULL,
    what text NOT NULL
);
CREATE FUNCTION %[1]s.chaos_observe() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO %[1]s.chaos_created VALUES (NEW.name, NEW.owner);
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.done THEN
        IF NOT NEW.done THEN
            INSERT INTO %[1]s.chaos_anomalies VALUES (NEW.name, 'done went back to false');
        ELSIF NEW.operation IS DISTINCT FROM OLD.operation THEN
            INSERT INTO %[1]s.chaos_anomalies VALUES (NEW.name, 'a done operation changed');
        END IF;
    ELSIF NEW.done THEN
        INSERT INTO %[1]s.chaos_done VALUES (NEW.name, 1, NEW.owner, NEW.attempt)
        ON CONFLICT (name) DO UPDATE SET n = %[1]s.chaos_done.n + 1;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER chaos_observe AFTER INSERT OR UPDATE ON %[1]s.lro_operations
    FOR EACH ROW EXECUTE FUNCTION %[1]s.chaos_observe();`

// proc is one replica process.
type proc struct {
	owner  string
	cmd    *exec.Cmd
	exited chan struct{} // closed when Wait returned
	http   string        // base URL of the control endpoint
	conn   *grpc.ClientConn
	ops    longrunningpb.OperationsClient
	stderr string // path of its stderr log
}

// startReplica starts the replica program and waits for its READY line.
func startReplica(ctx context.Context, t *testing.T, bin, dbURL, schema, owner string, lease time.Duration, extra ...string) *proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), owner+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = logf.Close() })
	cmd := exec.Command(bin, append([]string{"-url", dbURL, "-schema", schema, "-owner", owner,
		"-lease", lease.String(), "-poll", "200ms"}, extra...)...)
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting replica %s: %v", owner, err)
	}
	p := &proc{owner: owner, cmd: cmd, exited: make(chan struct{}), stderr: logPath}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("replica %s stderr (last 4 KiB):\n%s", owner, tail(b, 4096))
			}
		}
	})
	var line string
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatalf("replica %s exited before it was ready", owner)
		}
		line = l
	case <-ctx.Done():
		t.Fatalf("replica %s not ready before the deadline", owner)
	}
	var grpcAddr, httpAddr string
	if _, err := fmt.Sscanf(line, chaos.ReadyPrefix+" grpc=%s http=%s", &grpcAddr, &httpAddr); err != nil {
		t.Fatalf("replica %s: bad ready line %q: %v", owner, line, err)
	}
	p.http = "http://" + httpAddr
	p.conn, err = grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dialling replica %s: %v", owner, err)
	}
	t.Cleanup(func() { _ = p.conn.Close() })
	p.ops = longrunningpb.NewOperationsClient(p.conn)
	return p
}

// kill SIGKILLs the process and waits for it to be gone.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// stop asks the process to shut down gracefully, then kills it if it has
// not within the grace period.
func (p *proc) stop(t *testing.T, grace time.Duration) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.exited:
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("replica %s exited with %d after SIGTERM", p.owner, code)
		}
	case <-timer.C:
		t.Errorf("replica %s did not stop within %v of SIGTERM", p.owner, grace)
		p.kill()
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// errReplica is a start refused by a replica (rather than a dead one).
var errReplica = errors.New("replica refused the start")

// start asks the replica to start an operation and returns its name.
func (p *proc) start(ctx context.Context, client *http.Client, kind string, ms int, rid string) (string, error) {
	q := url.Values{"kind": {kind}, "ms": {fmt.Sprint(ms)}, "rid": {rid}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.http+"/start?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%w: %s: %s", errReplica, resp.Status, strings.TrimSpace(string(body)))
	}
	return string(body), nil
}

// planned is one operation of the chaos run.
type planned struct {
	kind   string
	ms     int
	rid    string
	cancel int // 0: never; 1: right after it starts; 2: after every start
	name   string
	// startedOn is the replica whose start returned the name.
	startedOn int
	// doneAtCancel is set when a Get just before the cancel saw it done.
	doneAtCancel bool
	// cancelled is when the cancel returned.
	cancelled time.Time
	final     *longrunningpb.Operation
}

// TestKillReplica runs 1000 operations on three replica processes sharing
// one database, SIGKILLs one of them mid-run and cancels some operations
// through the survivors. Every operation must end exactly once, none may be
// lost, cancelled ones end CANCELLED (unless they finished first), and the
// registered work the dead replica was running is run again by a survivor.
func TestKillReplica(t *testing.T) {
	dbURL := testURL(t)
	const (
		replicas = 3
		total    = 1000
		killAt   = 400 // kill replica 0 once this many starts answered
		starters = 32
		lease    = 2 * time.Second // survivors must keep theirs on a slow, loaded CI machine under -race
	)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("LRO_CHAOS_SEED"); s != "" {
		if _, err := fmt.Sscan(s, &seed); err != nil {
			t.Fatalf("LRO_CHAOS_SEED: %v", err)
		}
	}
	t.Logf("seed %d (set LRO_CHAOS_SEED to plan the same run again)", seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	schema, pool := observedSchema(t, dbURL, 8)
	bin := buildReplica(t)

	// The hard deadline of the run (the build above is bounded on its own):
	// every wait below gives up when it passes, and the test fails.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	began := time.Now()

	procs := make([]*proc, replicas)
	for i := range procs {
		procs[i] = startReplica(ctx, t, bin, dbURL, schema, fmt.Sprintf("r%d", i), lease)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: starters}}
	defer client.CloseIdleConnections()

	plan := make([]*planned, total)
	for i := range plan {
		p := &planned{kind: chaos.KindSleep, ms: rng.IntN(501), rid: fmt.Sprintf("chaos-%d", i)}
		if rng.IntN(10) == 0 {
			p.kind = chaos.KindFunc
		}
		switch rng.IntN(20) {
		case 0, 1:
			p.cancel = 1
		case 2, 3:
			p.cancel = 2
		}
		plan[i] = p
	}
	survivor := func(i int) *proc { return procs[1+i%2] }

	cancelOne := func(i int, p *planned) error {
		via := survivor(i + 1)
		got, err := via.ops.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: p.name})
		if err != nil {
			return fmt.Errorf("get %s via %s before cancelling: %w", p.name, via.owner, err)
		}
		p.doneAtCancel = got.GetDone()
		if _, err := via.ops.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: p.name}); err != nil {
			return fmt.Errorf("cancel %s via %s: %w", p.name, via.owner, err)
		}
		p.cancelled = time.Now()
		return nil
	}

	// Start phase: 32 starters; replica 0 is killed once killAt starts have
	// answered, and starts that then fail on it are retried on a survivor
	// with the same request id (AIP-155: the same operation if it exists).
	var (
		answered atomic.Int64
		dead     atomic.Bool
		killOnce sync.Once
		killedAt time.Time
		errMu    sync.Mutex
		errs     []error
	)
	fail := func(err error) {
		errMu.Lock()
		errs = append(errs, err)
		errMu.Unlock()
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range starters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				p := plan[i]
				r := i % replicas
				if r == 0 && dead.Load() {
					r = 1 + i%2
				}
				name, err := procs[r].start(ctx, client, p.kind, p.ms, p.rid)
				if err != nil && r == 0 && dead.Load() && !errors.Is(err, errReplica) {
					r = 1 + i%2
					name, err = procs[r].start(ctx, client, p.kind, p.ms, p.rid)
				}
				if err != nil {
					fail(fmt.Errorf("start %d on %s: %w", i, procs[r].owner, err))
					continue
				}
				p.name, p.startedOn = name, r
				if answered.Add(1) == killAt {
					killOnce.Do(func() {
						dead.Store(true)
						procs[0].kill()
						killedAt = time.Now()
					})
				}
				if p.cancel == 1 {
					if err := cancelOne(i, p); err != nil {
						fail(err)
					}
				}
			}
		}()
	}
	for i := range plan {
		select {
		case next <- i:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d starts or cancels failed, first: %v", len(errs), errs[0])
	}
	if !dead.Load() {
		t.Fatal("replica 0 was never killed")
	}
	t.Logf("started %d operations in %v; replica r0 killed after %d starts", total, time.Since(began), killAt)

	// Late cancels, through the survivors, while the dead replica's
	// operations are still orphaned.
	parallel(ctx, starters, total, func(i int) {
		if plan[i].cancel == 2 {
			if err := cancelOne(i, plan[i]); err != nil {
				fail(err)
			}
		}
	})
	if len(errs) > 0 {
		t.Fatalf("%d late cancels failed, first: %v", len(errs), errs[0])
	}

	// Wait for every operation through the survivors' Operations API.
	parallel(ctx, starters, total, func(i int) {
		p := plan[i]
		via := survivor(i)
		for ctx.Err() == nil {
			op, err := via.ops.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: p.name, Timeout: durationpb.New(10 * time.Second)})
			if err != nil {
				fail(fmt.Errorf("wait %s via %s: %w", p.name, via.owner, err))
				return
			}
			if op.GetDone() {
				p.final = op
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
	t.Logf("every operation done %v after the run began, %v after the kill", time.Since(began), time.Since(killedAt))

	// Any replica lists them all as done.
	running, err := procs[1].ops.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: "operations", Filter: "done = false"})
	if err != nil {
		t.Fatalf("List via %s: %v", procs[1].owner, err)
	}
	if n := len(running.GetOperations()); n != 0 {
		t.Errorf("List via %s shows %d operations still running", procs[1].owner, n)
	}

	for _, p := range procs[1:] {
		p.stop(t, 10*time.Second)
	}
	// The run is over: the checks get a deadline of their own.
	vctx, vcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer vcancel()
	verifyKillRun(vctx, t, pool, plan, procs[0].owner)
}

// verifyKillRun checks the end state of TestKillReplica against the
// database.
func verifyKillRun(ctx context.Context, t *testing.T, pool *pgxpool.Pool, plan []*planned, deadOwner string) {
	t.Helper()
	rows := func(sql string, scan func(pgx.Rows) error) {
		t.Helper()
		queryEach(ctx, t, pool, sql, scan)
	}

	type doneRow struct {
		n       int
		owner   string
		attempt int
	}
	doneBy := map[string]doneRow{}
	rows(`SELECT name, n, owner, attempt FROM chaos_done`, func(r pgx.Rows) error {
		var name string
		var d doneRow
		err := r.Scan(&name, &d.n, &d.owner, &d.attempt)
		doneBy[name] = d
		return err
	})
	createdBy := map[string]string{}
	rows(`SELECT name, owner FROM chaos_created`, func(r pgx.Rows) error {
		var name, owner string
		err := r.Scan(&name, &owner)
		createdBy[name] = owner
		return err
	})
	stored := map[string]bool{}
	updated := map[string]time.Time{}
	rows(`SELECT name, done, update_time FROM lro_operations`, func(r pgx.Rows) error {
		var name string
		var done bool
		var at time.Time
		err := r.Scan(&name, &done, &at)
		stored[name], updated[name] = done, at
		return err
	})
	rows(`SELECT name, what FROM chaos_anomalies`, func(r pgx.Rows) error {
		var name, what string
		if err := r.Scan(&name, &what); err != nil {
			return err
		}
		t.Errorf("%s: %s", name, what)
		return nil
	})
	runs := map[string][]run{}
	rows(`SELECT name, owner, attempt FROM chaos_runs ORDER BY at`, func(r pgx.Rows) error {
		var name string
		var x run
		err := r.Scan(&name, &x.owner, &x.attempt)
		runs[name] = append(runs[name], x)
		return err
	})
	effects := map[string]int{}
	rows(`SELECT name, runs FROM chaos_effects`, func(r pgx.Rows) error {
		var name string
		var n int
		err := r.Scan(&name, &n)
		effects[name] = n
		return err
	})

	if len(stored) != len(plan) {
		t.Errorf("the store holds %d operations, want %d (one per request id)", len(stored), len(plan))
	}
	var adopted, abandoned, cancelled, finishedAnyway int
	for i, p := range plan {
		d, ok := doneBy[p.name]
		switch {
		case !stored[p.name]:
			t.Errorf("op %d %s: not done in the store (present: %v)", i, p.name, ok)
			continue
		case d.n != 1:
			t.Errorf("op %d %s: became done %d times, want exactly once", i, p.name, d.n)
		}
		// Owned by the dead replica at some point: it created it.
		ranOnDead := createdBy[p.name] == deadOwner
		if p.startedOn == 0 && !ranOnDead {
			t.Errorf("op %d %s: started on %s but created by %q", i, p.name, deadOwner, createdBy[p.name])
		}
		code := codes.OK
		if e := p.final.GetError(); e != nil {
			code = codes.Code(e.GetCode())
		}
		if code == codes.OK {
			var got durationpb.Duration
			if err := p.final.GetResponse().UnmarshalTo(&got); err != nil {
				t.Errorf("op %d %s: response %v: %v", i, p.name, p.final.GetResponse(), err)
			} else if want := time.Duration(p.ms) * time.Millisecond; got.AsDuration() != want {
				t.Errorf("op %d %s: response %v, want %v", i, p.name, got.AsDuration(), want)
			}
			if effects[p.name] == 0 {
				t.Errorf("op %d %s: succeeded but its work recorded no effect", i, p.name)
			}
			if p.kind == chaos.KindFunc && effects[p.name] != 1 {
				t.Errorf("op %d %s: a work function ran to the end %d times", i, p.name, effects[p.name])
			}
		}
		// Registered work that the dead replica had not finished is run
		// again by a survivor, which alone records its end.
		if p.kind == chaos.KindSleep && ranOnDead && d.owner != deadOwner && code != codes.Canceled {
			adopted++
			if d.attempt < 2 {
				t.Errorf("op %d %s: finished by %s with attempt %d after its owner died, want ≥ 2", i, p.name, d.owner, d.attempt)
			}
			// The finisher's run is among the runs and is the latest
			// attempt. Runs are not ordered by when they began: a
			// replica whose lease lapsed while it was slow (its work's
			// first statement queued for a pool connection) may begin
			// its run after the replica that took the operation over
			// began the next attempt; only the finish is fenced.
			if !finishedLatest(runs[p.name], run{d.owner, d.attempt}) {
				t.Errorf("op %d %s: finished by %s attempt %d, but its runs were %v", i, p.name, d.owner, d.attempt, runs[p.name])
			}
		}
		if d.owner == deadOwner && !ranOnDead {
			t.Errorf("op %d %s: finished by the dead replica, which never ran it", i, p.name)
		}

		allowed := map[codes.Code]bool{codes.OK: true}
		if p.cancel != 0 && !p.doneAtCancel {
			allowed[codes.Canceled] = true
		}
		if p.kind == chaos.KindFunc && ranOnDead {
			// A work function cannot be run again: the survivors end it.
			allowed[codes.Unavailable] = true
		}
		if !allowed[code] {
			t.Errorf("op %d %s (%s, cancel=%d, done at cancel %v, ran on dead %v): ended with %v %q",
				i, p.name, p.kind, p.cancel, p.doneAtCancel, ranOnDead, code, p.final.GetError().GetMessage())
		}
		switch code {
		case codes.Unavailable:
			abandoned++
		case codes.Canceled:
			cancelled++
		case codes.OK:
			if p.cancel != 0 && !p.doneAtCancel {
				finishedAnyway++
				t.Logf("op %d %s (%s, %d ms, cancel=%d, created by %s, done by %s attempt %d) finished %v after the cancel returned", i, p.name, p.kind, p.ms, p.cancel, createdBy[p.name], d.owner, d.attempt, updated[p.name].Sub(p.cancelled))
			}
		}
	}
	t.Logf("adopted and re-run: %d; abandoned work functions: %d; cancelled: %d; finished despite a cancel: %d", adopted, abandoned, cancelled, finishedAnyway)
	if adopted == 0 {
		t.Error("no registered work was re-run after the kill: the test exercised nothing")
	}
	if cancelled == 0 {
		t.Error("no operation ended CANCELLED: the test exercised nothing")
	}
}
