package main

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(err)
	}
	return a
}

func meta(fields map[string]any) *anypb.Any {
	s, err := structpb.NewStruct(fields)
	if err != nil {
		panic(err)
	}
	return mustAny(s)
}

// fakeServer is a deterministic Operations server. Most operations are
// fixed; "scripted" ones advance one step on every Get or Wait call.
type fakeServer struct {
	longrunningpb.UnimplementedOperationsServer

	noWait   bool // answer WaitOperation with UNIMPLEMENTED
	needName bool // answer ListOperations with an empty name INVALID_ARGUMENT

	mu      sync.Mutex
	ops     []*longrunningpb.Operation
	scripts map[string][]*longrunningpb.Operation
}

func newFake() *fakeServer {
	failure := mustAny(&errdetails.ErrorInfo{Reason: "BUCKET_READ_ONLY", Domain: "storage.example.com"})
	done := func(name string, resp *anypb.Any) *longrunningpb.Operation {
		return &longrunningpb.Operation{Name: name, Done: true, Metadata: meta(map[string]any{"progressPercent": 100}), Result: &longrunningpb.Operation_Response{Response: resp}}
	}
	running := func(name string, pct float64) *longrunningpb.Operation {
		return &longrunningpb.Operation{Name: name, Metadata: meta(map[string]any{"progressPercent": pct, "stage": "copying"})}
	}
	return &fakeServer{
		ops: []*longrunningpb.Operation{
			running("operations/export-1", 40),
			done("operations/export-2", mustAny(wrapperspb.String("gs://bucket/out.csv"))),
			{Name: "operations/import-3", Done: true, Result: &longrunningpb.Operation_Error{Error: status.New(codes.FailedPrecondition, "bucket gs://b is not writable").Proto()}},
			{Name: "operations/custom-4", Metadata: &anypb.Any{TypeUrl: "type.googleapis.com/acme.v1.JobMetadata", Value: []byte{0x08, 0x2a}}},
			{Name: "projects/p/locations/l/operations/build-5", Done: true},
		},
		scripts: map[string][]*longrunningpb.Operation{
			"operations/progress": {
				running("operations/progress", 0),
				running("operations/progress", 25),
				running("operations/progress", 25),
				running("operations/progress", 75.5),
				done("operations/progress", mustAny(wrapperspb.String("gs://bucket/progress.csv"))),
			},
			"operations/fails": {
				running("operations/fails", 10),
				{Name: "operations/fails", Done: true, Metadata: meta(map[string]any{"progressPercent": 10}), Result: &longrunningpb.Operation_Error{Error: &spb.Status{Code: int32(codes.ResourceExhausted), Message: "quota exceeded", Details: []*anypb.Any{failure}}}},
			},
		},
	}
}

// step returns the named operation, advancing a scripted one.
func (f *fakeServer) step(name string) (*longrunningpb.Operation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.scripts[name]; ok {
		op := s[0]
		if len(s) > 1 {
			f.scripts[name] = s[1:]
		}
		return op, nil
	}
	for _, op := range f.ops {
		if op.GetName() == name {
			return op, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "operation %q not found", name)
}

func (f *fakeServer) GetOperation(_ context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	return f.step(req.GetName())
}

func (f *fakeServer) WaitOperation(ctx context.Context, req *longrunningpb.WaitOperationRequest) (*longrunningpb.Operation, error) {
	if f.noWait {
		return nil, status.Error(codes.Unimplemented, "WaitOperation is not implemented")
	}
	op, err := f.step(req.GetName())
	f.mu.Lock()
	_, scripted := f.scripts[req.GetName()]
	f.mu.Unlock()
	if err != nil || op.GetDone() || scripted {
		return op, err
	}
	// A fixed running operation never finishes: block for the timeout,
	// as a real server does.
	t := time.NewTimer(req.GetTimeout().AsDuration())
	defer t.Stop()
	select {
	case <-t.C:
		return op, nil
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

func (f *fakeServer) ListOperations(_ context.Context, req *longrunningpb.ListOperationsRequest) (*longrunningpb.ListOperationsResponse, error) {
	if req.GetName() == "" && f.needName {
		return nil, status.Error(codes.InvalidArgument, "name is required")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var sel []*longrunningpb.Operation
	for _, op := range f.ops {
		// An empty name lists every collection, as lro servers do.
		parent := strings.TrimSuffix(req.GetName(), "operations")
		if req.GetName() != "" && (!strings.HasPrefix(op.GetName(), parent+"operations/") || strings.Count(op.GetName(), "/") != strings.Count(parent, "/")+1) {
			continue
		}
		switch req.GetFilter() {
		case "":
		case "done = true":
			if !op.GetDone() {
				continue
			}
		case "done = false":
			if op.GetDone() {
				continue
			}
		default:
			return nil, status.Errorf(codes.InvalidArgument, "invalid filter %q: unexpected token at position 0", req.GetFilter())
		}
		sel = append(sel, op)
	}
	start := 0
	if t := req.GetPageToken(); t != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(t, "page-"))
		if err != nil || n > len(sel) {
			return nil, status.Error(codes.InvalidArgument, "invalid page token")
		}
		start = n
	}
	size := int(req.GetPageSize())
	if size == 0 {
		size = 50
	}
	end := min(start+size, len(sel))
	resp := &longrunningpb.ListOperationsResponse{Operations: sel[start:end]}
	if end < len(sel) {
		resp.NextPageToken = "page-" + strconv.Itoa(end)
	}
	return resp, nil
}

func (f *fakeServer) CancelOperation(_ context.Context, req *longrunningpb.CancelOperationRequest) (*emptypb.Empty, error) {
	if _, err := f.step(req.GetName()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (f *fakeServer) DeleteOperation(_ context.Context, req *longrunningpb.DeleteOperationRequest) (*emptypb.Empty, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, op := range f.ops {
		if op.GetName() == req.GetName() {
			f.ops = append(f.ops[:i:i], f.ops[i+1:]...)
			return &emptypb.Empty{}, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "operation %q not found", req.GetName())
}
