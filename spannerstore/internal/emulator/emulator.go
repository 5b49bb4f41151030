// Package emulator starts the Cloud Spanner emulator for tests and gives
// each test a database of its own in it.
package emulator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/spanner"
	database "cloud.google.com/go/spanner/admin/database/apiv1"
	"cloud.google.com/go/spanner/admin/database/apiv1/databasepb"
	instance "cloud.google.com/go/spanner/admin/instance/apiv1"
	"cloud.google.com/go/spanner/admin/instance/apiv1/instancepb"
)

// Project and Instance name the emulator instance the tests use.
const (
	Project  = "lro-test"
	Instance = "lro-test"
)

var (
	available bool
	skipped   atomic.Int64
	whyNot    string
)

// binary returns the path of emulator_main, or "".
func binary() string {
	if p := os.Getenv("LRO_SPANNER_EMULATOR"); p != "" {
		return p
	}
	roots := []string{"/usr/lib/google-cloud-sdk", "/usr/share/google-cloud-sdk"}
	if out, err := exec.Command("gcloud", "info", "--format=value(installation.sdk_root)").Output(); err == nil {
		roots = append([]string{strings.TrimSpace(string(out))}, roots...)
	}
	for _, r := range roots {
		p := filepath.Join(r, "bin", "cloud_spanner_emulator", "emulator_main")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Main runs a package's tests with the emulator: it starts emulator_main
// on a free port, points SPANNER_EMULATOR_HOST at it, creates the test
// instance, runs the tests and stops it. Without the binary, tests that
// call Database skip, and Main says so in one line naming pkg (on the
// terminal when there is one, so that it shows without -v).
func Main(m *testing.M, pkg string) {
	stop := start()
	code := m.Run()
	stop()
	if n := skipped.Load(); n > 0 {
		var w io.Writer = os.Stdout
		if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
			defer tty.Close()
			w = tty
		}
		fmt.Fprintf(w, "%s: %d Cloud Spanner tests skipped: %s (install the Google Cloud CLI's cloud-spanner-emulator component, or set LRO_SPANNER_EMULATOR to emulator_main)\n", pkg, n, whyNot)
	}
	os.Exit(code)
}

func start() (stop func()) {
	bin := binary()
	if bin == "" {
		whyNot = "emulator_main not found"
		return func() {}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		whyNot = err.Error()
		return func() {}
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "--host_port", addr)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		whyNot = fmt.Sprintf("starting %s: %v", bin, err)
		return func() {}
	}
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	os.Setenv("SPANNER_EMULATOR_HOST", addr)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			whyNot = "the emulator did not listen within 30s"
			stop()
			return func() {}
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ic, err := instance.NewInstanceAdminClient(ctx)
	if err != nil {
		whyNot = err.Error()
		stop()
		return func() {}
	}
	defer ic.Close()
	op, err := ic.CreateInstance(ctx, &instancepb.CreateInstanceRequest{
		Parent:     "projects/" + Project,
		InstanceId: Instance,
		Instance: &instancepb.Instance{
			Config:      "projects/" + Project + "/instanceConfigs/emulator-config",
			DisplayName: Instance,
			NodeCount:   1,
		},
	})
	if err == nil {
		_, err = op.Wait(ctx)
	}
	if err != nil {
		whyNot = fmt.Sprintf("creating the emulator instance: %v", err)
		stop()
		return func() {}
	}
	available = true
	return stop
}

// DB is a test's database.
type DB struct {
	Name   string // projects/P/instances/I/databases/D
	Client *spanner.Client
	Admin  *database.DatabaseAdminClient
}

// Database creates an empty database of the test's own, dropped when the
// test ends, or skips the test when the emulator is not running (fails it
// when CI is set, since CI must run the Spanner tests).
func Database(t testing.TB) *DB {
	t.Helper()
	if !available {
		if os.Getenv("CI") != "" {
			t.Fatalf("Cloud Spanner emulator not available (%s), but CI is set: the Spanner tests must run in CI (the Google Cloud CLI ships the emulator)", whyNot)
		}
		skipped.Add(1)
		t.Skipf("Cloud Spanner emulator not available: %s", whyNot)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := database.NewDatabaseAdminClient(ctx)
	if err != nil {
		t.Fatalf("database admin client: %v", err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	id := "t" + hex.EncodeToString(b)
	op, err := admin.CreateDatabase(ctx, &databasepb.CreateDatabaseRequest{
		Parent:          "projects/" + Project + "/instances/" + Instance,
		CreateStatement: "CREATE DATABASE `" + id + "`",
	})
	if err == nil {
		_, err = op.Wait(ctx)
	}
	if err != nil {
		admin.Close()
		t.Fatalf("creating database %s: %v", id, err)
	}
	name := "projects/" + Project + "/instances/" + Instance + "/databases/" + id
	client, err := spanner.NewClientWithConfig(context.Background(), name, spanner.ClientConfig{
		SessionPoolConfig:    spanner.SessionPoolConfig{MinOpened: 1},
		DisableNativeMetrics: true,
	})
	if err != nil {
		admin.Close()
		t.Fatalf("spanner client: %v", err)
	}
	t.Cleanup(func() {
		client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := admin.DropDatabase(ctx, &databasepb.DropDatabaseRequest{Database: name}); err != nil {
			t.Errorf("dropping %s: %v", name, err)
		}
		admin.Close()
	})
	return &DB{Name: name, Client: client, Admin: admin}
}
