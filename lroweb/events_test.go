package lroweb_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lroweb"
	"github.com/lrokit/lro/lroweb/internal/demo"
)

// guard bounds how long a test waits for something that must happen; it
// is a failure deadline, not a synchronisation.
const guard = 30 * time.Second

// setProgress publishes new metadata on a Create'd demo operation.
func setProgress(t *testing.T, m *lro.Manager, name string, p int32) {
	t.Helper()
	md := demo.Export{Source: "shelves/periodicals", Progress: p, Created: demoNow}
	if err := m.SetMetadata(context.Background(), name, md.Metadata()); err != nil {
		t.Fatal(err)
	}
}

// consoleMode is how the console learns of changes.
type consoleMode struct {
	name string
	ops  func(m *lro.Manager) longrunningpb.OperationsServer
	opts []lroweb.Option
}

var modes = []consoleMode{
	{"watcher", func(m *lro.Manager) longrunningpb.OperationsServer { return m }, nil},
	// WaitOperation returns only at the end or on timeout: a long timeout
	// proves that completion and deletion wake it.
	{"wait", func(m *lro.Manager) longrunningpb.OperationsServer { return waitOnly{m} }, []lroweb.Option{lroweb.WithWaitTimeout(time.Hour)}},
}

// waitOnly hides the Manager's WatchOperation, so the console falls back
// to WaitOperation.
type waitOnly struct{ longrunningpb.OperationsServer }

// streamContext is the context of an event stream: bounded by guard and
// ended with the test.
func streamContext(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	t.Cleanup(cancel)
	return ctx, cancel
}

func TestEventsDeliverMetadataChangeAndDone(t *testing.T) {
	m := newManager(t)
	s := seed(t, m)
	// Only the Watcher reports metadata changes as they happen.
	srv := serve(t, m)
	ctx, _ := streamContext(t)
	ev, resp := openEvents(t, ctx, srv.URL+"/events/"+s.Running)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}

	first := ev.nextOp(t)
	if first.Name != s.Running || first.State != "running" || !first.HasProgress || first.Progress != 42 {
		t.Fatalf("first event %+v", first)
	}
	setProgress(t, m, s.Running, 77)
	if v := ev.nextOp(t); v.Progress != 77 || v.Done || !strings.Contains(v.Metadata, `"progress_percent": 77`) {
		t.Fatalf("after SetMetadata: %+v", v)
	}
	if err := m.Complete(context.Background(), s.Running, demo.Response("gs://x", 1, 2, demoNow)); err != nil {
		t.Fatal(err)
	}
	v := ev.nextOp(t)
	if !v.Done || v.State != "succeeded" || v.ResultKind != "response" || !strings.Contains(v.Result, `"destination": "gs://x"`) {
		t.Fatalf("after Complete: %+v", v)
	}
	if e, err := ev.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after done: event %+v, error %v; want the stream to end", e, err)
	}
}

func TestEventsFallBackToWaitOperation(t *testing.T) {
	m := newManager(t)
	s := seed(t, m)

	t.Run("metadata on timeout", func(t *testing.T) {
		// Without a Watcher, a metadata change shows when a wait times
		// out: a tiny timeout shows it at once.
		srv := serve(t, m, lroweb.WithWaitTimeout(time.Millisecond))
		ctx, _ := streamContext(t)
		ev, _ := openEvents(t, ctx, srv.URL+"/events/"+s.Running)
		if v := ev.nextOp(t); v.Progress != 42 {
			t.Fatalf("first event %+v", v)
		}
		setProgress(t, m, s.Running, 55)
		if v := ev.nextOp(t); v.Progress != 55 || v.Done {
			t.Fatalf("after SetMetadata: %+v", v)
		}
	})
	t.Run("done at once", func(t *testing.T) {
		srv := serve(t, m, lroweb.WithWaitTimeout(time.Hour))
		ctx, _ := streamContext(t)
		ev, _ := openEvents(t, ctx, srv.URL+"/events/"+s.Running)
		if v := ev.nextOp(t); v.Progress != 55 {
			t.Fatalf("first event %+v", v)
		}
		if _, err := m.CancelOperation(context.Background(), &longrunningpb.CancelOperationRequest{Name: s.Running}); err != nil {
			t.Fatal(err)
		}
		if v := ev.nextOp(t); !v.Done || v.State != "cancelled" || v.ErrorCode != "CANCELLED" {
			t.Fatalf("after Cancel: %+v", v)
		}
		if _, err := ev.next(); !errors.Is(err, io.EOF) {
			t.Fatalf("after done: %v, want the end of the stream", err)
		}
	})
}

