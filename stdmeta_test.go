package lro_test

import (
	"context"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// stdMetaTypes builds, without protoc, a metadata message with Google's
// standard OperationMetadata fields, and one whose fields have those names
// but other types.
func stdMetaTypes(t *testing.T) (standard, mistyped protoreflect.MessageDescriptor, types *protoregistry.Types) {
	t.Helper()
	field := func(name string, n int32, typ descriptorpb.FieldDescriptorProto_Type, typeName string) *descriptorpb.FieldDescriptorProto {
		f := &descriptorpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(n), Type: typ.Enum(),
			Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()}
		if typeName != "" {
			f.TypeName = proto.String(typeName)
		}
		return f
	}
	const (
		msg  = descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
		str  = descriptorpb.FieldDescriptorProto_TYPE_STRING
		boo  = descriptorpb.FieldDescriptorProto_TYPE_BOOL
		i64  = descriptorpb.FieldDescriptorProto_TYPE_INT64
		tsPB = ".google.protobuf.Timestamp"
	)
	file := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("lro_test/stdmeta.proto"),
		Package:    proto.String("lro_test.stdmeta"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/protobuf/timestamp.proto"},
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("OperationMetadata"),
			Field: []*descriptorpb.FieldDescriptorProto{
				field("create_time", 1, msg, tsPB), field("end_time", 2, msg, tsPB),
				field("target", 3, str, ""), field("verb", 4, str, ""), field("status_message", 5, str, ""),
				field("requested_cancellation", 6, boo, ""), field("api_version", 7, str, ""),
				field("cancel_requested", 8, boo, ""),
			},
		}, {
			Name: proto.String("Mistyped"),
			Field: []*descriptorpb.FieldDescriptorProto{
				field("create_time", 1, str, ""), field("end_time", 2, i64, ""), field("requested_cancellation", 3, str, ""),
			},
		}},
	}
	fd, err := protodesc.NewFile(file, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	types = new(protoregistry.Types)
	for i := 0; i < fd.Messages().Len(); i++ {
		if err := types.RegisterMessage(dynamicpb.NewMessageType(fd.Messages().Get(i))); err != nil {
			t.Fatal(err)
		}
	}
	return fd.Messages().Get(0), fd.Messages().Get(1), types
}

// stdMeta is what the test reads back from an operation's metadata.
type stdMeta struct {
	create, end             time.Time
	requested, cancelReq    bool
	target, verb, statusMsg string
}

func readStdMeta(t *testing.T, md protoreflect.MessageDescriptor, a *anypb.Any) stdMeta {
	t.Helper()
	msg := dynamicpb.NewMessage(md)
	if err := proto.Unmarshal(a.GetValue(), msg); err != nil {
		t.Fatal(err)
	}
	f := md.Fields().ByName
	ts := func(name protoreflect.Name) time.Time {
		if !msg.Has(f(name)) {
			return time.Time{}
		}
		var p timestamppb.Timestamp
		b, _ := proto.Marshal(msg.Get(f(name)).Message().Interface())
		if err := proto.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		return p.AsTime()
	}
	return stdMeta{
		create: ts("create_time"), end: ts("end_time"),
		requested: msg.Get(f("requested_cancellation")).Bool(), cancelReq: msg.Get(f("cancel_requested")).Bool(),
		target: msg.Get(f("target")).String(), verb: msg.Get(f("verb")).String(), statusMsg: msg.Get(f("status_message")).String(),
	}
}

// updatingStore hides MemoryStore's Finish, so the Manager ends work with
// a read-modify-write.
type updatingStore struct{ lro.Store }

