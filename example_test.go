package lro_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// A host registers the Manager as its Operations server; an API handler
// calls Start and returns the operation; a client waits for the result.
func Example() {
	m, err := lro.New()
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close(context.Background())

	s := grpc.NewServer()
	longrunningpb.RegisterOperationsServer(s, m)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go s.Serve(lis)
	defer s.Stop()

	// Inside an API handler such as ExportBooks:
	exportBooks := func(ctx context.Context, shelf string) (*longrunningpb.Operation, error) {
		return m.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
			for pct := int32(25); pct <= 100; pct += 25 {
				if err := op.SetMetadata(ctx, wrapperspb.Int32(pct)); err != nil {
					return nil, err
				}
			}
			return wrapperspb.String("gs://bucket/" + shelf + ".csv"), nil
		}, lro.WithParent("shelves/"+shelf), lro.WithMetadata(wrapperspb.Int32(0)))
	}
	op, err := exportBooks(context.Background(), "fiction")
	if err != nil {
		log.Fatal(err)
	}

	// A client, anywhere:
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := longrunningpb.NewOperationsClient(conn)
	for !op.GetDone() {
		op, err = client.WaitOperation(context.Background(), &longrunningpb.WaitOperationRequest{
			Name: op.GetName(), Timeout: durationpb.New(30 * time.Second),
		})
		if err != nil {
			log.Fatal(err)
		}
	}
	var result wrapperspb.StringValue
	if err := op.GetResponse().UnmarshalTo(&result); err != nil {
		log.Fatal(err)
	}
	fmt.Println(result.GetValue())
	// Output: gs://bucket/fiction.csv
}

// Operations driven by another system: Create now, Complete or Fail later.
func ExampleManager_Create() {
	m, _ := lro.New()
	defer m.Close(context.Background())
	ctx := context.Background()

	op, _ := m.Create(ctx, lro.WithMetadata(wrapperspb.String("waiting for the webhook")))
	// ... later, when the other system calls back:
	_ = m.Complete(ctx, op.GetName(), wrapperspb.String("approved"))

	got, _ := m.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: op.GetName()})
	fmt.Println(got.GetDone(), got.GetResponse().GetTypeUrl())
	// Output: true type.googleapis.com/google.protobuf.StringValue
}

// Listing with an AIP-160 filter, a page at a time.
func ExampleManager_ListOperations() {
	m, _ := lro.New()
	defer m.Close(context.Background())
	ctx := context.Background()
	for i := range 3 {
		op, _ := m.Create(ctx, lro.WithParent("projects/demo"))
		if i > 0 {
			_ = m.Complete(ctx, op.GetName(), nil)
		}
	}
	req := &longrunningpb.ListOperationsRequest{Name: "projects/demo/operations", Filter: "done = true", PageSize: 1}
	pages := 0
	for {
		resp, err := m.ListOperations(ctx, req)
		if err != nil {
			log.Fatal(err)
		}
		pages++
		if resp.GetNextPageToken() == "" {
			break
		}
		req.PageToken = resp.GetNextPageToken()
	}
	fmt.Println("pages:", pages)
	// Output: pages: 2
}

// Registered work survives the replica running it: its request is stored,
// and another replica sharing the store runs it again.
func ExampleRegister() {
	m, _ := lro.New()
	defer m.Close(context.Background())
	ctx := context.Background()
	_ = lro.Register(m, "greet", func(ctx context.Context, op *lro.Op, req *wrapperspb.StringValue) (proto.Message, error) {
		return wrapperspb.String(fmt.Sprintf("hello, %s (attempt %d)", req.GetValue(), op.Attempt())), nil
	})
	op, _ := m.StartKind(ctx, "greet", wrapperspb.String("world"))
	op, _ = m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName()})
	var out wrapperspb.StringValue
	_ = op.GetResponse().UnmarshalTo(&out)
	fmt.Println(out.GetValue())
	// Output: hello, world (attempt 1)
}
