package main

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	rpbalpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// acmeFiles builds, at run time, two proto files that exist nowhere else:
// acme/v1/common.proto (Progress) and acme/v1/job.proto (JobMetadata,
// JobResult), which imports it and google/protobuf/timestamp.proto. Neither
// lroctl nor this test binary registers them globally.
func acmeFiles(t *testing.T) *protoregistry.Files {
	t.Helper()
	field := func(name, json string, num int32, typ descriptorpb.FieldDescriptorProto_Type, typeName string) *descriptorpb.FieldDescriptorProto {
		f := &descriptorpb.FieldDescriptorProto{
			Name:     proto.String(name),
			JsonName: proto.String(json),
			Number:   proto.Int32(num),
			Type:     typ.Enum(),
			Label:    descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
		}
		if typeName != "" {
			f.TypeName = proto.String(typeName)
		}
		return f
	}
	common := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("acme/v1/common.proto"),
		Package: proto.String("acme.v1"),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name:  proto.String("Progress"),
			Field: []*descriptorpb.FieldDescriptorProto{field("percent", "percent", 1, descriptorpb.FieldDescriptorProto_TYPE_INT32, "")},
		}},
	}
	job := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("acme/v1/job.proto"),
		Package:    proto.String("acme.v1"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"acme/v1/common.proto", "google/protobuf/timestamp.proto"},
		MessageType: []*descriptorpb.DescriptorProto{
			{
				Name: proto.String("JobMetadata"),
				Field: []*descriptorpb.FieldDescriptorProto{
					field("stage", "stage", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING, ""),
					field("progress", "progress", 2, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, ".acme.v1.Progress"),
					field("start_time", "startTime", 3, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, ".google.protobuf.Timestamp"),
				},
			},
			{
				Name:  proto.String("JobResult"),
				Field: []*descriptorpb.FieldDescriptorProto{field("output_uri", "outputUri", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING, "")},
			},
		},
	}
	files := new(protoregistry.Files)
	if err := files.RegisterFile(timestamppb.File_google_protobuf_timestamp_proto); err != nil {
		t.Fatal(err)
	}
	for _, fdp := range []*descriptorpb.FileDescriptorProto{common, job} {
		fd, err := protodesc.NewFile(fdp, files)
		if err != nil {
			t.Fatal(err)
		}
		if err := files.RegisterFile(fd); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// acmeOps returns the fake server's operations, with metadata and
// responses packed from dynamic messages of the acme types.
func acmeOps(t *testing.T, files *protoregistry.Files) *fakeServer {
	t.Helper()
	desc := func(name string) protoreflect.MessageDescriptor {
		d, err := files.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			t.Fatal(err)
		}
		return d.(protoreflect.MessageDescriptor)
	}
	jobMD, progMD, resultMD := desc("acme.v1.JobMetadata"), desc("acme.v1.Progress"), desc("acme.v1.JobResult")
	start := timestamppb.New(time.Date(2026, 11, 21, 23, 0, 0, 0, time.UTC))
	metadata := func(stage string, pct int32) *anypb.Any {
		p := dynamicpb.NewMessage(progMD)
		p.Set(progMD.Fields().ByName("percent"), protoreflect.ValueOfInt32(pct))
		m := dynamicpb.NewMessage(jobMD)
		m.Set(jobMD.Fields().ByName("stage"), protoreflect.ValueOfString(stage))
		m.Set(jobMD.Fields().ByName("progress"), protoreflect.ValueOfMessage(p))
		m.Set(jobMD.Fields().ByName("start_time"), protoreflect.ValueOfMessage(start.ProtoReflect()))
		return mustAny(m)
	}
	result := func(uri string) *anypb.Any {
		m := dynamicpb.NewMessage(resultMD)
		m.Set(resultMD.Fields().ByName("output_uri"), protoreflect.ValueOfString(uri))
		return mustAny(m)
	}
	running := func(name string, pct int32) *longrunningpb.Operation {
		return &longrunningpb.Operation{Name: name, Metadata: metadata("copying", pct)}
	}
	done := func(name string) *longrunningpb.Operation {
		return &longrunningpb.Operation{Name: name, Done: true, Metadata: metadata("done", 100), Result: &longrunningpb.Operation_Response{Response: result("gs://bucket/" + name)}}
	}
	return &fakeServer{
		ops: []*longrunningpb.Operation{
			running("operations/job-1", 40),
			done("operations/job-2"),
			running("operations/job-3", 5),
			// A type the server does not describe either.
			{Name: "operations/job-4", Metadata: &anypb.Any{TypeUrl: "type.googleapis.com/acme.v1.Unknown", Value: []byte{0x08, 0x01}}},
		},
		scripts: map[string][]*longrunningpb.Operation{
			"operations/job-wait": {
				running("operations/job-wait", 10),
				running("operations/job-wait", 25),
				running("operations/job-wait", 75),
				done("operations/job-wait"),
			},
		},
	}
}