// TestStandardMetadata checks that WithStandardMetadata keeps create_time,
// end_time, requested_cancellation and cancel_requested current however
// the operation is made and ends, and leaves the host's fields alone.
func TestStandardMetadata(t *testing.T) {
	standard, _, types := stdMetaTypes(t)
	start := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	later := start.Add(time.Minute)
	initial := func() proto.Message {
		msg := dynamicpb.NewMessage(standard)
		f := standard.Fields().ByName
		msg.Set(f("target"), protoreflect.ValueOfString("shelves/1"))
		msg.Set(f("verb"), protoreflect.ValueOfString("export"))
		return msg
	}
	ctx := context.Background()
	type env struct {
		m   *lro.Manager
		clk *lrotest.Clock
	}
	run := func(cancel bool) func(t *testing.T, e env) string {
		return func(t *testing.T, e env) string {
			release := make(chan struct{})
			started := make(chan struct{})
			op, err := e.m.Start(ctx, func(ctx context.Context, o *lro.Op) (proto.Message, error) {
				close(started)
				select {
				case <-release:
					status := initial().(*dynamicpb.Message)
					status.Set(standard.Fields().ByName("status_message"), protoreflect.ValueOfString("writing"))
					if err := o.SetMetadata(ctx, status); err != nil { // no create_time: kept all the same
						return nil, err
					}
					return nil, nil
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}, lro.WithMetadata(initial()))
			if err != nil {
				t.Fatal(err)
			}
			<-started
			e.clk.Advance(time.Minute)
			if cancel {
				if _, err := e.m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: op.GetName()}); err != nil {
					t.Fatal(err)
				}
			} else {
				close(release)
			}
			return op.GetName()
		}
	}
	created := func(end func(t *testing.T, m *lro.Manager, name string)) func(t *testing.T, e env) string {
		return func(t *testing.T, e env) string {
			op, err := e.m.Create(ctx, lro.WithMetadata(initial()))
			if err != nil {
				t.Fatal(err)
			}
			e.clk.Advance(time.Minute)
			if err := e.m.SetMetadata(ctx, op.GetName(), initial()); err != nil {
				t.Fatal(err)
			}
			end(t, e.m, op.GetName())
			return op.GetName()
		}
	}
	for _, tt := range []struct {
		desc      string
		store     func() lro.Store
		do        func(t *testing.T, e env) string
		cancelled bool
		statusMsg string
	}{
		{desc: "work succeeds", store: func() lro.Store { return lro.NewMemoryStore() }, do: run(false), statusMsg: "writing"},
		{desc: "work succeeds, read-modify-write store", store: func() lro.Store { return updatingStore{lro.NewMemoryStore()} }, do: run(false), statusMsg: "writing"},
		{desc: "work cancelled", store: func() lro.Store { return lro.NewMemoryStore() }, do: run(true), cancelled: true},
		{desc: "work cancelled, read-modify-write store", store: func() lro.Store { return updatingStore{lro.NewMemoryStore()} }, do: run(true), cancelled: true},
		{desc: "created and completed", store: func() lro.Store { return lro.NewMemoryStore() }, do: created(func(t *testing.T, m *lro.Manager, name string) {
			if err := m.Complete(ctx, name, nil); err != nil {
				t.Fatal(err)
			}
		})},
		{desc: "created and failed", store: func() lro.Store { return lro.NewMemoryStore() }, do: created(func(t *testing.T, m *lro.Manager, name string) {
			if err := m.Fail(ctx, name, context.Canceled); err != nil {
				t.Fatal(err)
			}
		})},
		{desc: "created and cancelled", store: func() lro.Store { return lro.NewMemoryStore() }, cancelled: true, do: created(func(t *testing.T, m *lro.Manager, name string) {
			if _, err := m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: name}); err != nil {
				t.Fatal(err)
			}
		})},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			clk := lrotest.NewClock(start)
			m := newManager(t, lro.WithStandardMetadata(), lro.WithTypeResolver(types), lro.WithClock(clk), lro.WithStore(tt.store()),
				lro.WithLease(time.Hour)) // advancing the clock a minute must not lapse the lease
			name := tt.do(t, env{m, clk})
			got := readStdMeta(t, standard, waitDone(t, m, name).GetMetadata())
			want := stdMeta{create: start, end: later, requested: tt.cancelled, cancelReq: tt.cancelled, target: "shelves/1", verb: "export", statusMsg: tt.statusMsg}
			if got != want {
				t.Errorf("metadata %+v\nwant     %+v", got, want)
			}
		})
	}
}

// TestStandardMetadataWhileRunning checks the fields of a running
// operation: create_time from the start, requested_cancellation as soon as
// the cancellation is asked for (the work here ignores it), no end_time
// until it ends.
func TestStandardMetadataWhileRunning(t *testing.T) {
	standard, _, types := stdMetaTypes(t)
	ctx := context.Background()
	start := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	clk := lrotest.NewClock(start)
	m := newManager(t, lro.WithStandardMetadata(), lro.WithTypeResolver(types), lro.WithClock(clk), lro.WithLease(time.Hour))
	release := make(chan struct{})
	op, err := m.Start(ctx, func(context.Context, *lro.Op) (proto.Message, error) {
		<-release
		return nil, nil
	}, lro.WithMetadata(dynamicpb.NewMessage(standard)))
	if err != nil {
		t.Fatal(err)
	}
	if got := readStdMeta(t, standard, op.GetMetadata()); got != (stdMeta{create: start}) {
		t.Errorf("started: %+v, want only create_time", got)
	}
	if _, err := m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: op.GetName()}); err != nil {
		t.Fatal(err)
	}
	if got := readStdMeta(t, standard, get(t, m, op.GetName()).GetMetadata()); got != (stdMeta{create: start, requested: true, cancelReq: true}) {
		t.Errorf("cancellation requested: %+v, want create_time and both flags", got)
	}
	clk.Advance(time.Minute)
	close(release)
	got := readStdMeta(t, standard, waitDone(t, m, op.GetName()).GetMetadata())
	if want := (stdMeta{create: start, end: start.Add(time.Minute), requested: true, cancelReq: true}); got != want {
		t.Errorf("finished after the request: %+v, want %+v", got, want)
	}
}

