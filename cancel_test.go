package lro_test

import (
	"context"
	"errors"
	"testing"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/go-cmp/cmp"
	"github.com/lrokit/lro"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestCancelRunningWork(t *testing.T) {
	m := newManager(t)
	ctx := context.Background()
	started := make(chan string, 1)
	op, err := m.Start(ctx, blockingWork(started, nil))
	if err != nil {
		t.Fatal(err)
	}
	<-started
	if _, err := m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: op.GetName()}); err != nil {
		t.Fatal(err)
	}
	done := waitDone(t, m, op.GetName())
	checkDone(t, done)
	if got := done.GetError().GetCode(); got != 1 {
		t.Errorf("cancelled operation has code %d, want 1 (CANCELLED)", got)
	}
}

func TestCancelledWorkThatFinishesAnyway(t *testing.T) {
	m := newManager(t)
	ctx := context.Background()
	sawCancel := make(chan struct{})
	started := make(chan struct{})
	op, err := m.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		close(started)
		<-ctx.Done()
		close(sawCancel)
		return wrapperspb.String("finished anyway"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	if _, err := m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: op.GetName()}); err != nil {
		t.Fatal(err)
	}
	<-sawCancel
	done := waitDone(t, m, op.GetName())
	checkDone(t, done)
	if done.GetResponse() == nil {
		t.Errorf("work that finished despite the cancel should keep its response, got %v", done)
	}
}

func TestCancelCreatedOperation(t *testing.T) {
	m := newManager(t)
	ctx := context.Background()
	op, _ := m.Create(ctx)
	if _, err := m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: op.GetName()}); err != nil {
		t.Fatal(err)
	}
	got := get(t, m, op.GetName())
	checkDone(t, got)
	if got.GetError().GetCode() != 1 {
		t.Fatalf("cancelled Create operation: %v, want code 1", got.GetError())
	}
	wantCode(t, m.Complete(ctx, op.GetName(), nil), codes.FailedPrecondition)
	wantCode(t, m.Fail(ctx, op.GetName(), errors.New("x")), codes.FailedPrecondition)
}

func TestCancelDoneOperationChangesNothing(t *testing.T) {
	m := newManager(t)
	ctx := context.Background()
	op, _ := m.Create(ctx)
	if err := m.Complete(ctx, op.GetName(), wrapperspb.String("ok")); err != nil {
		t.Fatal(err)
	}
	before := get(t, m, op.GetName())
	if _, err := m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: op.GetName()}); err != nil {
		t.Fatalf("Cancel of a done operation: %v, want OK", err)
	}
	if diff := cmp.Diff(before, get(t, m, op.GetName()), protocmp.Transform()); diff != "" {
		t.Errorf("Cancel changed a done operation (-before +after):\n%s", diff)
	}
}
