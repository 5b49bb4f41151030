package exportserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"

	"github.com/lrokit/lro/examples/exportsvc/proto/exportpb"
)

// scrape returns the text of the server's /metrics.
func scrape(t *testing.T, s *testServer) string {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), http.MethodGet, "http://"+s.HTTPAddr()+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %s, %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	return string(body)
}

// sample finds the value of the Prometheus sample of metric whose labels
// include every one of labels ("lro_kind=\"export\""), or "" if none does.
func sample(text, metric string, labels ...string) string {
	for _, line := range strings.Split(text, "\n") {
		name, rest, ok := strings.Cut(line, "{")
		if !ok || name != metric {
			continue
		}
		set, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		all := true
		for _, l := range labels {
			all = all && strings.Contains(","+set+",", ","+l+",")
		}
		if all {
			return value
		}
	}
	return ""
}

// TestMetricsEndpoint: after an export starts, /metrics on the REST port
// serves the Manager's metrics in the Prometheus text format.
func TestMetricsEndpoint(t *testing.T) {
	s := startServer(t, hang) // the export is still running at the scrape
	ctx := testContext(t)
	op, err := s.exports.ExportBooks(ctx, &exportpb.ExportBooksRequest{Shelf: "shelves/poetry"})
	if err != nil {
		t.Fatal(err)
	}
	text := scrape(t, s)
	for _, c := range []struct{ metric, want string }{
		{"lro_operations_started_total", "1"},
		{"lro_operations_running", "1"},
	} {
		if got := sample(text, c.metric, `lro_kind="export"`, `otel_scope_name="github.com/lrokit/lro"`); got != c.want {
			t.Errorf("%s{lro_kind=\"export\"} = %q, want %s; /metrics:\n%s", c.metric, got, c.want, text)
		}
	}
	if _, err := s.ops.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: op.GetName()}); err != nil {
		t.Fatal(err)
	}
	waitDone(ctx, t, s.ops, op.GetName())
}

// syncBuffer is a bytes.Buffer that several goroutines may write.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// line returns the logged line whose message is msg.
func (b *syncBuffer) line(t *testing.T, msg string) string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range strings.Split(b.buf.String(), "\n") {
		if strings.Contains(l, "msg="+strconvQuote(msg)) {
			return l
		}
	}
	t.Fatalf("no log line %q in:\n%s", msg, b.buf.String())
	return ""
}

// strconvQuote quotes msg as slog's text handler does when it has spaces.
func strconvQuote(msg string) string {
	if strings.ContainsAny(msg, " =\"") {
		return `"` + msg + `"`
	}
	return msg
}

var traceIDRE = regexp.MustCompile(`trace_id=([0-9a-f]{32}) span_id=([0-9a-f]{16})`)

// TestLogsCarryTraceIDs: the line logged while serving ExportBooks, over
// gRPC or REST, carries the caller's trace id (sent as a W3C traceparent),
// and the line logged by the run of the export carries the run's own
// trace, a new one.
func TestLogsCarryTraceIDs(t *testing.T) {
	const traceID, parentID = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	const traceparent = "00-" + traceID + "-" + parentID + "-01"
	tests := []struct {
		name   string
		export func(ctx context.Context, s *testServer) (string, error)
	}{
		{"gRPC", func(ctx context.Context, s *testServer) (string, error) {
			ctx = metadata.AppendToOutgoingContext(ctx, "traceparent", traceparent)
			op, err := s.exports.ExportBooks(ctx, &exportpb.ExportBooksRequest{Shelf: "shelves/poetry"})
			return op.GetName(), err
		}},
		{"REST", func(ctx context.Context, s *testServer) (string, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.HTTPAddr()+"/v1/shelves/poetry/books:export", strings.NewReader("{}"))
			if err != nil {
				return "", err
			}
			req.Header.Set("traceparent", traceparent)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return "", err
			}
			defer func() { _ = resp.Body.Close() }()
			var op struct{ Name string }
			if err := json.NewDecoder(resp.Body).Decode(&op); err != nil {
				return "", err
			}
			return op.Name, nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out syncBuffer
			s := startServerConfig(t, Config{
				GRPCAddr: "127.0.0.1:0",
				HTTPAddr: "127.0.0.1:0",
				Logger:   slog.New(slog.NewTextHandler(&out, nil)),
			})
			ctx := testContext(t)
			name, err := tt.export(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			waitDone(ctx, t, s.ops, name)

			started := traceIDRE.FindStringSubmatch(out.line(t, "export started"))
			if started == nil || started[1] != traceID || started[2] == parentID {
				t.Errorf("export started: trace and span %v, want trace %s and the server's own span", started, traceID)
			}
			running := traceIDRE.FindStringSubmatch(out.line(t, "export running"))
			if running == nil || running[1] == traceID {
				t.Errorf("export running: trace and span %v, want the run's own trace", running)
			}
		})
	}
}

// TestTraceLogHandler: records logged without a span carry no ids; with
// one, they do, through loggers derived with With and WithGroup too.
func TestTraceLogHandler(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(withTraceIDs(slog.NewTextHandler(&out, nil)))
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c},
		SpanID:  trace.SpanID{0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31},
	})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	log.Info("plain")
	log.InfoContext(context.Background(), "no span")
	log.InfoContext(ctx, "span")
	log.With("k", "v").InfoContext(ctx, "with")
	log.WithGroup("g").InfoContext(ctx, "group")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		"",
		"",
		"trace_id=0af7651916cd43dd8448eb211c80319c span_id=b7ad6b7169203331",
		"trace_id=0af7651916cd43dd8448eb211c80319c span_id=b7ad6b7169203331",
		"g.trace_id=0af7651916cd43dd8448eb211c80319c g.span_id=b7ad6b7169203331",
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, l := range lines {
		has := strings.Contains(l, "trace_id=")
		if want[i] == "" && has || want[i] != "" && !strings.HasSuffix(l, want[i]) {
			t.Errorf("line %d = %q, want it to end with %q", i, l, want[i])
		}
	}
}
