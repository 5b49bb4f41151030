package filter

import (
	"errors"
	"strings"
	"testing"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// Paths that some known message type has parse, whatever the operations
// hold; paths that none has are INVALID_ARGUMENT at the first segment no
// type reaches.
func TestUnknownFields(t *testing.T) {
	_ = structpb.Struct{} // link google.protobuf.Struct into the test binary
	ok := []string{
		"metadata.node_count = 1",                      // a field of a response type only
		"response.progress.progress_percent > 10",      // a field of a metadata type only
		"metadata.instanceConfig.displayName = Custom", // JSON names
		"metadata.steps.name = allocate",               // repeated messages
		"metadata.steps.tags:slow",                     // repeated scalars under them
		"metadata.configs.primary.name:regional",       // map values by key
		"metadata.shards.1 = a",                        // int map keys
		"metadata.tags.env = prod",                     // string map keys
		"metadata.create_time.seconds > 0",             // fields of a Timestamp
		"metadata.elapsed.nanos >= 0",                  // and of a Duration
		"metadata.owner.value = alice",                 // and of a wrapper
		"metadata.fields.env.string_value = prod",      // google.protobuf.Struct
		"metadata.progress.start_time < 2020-01-01T00:00:00Z",
	}
	for _, src := range ok {
		if _, err := Parse(src, Options{Resolver: resolver}); err != nil {
			t.Errorf("Parse(%q): %v", src, err)
		}
	}

	bad := []struct {
		filter string
		pos    int
	}{
		{"metadata.nope = 1", 9},
		{"response.nope:*", 9},
		{"metadata.progress.nope = 1", 18},
		{"metadata.configs.primary.nope = x", 25},
		{"metadata.create_time.nope = 1", 21},
		{"metadata.steps.nope:x", 15},
		{"done = true OR metadata.nope = 1", 24},
		{"NOT (metadata.name:x AND -response.nope:*)", 35},
		{"metadata.tags.env.nope = 1", 18}, // a string map value has no fields
	}
	for _, tc := range bad {
		_, err := Parse(tc.filter, Options{Resolver: resolver})
		var fe *Error
		if !errors.As(err, &fe) {
			t.Errorf("Parse(%q) = %v, want an *Error", tc.filter, err)
			continue
		}
		if fe.Pos != tc.pos || !strings.Contains(fe.Msg, "unknown field") {
			t.Errorf("Parse(%q) = error at %d %q, want an unknown field at %d", tc.filter, fe.Pos, fe.Msg, tc.pos)
		}
		if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "column ") {
			t.Errorf("Parse(%q) status %v, want INVALID_ARGUMENT with a column", tc.filter, st)
		}
	}
}

// A field of type google.protobuf.Any inside the metadata or response is
// not unpacked: its type URL can be tested (as @type, like the JSON form,
// or type_url), its presence too, but not the fields of what it holds.
func TestAnyFields(t *testing.T) {
	bad, err := anypb.New(&errdetails.BadRequest{})
	if err != nil {
		t.Fatal(err)
	}
	inner, err := anypb.New(&statuspb.Status{Code: 5, Details: []*anypb.Any{bad}})
	if err != nil {
		t.Fatal(err)
	}
	ops := []*longrunningpb.Operation{
		{Name: "operations/nested", Metadata: mustAny(t, &longrunningpb.Operation{Name: "operations/inner", Metadata: inner})},
		{Name: "operations/failed", Done: true, Result: &longrunningpb.Operation_Response{Response: inner}},
		{Name: "operations/plain", Metadata: mustAny(t, &longrunningpb.Operation{Name: "operations/inner"})},
	}
	tests := []struct {
		filter string
		want   []string
	}{
		{"metadata.metadata.@type = type.googleapis.com/google.rpc.Status", []string{"operations/nested"}},
		{"metadata.metadata.@type:Status", []string{"operations/nested"}},
		{"metadata.metadata.type_url:Status", []string{"operations/nested"}},
		{"metadata.metadata:*", []string{"operations/nested"}},
		{"metadata.metadata.@type:*", []string{"operations/nested"}},
		{"NOT metadata.metadata:*", []string{"operations/failed", "operations/plain"}},
		{"response.details.@type:BadRequest", []string{"operations/failed"}},
		{"response.details.@type:Nope", nil},
		{"response.code = 5", []string{"operations/failed"}},
	}
	for _, tc := range tests {
		f, err := Parse(tc.filter, Options{})
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.filter, err)
			continue
		}
		if d := cmp.Diff(tc.want, matching(f, ops)); d != "" {
			t.Errorf("%q matches (-want +got):\n%s", tc.filter, d)
		}
		if g, err := Parse(f.String(), Options{}); err != nil || g.String() != f.String() {
			t.Errorf("canonical form %q of %q: %v", f.String(), tc.filter, err)
		}
	}
	// The message inside is out of reach: a path into it is a field the Any
	// does not have, unknown unless another type has such a path (where it
	// matches only that type).
	for _, src := range []string{"response.details.field_violations:*", "metadata.metadata.@type.x = 1"} {
		if _, err := Parse(src, Options{}); err == nil || !strings.Contains(err.Error(), "unknown field") {
			t.Errorf("Parse(%q) = %v, want an unknown field", src, err)
		}
	}
	const pin = "metadata.@type = type.googleapis.com/google.longrunning.Operation AND "
	if _, err := Parse(pin+"metadata.metadata.code = 5", Options{}); err == nil || !strings.Contains(err.Error(), `google.protobuf.Any has no field "code"`) {
		t.Errorf("a field inside a nested Any, type pinned: %v", err)
	}
	if f, err := Parse("metadata.metadata.code = 5", Options{}); err == nil && matching(f, ops) != nil {
		t.Errorf("a field inside a nested Any matched %v", matching(f, ops))
	}
}

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// dynamicType builds a message type, not linked into the program, with
// one string field.
func dynamicType(t *testing.T, msg, field string) protoreflect.MessageType {
	t.Helper()
	fdp := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("dyn/" + msg + ".proto"),
		Package: proto.String("dyn"),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String(msg),
			Field: []*descriptorpb.FieldDescriptorProto{{
				Name: proto.String(field), Number: proto.Int32(1), JsonName: proto.String(field),
				Type:  descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(),
				Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
			}},
		}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	return dynamicpb.NewMessageType(fd.Messages().Get(0))
}

