package chaos_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// cluster is a throwaway PostgreSQL cluster that a test starts and stops.
type cluster struct {
	bin, dir, data, sock string
	port                 int
	// osUser runs the server when the test runs as root, since PostgreSQL
	// refuses to; "" runs it as the current user.
	osUser string
	// opts are server options given after the defaults of start, which
	// they override.
	opts string
}

// findPGBin returns the directory of the PostgreSQL server binaries: $PGBIN,
// the Debian location of version 15, any other Debian version, or the
// directory of initdb on $PATH. It returns "" when none has them.
func findPGBin() string {
	candidates := []string{os.Getenv("PGBIN"), "/usr/lib/postgresql/15/bin"}
	more, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	candidates = append(candidates, more...)
	if p, err := exec.LookPath("initdb"); err == nil {
		candidates = append(candidates, filepath.Dir(p))
	}
	for _, d := range candidates {
		if d == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d
		}
	}
	return ""
}

// newCluster initialises a cluster of the test's own in a temporary
// directory, on a free loopback port, removed when the test ends. It skips
// when the PostgreSQL binaries are not installed (fails in CI, where they
// must be).
func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := newClusterDir(t)
	if out, err := c.run(filepath.Join(c.bin, "initdb"), "-D", c.data, "-U", "lro", "--auth=trust",
		"--encoding=UTF8", "--no-locale", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	return c
}

// newClusterDir prepares what newCluster does except the data directory
// itself (c.data does not exist yet): the temporary directory, the server's
// OS user and a free port. It skips as newCluster does.
func newClusterDir(t *testing.T) *cluster {
	t.Helper()
	bin := findPGBin()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("the PostgreSQL server binaries (initdb, pg_ctl) are not installed, but CI is set; set PGBIN")
		}
		t.Skip("the PostgreSQL server binaries (initdb, pg_ctl) are not installed; set PGBIN to run this test")
	}
	c := &cluster{bin: bin}
	var uid, gid = -1, -1
	if os.Getuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("running as root and there is no postgres user to run the server as: %v", err)
		}
		c.osUser = "postgres"
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	}
	// Not t.TempDir: its parent is private to the current user, and the
	// server may run as another one.
	dir, err := os.MkdirTemp("", "lro-chaos-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir, c.data, c.sock = dir, filepath.Join(dir, "data"), filepath.Join(dir, "sock")
	if err := os.Mkdir(c.sock, 0o700); err != nil {
		t.Fatal(err)
	}
	if uid >= 0 {
		for _, p := range []string{dir, c.sock} {
			if err := os.Chown(p, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(func() {
		// Immediate: the test is over, nothing needs a clean shutdown.
		_ = c.pgctl("-m", "immediate", "-w", "stop")
		_ = os.RemoveAll(dir)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.port = l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return c
}

// run runs a PostgreSQL program, as c.osUser when set.
func (c *cluster) run(prog string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var cmd *exec.Cmd
	if c.osUser != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.osUser, "--", prog}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, prog, args...)
	}
	cmd.Dir = c.dir
	return cmd.CombinedOutput()
}

func (c *cluster) pgctl(args ...string) error {
	out, err := c.run(filepath.Join(c.bin, "pg_ctl"), append([]string{"-D", c.data}, args...)...)
	if err != nil {
		return fmt.Errorf("pg_ctl %v: %w\n%s", args, err, out)
	}
	return nil
}

// start starts the server and returns once it accepts connections
// (pg_ctl -w).
func (c *cluster) start(t *testing.T) {
	t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off %s", c.port, c.sock, c.opts)
	if err := c.pgctl("-l", filepath.Join(c.dir, "postgres.log"), "-w", "-t", "60", "-o", opts, "start"); err != nil {
		if b, rerr := os.ReadFile(filepath.Join(c.dir, "postgres.log")); rerr == nil {
			t.Logf("postgres.log:\n%s", tail(b, 4096))
		}
		t.Fatal(err)
	}
}

// stop shuts the server down (fast: sessions are cut, as in a failover or
// a restart for maintenance) and returns once it is gone.
func (c *cluster) stop(t *testing.T) {
	t.Helper()
	if err := c.pgctl("-m", "fast", "-w", "stop"); err != nil {
		t.Fatal(err)
	}
}

// url is the connection URL of the cluster's postgres database.
func (c *cluster) url() string {
	return fmt.Sprintf("postgres://lro@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}
