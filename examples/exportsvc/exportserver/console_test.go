package exportserver

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lrokit/lro/examples/exportsvc/proto/exportpb"
)

// getBody GETs url and returns its status and body.
func getBody(ctx context.Context, t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestConsole(t *testing.T) {
	s := startServer(t, 0)
	ctx := testContext(t)
	op, err := s.exports.ExportBooks(ctx, &exportpb.ExportBooksRequest{Shelf: "shelves/poetry"})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(ctx, t, s.ops, op.GetName())
	console := "http://" + s.HTTPAddr() + "/console/"
	if code, body := getBody(ctx, t, console); code != 200 || !strings.Contains(body, op.GetName()[len("operations/"):]) {
		t.Fatalf("GET %s = %d, want a list with %s:\n%s", console, code, op.GetName(), body)
	}
	code, body := getBody(ctx, t, console+"op/"+op.GetName())
	if code != 200 || !strings.Contains(body, "ExportBooksResponse") || !strings.Contains(body, `&#34;progress_percent&#34;: 100`) {
		t.Fatalf("operation page = %d:\n%s", code, body)
	}
}

// An open operation page must not hold up Shutdown.
func TestShutdownEndsConsoleStreams(t *testing.T) {
	s, err := Start(t.Context(), Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	ctx := testContext(t)
	// Nothing runs an operation made with Create, so it stays open
	// through the Manager's Close.
	op, err := s.ops.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.HTTPAddr()+"/console/events/"+op.GetName(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := bufio.NewReader(resp.Body)
	if line, err := events.ReadString('\n'); err != nil || line != "event: op\n" {
		t.Fatalf("first line of the stream: %q %v", line, err)
	}

	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with an open console stream: %v", err)
	}
	if d := time.Since(start); d > testTimeout/2 {
		t.Errorf("Shutdown took %v", d)
	}
	if _, err := io.ReadAll(events); err != nil {
		t.Errorf("the stream did not end cleanly: %v", err)
	}
}
