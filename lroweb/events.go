package lroweb

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// events streams an operation's changes as server-sent events until it is
// done, the client goes away, or an RPC fails:
//
//	event: op      data: the operation as the page shows it (opView JSON)
//	event: fail    data: {"code": "NOT_FOUND", "message": "..."}
//
// A failure of the first read is an HTTP error instead, so that the
// browser does not reconnect.
func (c *console) events(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	name := r.PathValue("name")
	op, err := c.ops.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: name})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a server's WriteTimeout would cut the stream
	s := &eventStream{w: w, rc: rc, render: c.render}
	if err := s.send(op); err != nil || op.GetDone() {
		return
	}
	if wt, ok := c.ops.(Watcher); ok {
		err = wt.WatchOperation(ctx, name, s.send)
	} else {
		err = c.waitLoop(ctx, op, s.send)
	}
	if err != nil && ctx.Err() == nil && !s.broken {
		s.fail(err)
	}
}

// waitLoop sends the operation's state each time WaitOperation returns,
// after first, until it is done or an RPC fails. A server that answers early with no
// news (a closed lro.Manager does, or one that caps waits near zero) is
// not asked again before the timeout would have passed: the loop never
// spins.
func (c *console) waitLoop(ctx context.Context, first *longrunningpb.Operation, send func(*longrunningpb.Operation) error) error {
	name, last := first.GetName(), first
	for {
		if err := ctx.Err(); err != nil { // in case the server ignores ctx
			return status.FromContextError(err).Err()
		}
		start := time.Now()
		op, err := c.ops.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: name, Timeout: durationpb.New(c.cfg.waitTimeout)})
		if err != nil {
			return err
		}
		if err := send(op); err != nil {
			return err
		}
		if op.GetDone() {
			return nil
		}
		early := time.Since(start) < c.cfg.waitTimeout/2
		if early && proto.Equal(op, last) {
			t := time.NewTimer(c.cfg.waitTimeout - time.Since(start))
			select {
			case <-ctx.Done():
				t.Stop()
				return status.FromContextError(ctx.Err()).Err()
			case <-t.C:
			}
		}
		last = op
	}
}

// eventStream writes server-sent events, skipping states equal to the last
// one sent.
type eventStream struct {
	w      http.ResponseWriter
	rc     *http.ResponseController
	render renderer
	last   *longrunningpb.Operation
	broken bool // a write failed: the client is gone
}

func (s *eventStream) send(op *longrunningpb.Operation) error {
	if s.last != nil && proto.Equal(op, s.last) {
		return nil
	}
	s.last = op
	return s.event("op", s.render.view(op))
}

func (s *eventStream) fail(err error) {
	e := toRPCError(err)
	_ = s.event("fail", struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{e.Code, e.Message})
}

func (s *eventStream) event(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("lroweb: encoding an event: %w", err)
	}
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", name, b); err != nil {
		s.broken = true
		return fmt.Errorf("lroweb: writing an event: %w", err)
	}
	if err := s.rc.Flush(); err != nil {
		s.broken = true
		return fmt.Errorf("lroweb: flushing an event: %w", err)
	}
	return nil
}
