package lrohttp_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"cloud.google.com/go/longrunning"
	lroauto "cloud.google.com/go/longrunning/autogen"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrohttp"
)

// TestGoogleRESTClient checks the mapping against Google's own REST client
// for the Operations service (cloud.google.com/go/longrunning), driving the
// real Manager: Get, List with pages, Cancel, Delete, error codes, and the
// standard Operation.Wait.
func TestGoogleRESTClient(t *testing.T) {
	ctx := context.Background()
	m := newManager(t)
	ts := httptest.NewServer(lrohttp.NewHandler(m))
	defer ts.Close()
	c, err := lroauto.NewOperationsRESTClient(ctx, option.WithEndpoint(ts.URL), option.WithoutAuthentication(), option.WithHTTPClient(ts.Client()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	done, err := m.Start(ctx, func(context.Context, *lro.Op) (proto.Message, error) {
		return wrapperspb.String("result"), nil
	}, lro.WithMetadata(wrapperspb.Int32(7)))
	if err != nil {
		t.Fatal(err)
	}
	// The standard client's Wait over REST (its first poll comes at once;
	// the operation is done or finishes within its first backoff step).
	var resp wrapperspb.StringValue
	if err := longrunning.InternalNewOperation(c, done).Wait(ctx, &resp); err != nil || resp.GetValue() != "result" {
		t.Fatalf("Operation.Wait = %v, response %q", err, resp.GetValue())
	}

	// An empty list, which the server writes as {}.
	it := c.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: "operations", Filter: "done = false"})
	if op, err := it.Next(); err != iterator.Done {
		t.Fatalf("empty ListOperations: %v, %v; want iterator.Done", op, err)
	}

	running, err := m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: running.GetName()})
	if err != nil || got.GetName() != running.GetName() || got.GetDone() {
		t.Fatalf("GetOperation = %v, %v", got, err)
	}
	var md wrapperspb.Int32Value
	if err := longrunning.InternalNewOperation(c, done).Metadata(&md); err != nil || md.GetValue() != 7 {
		t.Errorf("metadata %v, %v", md.GetValue(), err)
	}

	for range 3 {
		if _, err := m.Create(ctx); err != nil {
			t.Fatal(err)
		}
	}
	it = c.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: "operations", PageSize: 2})
	n := 0
	for {
		_, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatalf("ListOperations: %v", err)
		}
		n++
	}
	if n != 5 {
		t.Errorf("listed %d operations, want 5", n)
	}

	if err := c.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: running.GetName()}); err != nil {
		t.Fatalf("CancelOperation: %v", err)
	}
	got, err = c.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: running.GetName()})
	if err != nil || got.GetError().GetCode() != int32(codes.Canceled) {
		t.Fatalf("after cancel: %v, %v", got, err)
	}
	if err := c.DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: running.GetName()}); err != nil {
		t.Fatalf("DeleteOperation: %v", err)
	}
	_, err = c.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: running.GetName()})
	if status.Code(err) != codes.NotFound {
		t.Errorf("get after delete: %v (code %v), want NOT_FOUND", err, status.Code(err))
	}
	_, err = c.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: "operations/"})
	if code := status.Code(err); code != codes.InvalidArgument && code != codes.NotFound {
		t.Errorf("bad name: %v (code %v)", err, code)
	}
}
