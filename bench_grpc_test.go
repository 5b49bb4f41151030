package lro_test

// Benchmark 1 (see bench_test.go and BENCHMARKS.md): GetOperation over
// loopback gRPC against empty unary methods.

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/emptypb"
)

// --- 1. GetOperation over loopback gRPC vs an empty unary method ---------

// benchPingDesc is a hand-written service with two unary methods, the
// baselines for GetOperation. Ping takes and returns google.protobuf.Empty:
// the cheapest call gRPC can make. Static takes a GetOperationRequest and
// returns a fixed Operation (benchStaticOp, the same payload GetOperation
// returns), so GetOperation/Static is the cost of the library alone, without
// that of carrying an operation over the wire.
var benchPingDesc = grpc.ServiceDesc{
	ServiceName: "lrobench.Ping",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Ping", Handler: benchPingHandler},
		{MethodName: "Static", Handler: benchStaticHandler},
	},
	Metadata: "bench_test.go",
}

const (
	benchPingMethod   = "/lrobench.Ping/Ping"
	benchStaticMethod = "/lrobench.Ping/Static"
)

// benchStaticOp is what Static returns; the benchmark sets it to the
// operation GetOperation returns before it calls Static.
var benchStaticOp atomic.Pointer[longrunningpb.Operation]

// benchPingHandler serves Ping.
func benchPingHandler(_ any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
	in := new(emptypb.Empty)
	if err := dec(in); err != nil {
		return nil, err
	}
	h := func(context.Context, any) (any, error) { return &emptypb.Empty{}, nil }
	if icpt == nil {
		return h(ctx, in)
	}
	return icpt(ctx, in, &grpc.UnaryServerInfo{FullMethod: benchPingMethod}, h)
}

// benchStaticHandler serves Static.
func benchStaticHandler(_ any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
	in := new(longrunningpb.GetOperationRequest)
	if err := dec(in); err != nil {
		return nil, err
	}
	h := func(context.Context, any) (any, error) { return benchStaticOp.Load(), nil }
	if icpt == nil {
		return h(ctx, in)
	}
	return icpt(ctx, in, &grpc.UnaryServerInfo{FullMethod: benchStaticMethod}, h)
}

// benchGRPC serves m, the ping service and grpc health on 127.0.0.1:0 and
// returns a client connection to it.
func benchGRPC(b *testing.B, m *lro.Manager) *grpc.ClientConn {
	b.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer()
	longrunningpb.RegisterOperationsServer(srv, m)
	srv.RegisterService(&benchPingDesc, struct{}{})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatalf("grpc.NewClient: %v", err)
	}
	b.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
		<-served
	})
	return conn
}

// BenchmarkGRPCGetOperation compares GetOperation of a done operation with
// an empty unary call (Ping) on the same server and connection, and with a
// call that returns the same operation from memory (Static). "paired"
// makes one call of each kind per iteration, in a rotating order, times each,
// and reports get-ns/op, ping-ns/op, static-ns/op, get/ping (target ≤ 1.2)
// and get/static; the other sub-benchmarks time one kind of call alone, for
// allocations.
func BenchmarkGRPCGetOperation(b *testing.B) {
	setup := func(b *testing.B) (*grpc.ClientConn, longrunningpb.OperationsClient, *longrunningpb.GetOperationRequest) {
		ctx := context.Background()
		m := benchManager(b)
		name := benchDoneOperation(b, ctx, m)
		conn := benchGRPC(b, m)
		client := longrunningpb.NewOperationsClient(conn)
		req := &longrunningpb.GetOperationRequest{Name: name}
		// Warm the connection up (dial, HTTP/2 settings) outside the timer.
		op, err := client.GetOperation(ctx, req)
		if err != nil {
			b.Fatalf("GetOperation: %v", err)
		}
		benchStaticOp.Store(op)
		return conn, client, req
	}
	ping := func(ctx context.Context, conn *grpc.ClientConn) error {
		return conn.Invoke(ctx, benchPingMethod, &emptypb.Empty{}, new(emptypb.Empty))
	}
	static := func(ctx context.Context, conn *grpc.ClientConn, req *longrunningpb.GetOperationRequest) error {
		return conn.Invoke(ctx, benchStaticMethod, req, new(longrunningpb.Operation))
	}

	b.Run("paired", func(b *testing.B) {
		conn, client, req := setup(b)
		ctx := context.Background()
		var spent [3]time.Duration // get, ping, static
		calls := [3]func() error{
			func() error { _, err := client.GetOperation(ctx, req); return err },
			func() error { return ping(ctx, conn) },
			func() error { return static(ctx, conn, req) },
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			// Rotate the order so that no kind always follows another.
			for j := range 3 {
				k := (i + j) % 3
				t0 := time.Now()
				if err := calls[k](); err != nil {
					b.Fatal(err)
				}
				spent[k] += time.Since(t0)
			}
		}
		b.ReportMetric(float64(spent[0])/float64(b.N), "get-ns/op")
		b.ReportMetric(float64(spent[1])/float64(b.N), "ping-ns/op")
		b.ReportMetric(float64(spent[2])/float64(b.N), "static-ns/op")
		b.ReportMetric(float64(spent[0])/float64(spent[1]), "get/ping")
		b.ReportMetric(float64(spent[0])/float64(spent[2]), "get/static")
	})
	b.Run("ping", func(b *testing.B) {
		conn, _, _ := setup(b)
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := ping(ctx, conn); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("health", func(b *testing.B) {
		conn, _, _ := setup(b)
		ctx := context.Background()
		hc := healthpb.NewHealthClient(conn)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("static", func(b *testing.B) {
		conn, _, req := setup(b)
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := static(ctx, conn, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get", func(b *testing.B) {
		_, client, req := setup(b)
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := client.GetOperation(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get-inprocess", func(b *testing.B) {
		ctx := context.Background()
		m := benchManager(b)
		req := &longrunningpb.GetOperationRequest{Name: benchDoneOperation(b, ctx, m)}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := m.GetOperation(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
