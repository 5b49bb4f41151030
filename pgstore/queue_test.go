package pgstore

import (
	"context"
	"testing"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestListQueuedFilter: the filter queued = true, pushed down to SQL,
// lists the queued operations and only them.
func TestListQueuedFilter(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	m := lrotest.NewManager(t, s, lro.WithMaxRunning(0))
	if err := lro.Register(m, "job", func(ctx context.Context, op *lro.Op, req *wrapperspb.StringValue) (proto.Message, error) {
		return req, nil
	}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	queued, err := m.StartKind(ctx, "job", wrapperspb.String("q"))
	if err != nil {
		t.Fatal(err)
	}
	created, err := m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for filter, want := range map[string]string{
		"queued = true":                    queued.GetName(),
		"queued = false":                   created.GetName(),
		"done = false AND NOT queued:true": created.GetName(),
	} {
		resp, err := m.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Filter: filter})
		if err != nil {
			t.Fatalf("List(%q): %v", filter, err)
		}
		if ops := resp.GetOperations(); len(ops) != 1 || ops[0].GetName() != want {
			t.Errorf("List(%q) = %v; want only %s", filter, ops, want)
		}
	}
}
