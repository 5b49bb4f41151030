// Package demo holds what the console's tests, browser test and
// screenshots share: demo message types in a registry of their own (so
// they are found only through a resolver, as a host's types would be), a
// realistic set of export operations.
package demo

import (
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The full names of the demo types.
const (
	MetadataName       = "acme.exports.v1.ExportMetadata"
	ResponseName       = "acme.exports.v1.ExportResponse"
	ImportMetadataName = "acme.exports.v1.ImportMetadata"
	progressName       = "acme.exports.v1.OperationProgress"
)

var (
	typesOnce sync.Once
	types     *protoregistry.Types
	typesErr  error
)

// Types returns a registry that holds ExportMetadata and ExportResponse. It
// panics if the built-in descriptors do not build, which a test of this
// package rules out.
func Types() *protoregistry.Types {
	typesOnce.Do(func() { types, typesErr = buildTypes() })
	if typesErr != nil {
		panic(typesErr)
	}
	return types
}

func buildTypes() (*protoregistry.Types, error) {
	str := descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()
	i32 := descriptorpb.FieldDescriptorProto_TYPE_INT32.Enum()
	i64 := descriptorpb.FieldDescriptorProto_TYPE_INT64.Enum()
	msg := descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum()
	field := func(name string, num int32, typ *descriptorpb.FieldDescriptorProto_Type, typeName string) *descriptorpb.FieldDescriptorProto {
		f := &descriptorpb.FieldDescriptorProto{
			Name:     proto.String(name),
			Number:   proto.Int32(num),
			Label:    descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
			Type:     typ,
			JsonName: proto.String(jsonName(name)),
		}
		if typeName != "" {
			f.TypeName = proto.String(typeName)
		}
		return f
	}
	const ts = ".google.protobuf.Timestamp"
	fd := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("acme/exports/v1/export.proto"),
		Package:    proto.String("acme.exports.v1"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/protobuf/timestamp.proto"},
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("ExportMetadata"),
			Field: []*descriptorpb.FieldDescriptorProto{
				field("source", 1, str, ""),
				field("destination", 2, str, ""),
				field("progress_percent", 3, i32, ""),
				field("rows_exported", 4, i64, ""),
				field("create_time", 5, msg, ts),
				field("update_time", 6, msg, ts),
				field("note", 7, str, ""),
			},
		}, {
			Name: proto.String("ExportResponse"),
			Field: []*descriptorpb.FieldDescriptorProto{
				field("destination", 1, str, ""),
				field("rows_exported", 2, i64, ""),
				field("size_bytes", 3, i64, ""),
				field("end_time", 4, msg, ts),
			},
		}, {
			// Progress nested as in Google's APIs (OperationProgress).
			Name: proto.String("OperationProgress"),
			Field: []*descriptorpb.FieldDescriptorProto{
				field("progress_percent", 1, i32, ""),
				field("start_time", 2, msg, ts),
				field("end_time", 3, msg, ts),
			},
		}, {
			Name: proto.String("ImportMetadata"),
			Field: []*descriptorpb.FieldDescriptorProto{
				field("source", 1, str, ""),
				field("progress", 2, msg, ".acme.exports.v1.OperationProgress"),
			},
		}},
	}
	file, err := protodesc.NewFile(fd, protoregistry.GlobalFiles)
	if err != nil {
		return nil, fmt.Errorf("demo: building the descriptors: %w", err)
	}
	reg := new(protoregistry.Types)
	for i := range file.Messages().Len() {
		if err := reg.RegisterMessage(dynamicpb.NewMessageType(file.Messages().Get(i))); err != nil {
			return nil, fmt.Errorf("demo: registering %s: %w", file.Messages().Get(i).FullName(), err)
		}
	}
	return reg, nil
}

// jsonName is protoc's lowerCamelCase JSON name of a snake_case field.
func jsonName(s string) string {
	out := make([]byte, 0, len(s))
	up := false
	for i := range len(s) {
		switch c := s[i]; {
		case c == '_':
			up = true
		case up && 'a' <= c && c <= 'z':
			out = append(out, c-'a'+'A')
			up = false
		default:
			out = append(out, c)
			up = false
		}
	}
	return string(out)
}

// Export is the metadata of a demo export.
type Export struct {
	Source, Destination string
	Progress            int32
	Rows                int64
	Created, Updated    time.Time
	Note                string
}

// Metadata returns e as an ExportMetadata message.
func (e Export) Metadata() proto.Message {
	m := newMessage(MetadataName)
	set(m, "source", protoreflect.ValueOfString(e.Source))
	set(m, "destination", protoreflect.ValueOfString(e.Destination))
	set(m, "progress_percent", protoreflect.ValueOfInt32(e.Progress))
	set(m, "rows_exported", protoreflect.ValueOfInt64(e.Rows))
	setTime(m, "create_time", e.Created)
	setTime(m, "update_time", e.Updated)
	set(m, "note", protoreflect.ValueOfString(e.Note))
	return m.Interface()
}

// Response returns an ExportResponse message.
func Response(destination string, rows, size int64, end time.Time) proto.Message {
	m := newMessage(ResponseName)
	set(m, "destination", protoreflect.ValueOfString(destination))
	set(m, "rows_exported", protoreflect.ValueOfInt64(rows))
	set(m, "size_bytes", protoreflect.ValueOfInt64(size))
	setTime(m, "end_time", end)
	return m.Interface()
}

// Import returns an ImportMetadata message whose progress is nested, as
// in Google's APIs.
func Import(source string, progress int32, start, end time.Time) proto.Message {
	p := newMessage(progressName)
	set(p, "progress_percent", protoreflect.ValueOfInt32(progress))
	setTime(p, "start_time", start)
	setTime(p, "end_time", end)
	m := newMessage(ImportMetadataName)
	set(m, "source", protoreflect.ValueOfString(source))
	set(m, "progress", protoreflect.ValueOfMessage(p))
	return m.Interface()
}

func newMessage(name protoreflect.FullName) protoreflect.Message {
	mt, err := Types().FindMessageByName(name)
	if err != nil {
		panic(err) // the registry is built with both types
	}
	return mt.New()
}

func set(m protoreflect.Message, field protoreflect.Name, v protoreflect.Value) {
	m.Set(m.Descriptor().Fields().ByName(field), v)
}

func setTime(m protoreflect.Message, field protoreflect.Name, t time.Time) {
	if t.IsZero() {
		return
	}
	set(m, field, protoreflect.ValueOfMessage(timestamppb.New(t).ProtoReflect()))
}