// reflectionServer serves fake over gRPC with server reflection (v1, or
// only v1alpha) describing files, and counts the reflection streams.
func reflectionServer(t *testing.T, fake *fakeServer, files *protoregistry.Files, alpha bool) (flags []string, streams *atomic.Int32) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	streams = new(atomic.Int32)
	gs := grpc.NewServer(grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if strings.Contains(info.FullMethod, "ServerReflectionInfo") {
			streams.Add(1)
		}
		return h(srv, ss)
	}))
	longrunningpb.RegisterOperationsServer(gs, fake)
	opts := reflection.ServerOptions{Services: gs, DescriptorResolver: files, ExtensionResolver: new(protoregistry.Types)}
	if alpha {
		rpbalpha.RegisterServerReflectionServer(gs, reflection.NewServer(opts))
	} else {
		rpb.RegisterServerReflectionServer(gs, reflection.NewServerV1(opts))
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = gs.Serve(lis)
	}()
	t.Cleanup(func() {
		gs.Stop()
		<-served
	})
	return []string{"--addr", lis.Addr().String(), "--plaintext"}, streams
}

// TestReflection decodes metadata and responses of types that only the
// server knows, through its reflection service (v1, and v1alpha for
// servers without v1), and pins the output in golden files.
func TestReflection(t *testing.T) {
	files := acmeFiles(t)
	for _, name := range []protoreflect.FullName{"acme.v1.JobMetadata", "acme.v1.Progress"} {
		if _, err := protoregistry.GlobalTypes.FindMessageByName(name); err == nil {
			t.Fatalf("%s is linked in; the test needs a type only the server knows", name)
		}
	}
	tests := []struct {
		golden  string
		args    []string
		streams int32 // reflection streams the run opens
	}{
		// JobMetadata: one lookup brings job.proto and common.proto, and
		// so JobResult too; acme.v1.Unknown: one lookup, NOT_FOUND.
		{"reflection_list", []string{"list"}, 2},
		{"reflection_get", []string{"get", "operations/job-1"}, 1},
		{"reflection_get_done", []string{"get", "operations/job-2"}, 1},
		{"reflection_get_json", []string{"--json", "get", "operations/job-2"}, 1},
		{"reflection_wait", []string{"wait", "--poll-max", "1ms", "operations/job-wait"}, 1},
		{"reflection_off", []string{"--no-reflection", "list"}, 0},
	}
	for _, tt := range tests {
		for _, alpha := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/alpha=%v", tt.golden, alpha), func(t *testing.T) {
				flags, streams := reflectionServer(t, acmeOps(t, files), files, alpha)
				got, _ := lroctl(t, append(append([]string{}, flags...), tt.args...)...)
				if n := streams.Load(); n != tt.streams {
					t.Errorf("%d reflection streams, want %d", n, tt.streams)
				}
				if !alpha {
					golden(t, tt.golden, "$ lroctl "+strings.Join(tt.args, " ")+"\n"+got)
					return
				}
				sameAsGolden(t, tt.golden, got) // written from the v1 run
			})
		}
	}
}
