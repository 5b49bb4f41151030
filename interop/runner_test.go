package interop

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// clientTimeout bounds one client run; every check takes well under a
// second, so this is only reached when something hangs.
const clientTimeout = 2 * time.Minute

// missing skips the test because a client's runtime or packages are not
// installed, or fails it under CI (CI=true), where .ci/run installs them.
func missing(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("client not installed (CI=true, so this fails): %s", reason)
	}
	t.Skip("client not installed: " + reason)
}

// runClient runs cmd with the fixture's environment and checks that it
// exits 0 and that its output names each check of want as a line
// "ok <check>" (the scripts print one per check that passed).
func runClient(t *testing.T, f *fixture, want []string, name string, args ...string) string {
	t.Helper()
	return runClientEnv(t, f, nil, want, name, args...)
}

// runClientEnv is runClient with env added to the client's environment.
func runClientEnv(t *testing.T, f *fixture, env, want []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(append(os.Environ(), env...), f.env()...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	var got []string
	sc := bufio.NewScanner(bytes.NewReader(stdout.Bytes()))
	for sc.Scan() {
		if check, ok := strings.CutPrefix(sc.Text(), "ok "); ok {
			got = append(got, check)
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("check %q did not pass\nstdout:\n%s\nstderr:\n%s", w, stdout.String(), stderr.String())
		}
	}
	if testing.Verbose() {
		t.Logf("%s:\n%s", name, stdout.String())
	}
	return stdout.String()
}

// operationChecks are the checks every client of the Operations service
// makes against the fixture (see the scripts).
var operationChecks = []string{
	"get-done",     // the done operation, its response decoded (42s)
	"get-failed",   // the failed operation, its error code and message
	"list-pages",   // List with page size 2 walks every operation over pages
	"list-filter",  // List with filter done = true finds the two done ones
	"wait",         // the client's own wait sees the slow one running, then its response
	"cancel",       // Cancel ends the blocked one with CANCELLED
	"not-found",    // Get of a missing operation is NOT_FOUND
	"delete",       // Delete, then Get is NOT_FOUND
	"error-reason", // the NOT_FOUND carries ErrorInfo OPERATION_NOT_FOUND in the fixture's domain
}

// namings are the two ways of naming operations the clients are tried
// with: under a parent, as Google's services name them, and top-level
// (operations/{id}), the Manager's default.
var namings = []struct{ name, parent string }{
	{"parented", googleParent},
	{"toplevel", ""},
}