func TestEventsReportDeletion(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			m := newManager(t)
			s := seed(t, m)
			srv := serve(t, mode.ops(m), mode.opts...)
			ctx, _ := streamContext(t)
			ev, _ := openEvents(t, ctx, srv.URL+"/events/"+s.Running)
			ev.nextOp(t)
			if _, err := m.DeleteOperation(context.Background(), &longrunningpb.DeleteOperationRequest{Name: s.Running}); err != nil {
				t.Fatal(err)
			}
			e, err := ev.next()
			if err != nil {
				t.Fatal(err)
			}
			var f struct{ Code, Message string }
			if e.name != "fail" || json.Unmarshal([]byte(e.data), &f) != nil || f.Code != "NOT_FOUND" {
				t.Fatalf("after Delete: event %+v", e)
			}
			if _, err := ev.next(); !errors.Is(err, io.EOF) {
				t.Fatalf("after the failure: %v, want the end of the stream", err)
			}
		})
	}
}

func TestEventsOfDoneOperationEndAtOnce(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			m := newManager(t)
			s := seed(t, m)
			srv := serve(t, mode.ops(m), mode.opts...)
			ctx, _ := streamContext(t)
			ev, _ := openEvents(t, ctx, srv.URL+"/events/"+s.All[0])
			if v := ev.nextOp(t); !v.Done || v.State != "succeeded" {
				t.Fatalf("event %+v", v)
			}
			if _, err := ev.next(); !errors.Is(err, io.EOF) {
				t.Fatalf("%v, want the end of the stream", err)
			}
		})
	}
}

func TestEventsEndWhenClientLeaves(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			m := newManager(t)
			s := seed(t, m)
			h, err := newConsole(mode.ops(m), mode.opts...)
			if err != nil {
				t.Fatal(err)
			}
			ended := make(chan struct{}, 1)
			srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h.ServeHTTP(w, r)
				if strings.HasPrefix(r.URL.Path, "/events/") {
					ended <- struct{}{}
				}
			}))
			ctx, cancel := streamContext(t)
			ev, _ := openEvents(t, ctx, srv.URL+"/events/"+s.Running)
			ev.nextOp(t)
			cancel()
			select {
			case <-ended:
			case <-time.After(guard):
				t.Fatal("the event stream goes on after the client left")
			}
		})
	}
}

// earlyServer answers WaitOperation at once, with no news, as a closed
// lro.Manager does; it reports its third call.
type earlyServer struct {
	longrunningpb.UnimplementedOperationsServer
	calls atomic.Int32
	third chan struct{}
}

func (e *earlyServer) op() *longrunningpb.Operation {
	return &longrunningpb.Operation{Name: "operations/early"}
}

func (e *earlyServer) GetOperation(context.Context, *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	return e.op(), nil
}

func (e *earlyServer) WaitOperation(context.Context, *longrunningpb.WaitOperationRequest) (*longrunningpb.Operation, error) {
	if e.calls.Add(1) == 3 {
		close(e.third)
	}
	return e.op(), nil
}

func TestEventsDoNotSpinOnEarlyWaits(t *testing.T) {
	const timeout = 40 * time.Millisecond
	srv := &earlyServer{third: make(chan struct{})}
	web := serve(t, srv, lroweb.WithWaitTimeout(timeout))
	start := time.Now()
	ctx, cancel := streamContext(t)
	ev, _ := openEvents(t, ctx, web.URL+"/events/operations/early")
	ev.nextOp(t)
	select {
	case <-srv.third:
	case <-ctx.Done():
		t.Fatal("WaitOperation was not called three times")
	}
	// Each early answer waits out the rest of the timeout before the next
	// call: three calls take at least two timeouts.
	if elapsed := time.Since(start); elapsed < 2*timeout {
		t.Errorf("three early WaitOperation answers took %v, want at least %v", elapsed, 2*timeout)
	}
	cancel()
}
