package lroclient_test

import (
	"context"
	"fmt"
	"log"
	"net"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lroclient"
)

// Wait for an operation through a gRPC connection and read its response.
func ExampleWait() {
	ctx := context.Background()

	// A server: an lro Manager registered as the Operations service.
	m, err := lro.New()
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close(ctx)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	gs := grpc.NewServer()
	longrunningpb.RegisterOperationsServer(gs, m)
	go gs.Serve(lis)
	defer gs.Stop()

	op, err := m.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		return wrapperspb.String("gs://bucket/export.csv"), nil
	})
	if err != nil {
		log.Fatal(err)
	}

	// A client.
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := longrunningpb.NewOperationsClient(conn)

	var resp wrapperspb.StringValue
	if _, err := lroclient.Wait(ctx, client, op.GetName(), &resp); err != nil {
		log.Fatal(status.Code(err), err)
	}
	fmt.Println(resp.GetValue())
	// Output: gs://bucket/export.csv
}
