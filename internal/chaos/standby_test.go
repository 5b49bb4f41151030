package chaos_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// haPair is a primary cluster and a synchronous streaming standby of it,
// both of the test's own, on loopback ports.
type haPair struct {
	primary, standby *cluster
}

// newHAPair initialises and starts a primary that commits only once its
// standby has the commit (synchronous_standby_names = '*',
// synchronous_commit = on), takes a base backup of it for the standby
// (pg_basebackup -R, which configures the standby to stream from the
// primary), starts the standby and returns once the primary reports it as
// its synchronous standby. fsync stays off on both: the test crashes
// PostgreSQL processes, not the machine, so the operating system keeps
// what they wrote.
func newHAPair(ctx context.Context, t *testing.T) *haPair {
	t.Helper()
	p := &haPair{primary: newCluster(t)}
	// Only the primary waits for a standby: the standby, once promoted,
	// has none, and must not wait for one.
	p.primary.opts = "-c synchronous_commit=on -c synchronous_standby_names='*' -c max_connections=200"
	p.primary.start(t)

	p.standby = newClusterDir(t)
	p.standby.opts = "-c max_connections=200"
	if out, err := p.standby.run(filepath.Join(p.standby.bin, "pg_basebackup"),
		"-h", "127.0.0.1", "-p", fmt.Sprint(p.primary.port), "-U", "lro",
		"-D", p.standby.data, "-R", "-X", "stream", "--no-sync"); err != nil {
		t.Fatalf("pg_basebackup: %v\n%s", err, out)
	}
	p.standby.start(t)

	conn, err := pgx.Connect(ctx, p.primary.url())
	if err != nil {
		t.Fatalf("connecting to the primary: %v", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync' AND state = 'streaming'`).Scan(&n)
		if err != nil {
			t.Fatalf("reading pg_stat_replication: %v", err)
		}
		if n == 1 {
			return p
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("the standby did not become the primary's synchronous standby before the deadline")
		}
	}
}

// url is the multi-host URL of the pair, which connects to whichever of
// them accepts writes (target_session_attrs=read-write), in database db,
// with pool_max_conns connections at most.
func (p *haPair) url(db string, poolMaxConns int) string {
	return fmt.Sprintf("postgres://lro@127.0.0.1:%d,127.0.0.1:%d/%s?sslmode=disable&target_session_attrs=read-write&pool_max_conns=%d",
		p.primary.port, p.standby.port, db, poolMaxConns)
}

// crashPrimary crashes the primary (pg_ctl stop -m immediate: every
// server process quits at once, without a checkpoint, as on a crash).
func (p *haPair) crashPrimary() error {
	if err := p.primary.pgctl("-m", "immediate", "-w", "stop"); err != nil {
		return fmt.Errorf("crashing the primary: %w", err)
	}
	return nil
}

// promote promotes the standby and returns once it accepts writes
// (pg_ctl promote -w).
func (p *haPair) promote() error {
	if err := p.standby.pgctl("-w", "-t", "60", "promote"); err != nil {
		return fmt.Errorf("promoting the standby: %w", err)
	}
	return nil
}