// TestStandardMetadataLeftAlone checks the cases where metadata is stored
// as given: the option off, a type the resolver does not know, fields with
// the standard names but other types, and times the host set itself.
func TestStandardMetadataLeftAlone(t *testing.T) {
	standard, mistyped, types := stdMetaTypes(t)
	ctx := context.Background()
	hostTime := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	withHostTimes := dynamicpb.NewMessage(standard)
	for _, name := range []protoreflect.Name{"create_time", "end_time"} {
		fd := standard.Fields().ByName(name)
		ts := withHostTimes.NewField(fd).Message()
		ts.Set(ts.Descriptor().Fields().ByName("seconds"), protoreflect.ValueOfInt64(hostTime.Unix()))
		withHostTimes.Set(fd, protoreflect.ValueOfMessage(ts))
	}
	for _, tt := range []struct {
		desc string
		opts []lro.Option
		md   proto.Message
	}{
		{"option off", []lro.Option{lro.WithTypeResolver(types)}, dynamicpb.NewMessage(standard)},
		{"type not resolvable", []lro.Option{lro.WithStandardMetadata()}, dynamicpb.NewMessage(standard)},
		{"mistyped fields", []lro.Option{lro.WithStandardMetadata(), lro.WithTypeResolver(types)}, dynamicpb.NewMessage(mistyped)},
		{"host's own times", []lro.Option{lro.WithStandardMetadata(), lro.WithTypeResolver(types)}, withHostTimes},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			m := newManager(t, tt.opts...)
			op, err := m.Create(ctx, lro.WithMetadata(tt.md))
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Complete(ctx, op.GetName(), nil); err != nil {
				t.Fatal(err)
			}
			// Compared as messages: a dynamic message's encoding may
			// order its fields differently each time.
			a := get(t, m, op.GetName()).GetMetadata()
			got := dynamicpb.NewMessage(tt.md.ProtoReflect().Descriptor())
			if err := proto.Unmarshal(a.GetValue(), got); err != nil {
				t.Fatal(err)
			}
			if want := "type.googleapis.com/" + string(tt.md.ProtoReflect().Descriptor().FullName()); a.GetTypeUrl() != want || !proto.Equal(got, tt.md) {
				t.Errorf("metadata %v, want it as given %v", got, tt.md)
			}
		})
	}
}

// TestStandardMetadataAbandoned checks end_time on an operation the
// library gives up: a work function whose replica died, taken back by the
// Manager that takes the dead one's id. Its metadata is decoded through the
// Manager's TypeResolver.
func TestStandardMetadataAbandoned(t *testing.T) {
	standard, _, types := stdMetaTypes(t)
	ctx := context.Background()
	clk := lrotest.NewClock(epoch)
	store := lro.NewMemoryStore()
	if err := store.RegisterOwner(ctx, lro.LeaseParams{Owner: "a", Token: "dead", Now: epoch, Lease: testLease}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"operations/func", "operations/cancelled"} {
		rec := lrotest.NewRecord(name, epoch.Add(-time.Hour))
		rec.Owner, rec.Attempt = "a", 1
		rec.CancelRequested = name == "operations/cancelled"
		rec.Operation.Metadata = mustAny(t, dynamicpb.NewMessage(standard))
		if _, _, err := store.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(testLease + time.Microsecond)
	m := newManager(t, lro.WithStore(store), lro.WithClock(clk), lro.WithOwner("a"), lro.WithLease(testLease),
		lro.WithStandardMetadata(), lro.WithTypeResolver(types))
	tick(clk, maintained(m))
	abandoned := clk.Now()

	got := readStdMeta(t, standard, waitDone(t, m, "operations/func").GetMetadata())
	if got.end.IsZero() || got.end.After(abandoned) || got.requested {
		t.Errorf("abandoned: %+v, want end_time by %v and no cancellation", got, abandoned)
	}
	got = readStdMeta(t, standard, waitDone(t, m, "operations/cancelled").GetMetadata())
	if got.end.IsZero() || !got.requested || !got.cancelReq {
		t.Errorf("abandoned after a cancellation request: %+v, want end_time and both flags", got)
	}
}
