package lro_test

import (
	"context"
	"testing"
	"time"

	"cloud.google.com/go/longrunning"
	lroauto "cloud.google.com/go/longrunning/autogen"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/go-cmp/cmp"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// serve registers m on a gRPC server on loopback and returns a connection
// to it.
func serve(t *testing.T, m *lro.Manager) *grpc.ClientConn { return lrotest.ServeGRPC(t, m) }

func TestGRPCGeneratedClient(t *testing.T) {
	m := newManager(t)
	client := longrunningpb.NewOperationsClient(serve(t, m))
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()

	release := make(chan proto.Message)
	started := make(chan string, 1)
	op, err := m.Start(ctx, blockingWork(started, release), lro.WithParent("projects/p"), lro.WithMetadata(wrapperspb.Int32(0)))
	if err != nil {
		t.Fatal(err)
	}
	<-started
	got, err := client.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: op.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(op, got, protocmp.Transform()); diff != "" {
		t.Errorf("GetOperation over gRPC (-want +got):\n%s", diff)
	}
	list, err := client.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: "projects/-/operations", Filter: "done = false"})
	if err != nil || len(list.GetOperations()) != 1 {
		t.Fatalf("ListOperations over gRPC: %v, %v", list, err)
	}

	waited := make(chan *longrunningpb.Operation, 1)
	go func() {
		w, err := client.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(time.Minute)})
		if err != nil {
			t.Error(err)
		}
		waited <- w
	}()
	release <- wrapperspb.String("exported")
	w := <-waited
	checkDone(t, w)

	_, err = client.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: "projects/p/operations/nope"})
	wantCode(t, err, codes.NotFound)
	_, err = client.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: ""})
	wantCode(t, err, codes.InvalidArgument)
	_, err = client.ListOperations(ctx, &longrunningpb.ListOperationsRequest{PageToken: "garbage"})
	wantCode(t, err, codes.InvalidArgument)

	// Cancel and Delete over the wire.
	c, _ := m.Create(ctx)
	if _, err := client.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: c.GetName()}); err != nil {
		t.Fatal(err)
	}
	if got, _ := client.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: c.GetName()}); got.GetError().GetCode() != int32(codes.Canceled) {
		t.Errorf("after Cancel: %v", got)
	}
	if _, err := client.DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: c.GetName()}); err != nil {
		t.Fatal(err)
	}
	_, err = client.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: c.GetName()})
	wantCode(t, err, codes.NotFound)
}

// TestGRPCWaitDeadline: a client deadline shorter than the timeout gets the
// latest state, not DEADLINE_EXCEEDED.
func TestGRPCWaitDeadline(t *testing.T) {
	m := newManager(t)
	client := longrunningpb.NewOperationsClient(serve(t, m))
	op, _ := m.Create(context.Background())
	// The server answers 10 % of the time left before the deadline, at
	// most 100 ms: 2 s leaves the whole 100 ms for the answer to arrive,
	// even on a loaded machine under -race (300 ms left 30 ms and failed).
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	got, err := client.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(time.Hour)})
	if err != nil {
		t.Fatalf("WaitOperation with a short RPC deadline: %v", err)
	}
	if got.GetDone() {
		t.Fatalf("got %v", got)
	}
}

// TestCloudLongrunningClient drives operations with the standard Go client
// of Google's libraries, which unpacks typed responses and errors.
func TestCloudLongrunningClient(t *testing.T) {
	m := newManager(t)
	conn := serve(t, m)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ac, err := lroauto.NewOperationsClient(ctx, option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}

	op, err := m.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		return wrapperspb.String("typed result"), nil
	}, lro.WithMetadata(wrapperspb.Int32(7)))
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, m, op.GetName()) // so the client's first poll sees it done
	lop := longrunning.InternalNewOperation(ac, op)
	var resp wrapperspb.StringValue
	if err := lop.Wait(ctx, &resp); err != nil {
		t.Fatalf("Operation.Wait: %v", err)
	}
	if resp.GetValue() != "typed result" {
		t.Errorf("unpacked response %q", resp.GetValue())
	}
	var md wrapperspb.Int32Value
	if err := lop.Metadata(&md); err != nil || md.GetValue() != 7 {
		t.Errorf("metadata %v, %v", md.GetValue(), err)
	}

	failed, _ := m.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		return nil, status.Error(codes.PermissionDenied, "bucket is not yours")
	})
	waitDone(t, m, failed.GetName())
	lop = longrunning.InternalNewOperation(ac, failed)
	err = lop.Wait(ctx, &resp)
	if s, _ := status.FromError(err); s.Code() != codes.PermissionDenied || s.Message() != "bucket is not yours" {
		t.Errorf("Wait on a failed operation: %v, want PERMISSION_DENIED", err)
	}
}
