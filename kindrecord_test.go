package lro_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// echoKind is a handler that answers its request.
func echoKind(ctx context.Context, op *lro.Op, req *wrapperspb.StringValue) (proto.Message, error) {
	return req, nil
}

// TestNewKindRecord: the record is StartKind's, queued for a replica to
// claim, and nothing is stored or run; an accept-only Manager builds it
// too.
func TestNewKindRecord(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	store := lro.NewMemoryStore()
	m := newManager(t, lro.WithClock(clk), lro.WithStore(store), lro.WithMaxRunning(0))
	if m.Store() != lro.Store(store) {
		t.Errorf("Store() = %v; want the WithStore store", m.Store())
	}
	if err := lro.Register(m, "echo", echoKind, lro.KindTimeout(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts []lro.StartOption
		want time.Duration
	}{
		{"KindTimeout", nil, time.Hour},
		{"WithTimeout", []lro.StartOption{lro.WithTimeout(time.Minute)}, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := m.NewKindRecord(context.Background(), "echo", wrapperspb.String("hi"),
				append(tc.opts, lro.WithParent("shelves/1"), lro.WithRequestID("r1"))...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(r.Operation.GetName(), "shelves/1/operations/") || r.Operation.GetDone() {
				t.Errorf("operation = %v; want a running one under shelves/1", r.Operation)
			}
			if !r.Queued() || r.Owner != "" || r.Attempt != 0 || r.Kind != "echo" || r.Parent != "shelves/1" || r.RequestID != "r1" {
				t.Errorf("record = queued %v, owner %q, attempt %d, kind %q, parent %q, request id %q; want queued, unowned, never run",
					r.Queued(), r.Owner, r.Attempt, r.Kind, r.Parent, r.RequestID)
			}
			if !r.CreateTime.Equal(epoch) || !r.Deadline.Equal(epoch.Add(tc.want)) {
				t.Errorf("created %v, deadline %v; want %v and %v later", r.CreateTime, r.Deadline, epoch, tc.want)
			}
			var req wrapperspb.StringValue
			if err := r.Request.UnmarshalTo(&req); err != nil || req.GetValue() != "hi" {
				t.Errorf("request = %v, %v; want hi", r.Request, err)
			}
		})
	}
	if n := store.Len(); n != 0 {
		t.Errorf("the store holds %d operations; NewKindRecord stores none", n)
	}
}

// TestNewKindRecordErrors: NewKindRecord refuses what StartKind refuses,
// and everything once Close has begun.
func TestNewKindRecordErrors(t *testing.T) {
	m := newManager(t)
	if err := lro.Register(m, "echo", echoKind); err != nil {
		t.Fatal(err)
	}
	closed, err := lro.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := lro.Register(closed, "echo", echoKind); err != nil {
		t.Fatal(err)
	}
	if err := closed.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		m    *lro.Manager
		ctx  context.Context
		kind string
		req  proto.Message
		opts []lro.StartOption
		want codes.Code
	}{
		{"unregistered kind", m, context.Background(), "nope", wrapperspb.String("x"), nil, codes.InvalidArgument},
		{"nil request", m, context.Background(), "echo", nil, nil, codes.InvalidArgument},
		{"wrong request type", m, context.Background(), "echo", wrapperspb.Int32(1), nil, codes.InvalidArgument},
		{"nil context", m, nil, "echo", wrapperspb.String("x"), nil, codes.InvalidArgument},
		{"bad timeout", m, context.Background(), "echo", wrapperspb.String("x"), []lro.StartOption{lro.WithTimeout(-time.Second)}, codes.InvalidArgument},
		{"closed", closed, context.Background(), "echo", wrapperspb.String("x"), nil, codes.Unavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.m.NewKindRecord(tc.ctx, tc.kind, tc.req, tc.opts...)
			if status.Code(err) != tc.want || r != nil {
				t.Errorf("NewKindRecord = %v, %v; want %v", r, err, tc.want)
			}
		})
	}
}
