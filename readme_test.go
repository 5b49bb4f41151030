package lro_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeBlock returns the first ```lang block after the heading in
// README.md.
func readmeBlock(t *testing.T, heading, lang string) string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README.md has no heading %q", heading)
	}
	s = s[i:]
	start := strings.Index(s, "```"+lang+"\n")
	if start < 0 {
		t.Fatalf("no ```%s block after %q", lang, heading)
	}
	s = s[start+len("```"+lang+"\n"):]
	end := strings.Index(s, "```")
	if end < 0 {
		t.Fatalf("unterminated block after %q", heading)
	}
	return s[:end]
}

// freePort returns a loopback port nothing listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

// TestReadmeCommandLine runs the README's "Drive it from the command
// line" block with bash, as a reader who pastes it would (on free ports in
// place of 8080 and 8081), so that the block cannot rot: it must start the
// service, start an export and wait for it to succeed.
func TestReadmeCommandLine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example service and lroctl; skipped with -short")
	}
	for _, tool := range []string{"bash", "curl", "grep"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the README block needs %s, which is not on PATH", tool)
		}
	}
	script := readmeBlock(t, "## Drive it from the command line", "sh")
	script = strings.NewReplacer("127.0.0.1:8080", "127.0.0.1:"+freePort(t), "127.0.0.1:8081", "127.0.0.1:"+freePort(t)).Replace(script)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// On timeout, end the whole group: the service runs in the background.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // anything the block left behind
	}
	if err != nil {
		t.Fatalf("the README block failed: %v\n%s", err, out.String())
	}
	for _, want := range []string{"started operations/", `"done": true`, "ExportBooksResponse"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestReadmeQuickStartBuilds compiles the README's quick start as it is,
// imports included, so that it stays a pasteable program.
func TestReadmeQuickStartBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go vet; skipped with -short")
	}
	src := readmeBlock(t, "## Quick start", "go")
	// A directory inside the module, so the module's requirements resolve;
	// the leading underscore keeps it out of ./... .
	dir, err := os.MkdirTemp(".", "_readme")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(dir+"/main.go", []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "vet", "./"+dir).CombinedOutput()
	if err != nil {
		t.Fatalf("the quick start does not build: %v\n%s\n%s", err, out, src)
	}
}
