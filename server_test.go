package lro_test

import (
	"context"
	"strings"
	"testing"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestGetBadAndUnknownNames(t *testing.T) {
	m := newManager(t)
	ctx := context.Background()
	tests := []struct {
		name string
		want codes.Code
	}{
		{"", codes.InvalidArgument},
		{"operations", codes.InvalidArgument},
		{"operations/", codes.InvalidArgument},
		{"/operations/abc", codes.InvalidArgument},
		{"operations//abc", codes.InvalidArgument},
		{"projects/p/operation/abc", codes.InvalidArgument},
		{"projects/p/operations/-", codes.InvalidArgument},
		{"operations/a b", codes.InvalidArgument},
		{"operations/abc\x00", codes.InvalidArgument},
		{"operations/" + strings.Repeat("x", 2000), codes.InvalidArgument},
		{"operations/unknown", codes.NotFound},
		{"projects/p/operations/unknown", codes.NotFound},
	}
	for _, tt := range tests {
		_, err := m.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: tt.name})
		if got := status.Code(err); got != tt.want {
			t.Errorf("GetOperation(%q) = %v, want %v", tt.name, err, tt.want)
		}
	}
	// Wait, Cancel and Delete answer NOT_FOUND for unknown names too.
	const unknown = "operations/unknown"
	_, err := m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: unknown})
	wantCode(t, err, codes.NotFound)
	_, err = m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: unknown})
	wantCode(t, err, codes.NotFound)
	_, err = m.DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: unknown})
	wantCode(t, err, codes.NotFound)
	_, err = m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: ""})
	wantCode(t, err, codes.InvalidArgument)
	_, err = m.DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: "bad"})
	wantCode(t, err, codes.InvalidArgument)
	_, err = m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: "operations/x/y"})
	wantCode(t, err, codes.InvalidArgument)
}

func TestDeleteRunningWorkIsNotCancelledAndResultDropped(t *testing.T) {
	m := newManager(t)
	ctx := context.Background()
	started := make(chan string, 1)
	release := make(chan struct{})
	ctxErr := make(chan error, 1)
	returned := make(chan struct{})
	op, err := m.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		started <- op.Name()
		<-release
		ctxErr <- ctx.Err()
		return wrapperspb.String("dropped"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	// A waiter learns of the deletion.
	waitErr := make(chan error, 1)
	go func() {
		_, err := m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName()})
		waitErr <- err
		close(returned)
	}()
	if _, err := m.DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: op.GetName()}); err != nil {
		t.Fatal(err)
	}
	<-returned
	wantCode(t, <-waitErr, codes.NotFound)
	_, err = m.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: op.GetName()})
	wantCode(t, err, codes.NotFound)
	close(release)
	if err := <-ctxErr; err != nil {
		t.Fatalf("Delete cancelled the work: %v", err)
	}
	// Close waits for the work to end; its result must not bring the
	// record back.
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = m.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: op.GetName()})
	wantCode(t, err, codes.NotFound)
}
