//go:build unix

package pgtest

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

func TestMain(m *testing.M) { Main(m, "pgtest") }

// childEnv marks the test binary run by TestMainReportsSkips.
const childEnv = "PGTEST_CHILD"

// TestSkipsForMain skips through URL; it only runs in the child process of
// TestMainReportsSkips.
func TestSkipsForMain(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("run by TestMainReportsSkips")
	}
	URL(t)
	t.Fatal("URL did not skip without a database URL")
}

// TestMainReportsSkips runs this test binary again without a database URL
// and without a terminal (a session of its own), and checks that Main
// reports the skip in one line on stdout.
func TestMainReportsSkips(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("the child runs TestSkipsForMain only")
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestSkipsForMain$", "-test.count", "1")
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, EnvURL+"=") && !strings.HasPrefix(kv, "CI=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, childEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no controlling terminal
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child test binary: %v\n%s", err, out)
	}
	want := "pgtest: 1 PostgreSQL tests skipped: set " + EnvURL
	if !strings.Contains(string(out), want) {
		t.Errorf("child output does not report the skip; want a line with %q:\n%s", want, out)
	}
}
