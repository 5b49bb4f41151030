package lro_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/lrokit/lro"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestCreateCompleteFailSetMetadata(t *testing.T) {
	m := newManager(t)
	ctx := context.Background()

	op, err := m.Create(ctx, lro.WithMetadata(wrapperspb.String("queued")))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetMetadata(ctx, op.GetName(), wrapperspb.String("running")); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(mustAny(t, wrapperspb.String("running")), get(t, m, op.GetName()).GetMetadata(), protocmp.Transform()); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	if err := m.Complete(ctx, op.GetName(), wrapperspb.String("ok")); err != nil {
		t.Fatal(err)
	}
	checkDone(t, get(t, m, op.GetName()))
	wantCode(t, m.Complete(ctx, op.GetName(), wrapperspb.String("again")), codes.FailedPrecondition)
	wantCode(t, m.Fail(ctx, op.GetName(), errors.New("late")), codes.FailedPrecondition)
	wantCode(t, m.SetMetadata(ctx, op.GetName(), wrapperspb.String("late")), codes.FailedPrecondition)

	op2, _ := m.Create(ctx)
	if err := m.Fail(ctx, op2.GetName(), status.Error(codes.DataLoss, "lost")); err != nil {
		t.Fatal(err)
	}
	got := get(t, m, op2.GetName())
	checkDone(t, got)
	if codes.Code(got.GetError().GetCode()) != codes.DataLoss {
		t.Errorf("Fail recorded %v, want DATA_LOSS", got.GetError())
	}
	op3, _ := m.Create(ctx)
	if err := m.Fail(ctx, op3.GetName(), nil); err != nil {
		t.Fatal(err)
	}
	if got := get(t, m, op3.GetName()); codes.Code(got.GetError().GetCode()) != codes.Unknown {
		t.Errorf("Fail(nil) recorded %v, want UNKNOWN", got.GetError())
	}

	wantCode(t, m.Complete(ctx, "operations/missing", nil), codes.NotFound)
	wantCode(t, m.Complete(ctx, "not a name", nil), codes.InvalidArgument)

	// Complete is for operations nobody here runs.
	started := make(chan string, 1)
	release := make(chan proto.Message)
	w, _ := m.Start(ctx, blockingWork(started, release))
	<-started
	wantCode(t, m.Complete(ctx, w.GetName(), nil), codes.FailedPrecondition)
	release <- nil
	waitDone(t, m, w.GetName())
}