// A resolver that lists its types (a *protoregistry.Types) is checked
// against its own types, which may be dynamic; its index follows the types
// registered later. A resolver that cannot list them is checked against the
// types linked into the program.
func TestKnownTypesOfTheResolver(t *testing.T) {
	reg := new(protoregistry.Types)
	if err := reg.RegisterMessage(dynamicType(t, "Export", "dyn_bucket_xq")); err != nil {
		t.Fatal(err)
	}
	if _, err := Parse("metadata.dyn_bucket_xq = b", Options{Resolver: reg}); err != nil {
		t.Errorf("a field of a type of the resolver: %v", err)
	}
	if _, err := Parse("metadata.dyn_bucket_xq = b", Options{}); err == nil {
		t.Error("a field of a type unknown to the global registry was accepted")
	}
	if _, err := Parse("metadata.progress_percent > 1", Options{Resolver: reg}); err == nil {
		t.Error("a field of a linked type the resolver does not have was accepted")
	}

	// A type registered later is seen by the next Parse.
	if _, err := Parse("metadata.dyn_late_xq = 1", Options{Resolver: reg}); err == nil {
		t.Fatal("dyn_late_xq accepted before its type was registered")
	}
	if err := reg.RegisterMessage(dynamicType(t, "Import", "dyn_late_xq")); err != nil {
		t.Fatal(err)
	}
	if _, err := Parse("metadata.dyn_late_xq = 1", Options{Resolver: reg}); err != nil {
		t.Errorf("dyn_late_xq after its type was registered: %v", err)
	}

	// A resolver that cannot be a map key still works (it is not cached).
	lister := rangerFunc(func(f func(protoreflect.MessageType) bool) { f(dynamicType(t, "Listed", "dyn_listed_xq")) })
	if _, err := Parse("metadata.dyn_listed_xq = 1", Options{Resolver: lister}); err != nil {
		t.Errorf("a resolver that lists its types with a func: %v", err)
	}
	if _, err := Parse("metadata.name = 1", Options{Resolver: lister}); err == nil {
		t.Error("a field the listing resolver lacks was accepted")
	}
}

// rangerFunc is a resolver that lists its types with a func (so it cannot be
// a map key) and resolves none.
type rangerFunc func(func(protoreflect.MessageType) bool)

func (r rangerFunc) RangeMessages(f func(protoreflect.MessageType) bool) { r(f) }

func (rangerFunc) FindMessageByURL(string) (protoreflect.MessageType, error) {
	return nil, protoregistry.NotFound
}

// The index of the global registry is built once, not on every Parse.
func TestKnownTypesCached(t *testing.T) {
	a := knownTypes(protoregistry.GlobalTypes)
	b := knownTypes(resolver) // a map resolver: checked against the global registry
	if a != b {
		t.Error("the global registry's index was built twice")
	}
	if len(a.byName["progress_percent"]) == 0 {
		t.Error("the index lacks progress_percent")
	}
}
