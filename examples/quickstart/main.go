// Command quickstart shows github.com/lrokit/lro end to end in one process.
//
// It starts a gRPC server on a free loopback port that serves a small
// BakeryService and, through an lro.Manager, google.longrunning.Operations.
// It then calls BakeryService.BakeCake as any client would, follows the
// operation it returns (printing progress as the metadata changes), prints
// the finished cake, and shuts everything down.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/examples/quickstart/quickstartpb"
	"github.com/lrokit/lro/lroclient"
)

// stepDuration is how long each baking step takes.
const stepDuration = 200 * time.Millisecond

// steps are what baking a cake takes, in order.
var steps = []string{"mixing", "baking", "cooling", "decorating"}

// bakery implements BakeryService: BakeCake starts an operation and returns.
type bakery struct {
	quickstartpb.UnimplementedBakeryServiceServer
	ops *lro.Manager
}

// BakeCake validates the request, then hands the slow part to the Manager.
// The client gets the operation back at once, not done.
func (b *bakery) BakeCake(ctx context.Context, req *quickstartpb.BakeCakeRequest) (*longrunningpb.Operation, error) {
	if req.GetFlavor() == "" || req.GetLayers() < 1 {
		return nil, status.Error(codes.InvalidArgument, "a cake needs a flavor and at least one layer")
	}
	return b.ops.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		for i, step := range steps {
			md := &quickstartpb.BakeCakeMetadata{Step: step, ProgressPercent: int32(100 * i / len(steps))}
			if err := op.SetMetadata(ctx, md); err != nil {
				return nil, fmt.Errorf("reporting progress: %w", err)
			}
			select {
			case <-ctx.Done(): // cancelled by CancelOperation, or the Manager is closing
				return nil, ctx.Err()
			case <-time.After(stepDuration):
			}
		}
		if err := op.SetMetadata(ctx, &quickstartpb.BakeCakeMetadata{Step: "ready", ProgressPercent: 100}); err != nil {
			return nil, fmt.Errorf("reporting progress: %w", err)
		}
		return &quickstartpb.Cake{Flavor: req.GetFlavor(), Layers: req.GetLayers(), Decoration: "Happy LRO day"}, nil
	}, lro.WithMetadata(&quickstartpb.BakeCakeMetadata{Step: "queued"}))
}

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// run starts the server, runs the client against it and shuts down,
// printing to out.
func run(ctx context.Context, out io.Writer) error {
	// Server side: one Manager, registered as the Operations service next to
	// the service whose methods start operations.
	ops, err := lro.New()
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return errors.Join(fmt.Errorf("listening: %w", err), ops.Close(ctx))
	}
	srv := grpc.NewServer()
	longrunningpb.RegisterOperationsServer(srv, ops)
	quickstartpb.RegisterBakeryServiceServer(srv, &bakery{ops: ops})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	fmt.Fprintln(out, "server listening on", lis.Addr())

	err = client(ctx, lis.Addr().String(), out)

	// Shut down: finish the RPCs in flight, then the operations.
	srv.GracefulStop()
	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return errors.Join(err, <-served, ops.Close(closeCtx))
}

// client is what any gRPC client of the bakery does: call BakeCake, then
// follow the operation through google.longrunning.Operations.
func client(ctx context.Context, addr string, out io.Writer) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("dialing %s: %w", addr, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()

	op, err := quickstartpb.NewBakeryServiceClient(conn).BakeCake(ctx,
		&quickstartpb.BakeCakeRequest{Flavor: "lemon", Layers: 3})
	if err != nil {
		return fmt.Errorf("BakeCake: %w", err)
	}
	fmt.Fprintln(out, "started", op.GetName())

	// lroclient.Wait long-polls WaitOperation; a short timeout per call lets
	// the observer see each metadata change while the cake bakes.
	lastStep := ""
	observe := func(op *longrunningpb.Operation) {
		md := new(quickstartpb.BakeCakeMetadata)
		if op.GetMetadata().UnmarshalTo(md) != nil || md.GetStep() == lastStep {
			return
		}
		lastStep = md.GetStep()
		fmt.Fprintf(out, "  %3d%%  %s\n", md.GetProgressPercent(), md.GetStep())
	}
	cake := new(quickstartpb.Cake)
	if _, err := lroclient.Wait(ctx, longrunningpb.NewOperationsClient(conn), op.GetName(), cake,
		lroclient.WithObserver(observe), lroclient.WithWaitTimeout(50*time.Millisecond)); err != nil {
		return fmt.Errorf("waiting for %s: %w", op.GetName(), err)
	}
	fmt.Fprintf(out, "result: a %d-layer %s cake that says %q\n", cake.GetLayers(), cake.GetFlavor(), cake.GetDecoration())
	return nil
}
