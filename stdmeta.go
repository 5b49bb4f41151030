package lro

import (
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Standard operation metadata (WithStandardMetadata): the fields of a
// host's metadata message that the library keeps current, matched by name
// and type. This file is the one home of that rule; it is applied where
// metadata is written: at creation (start), by SetMetadata, on a
// cancellation request, and at the end (endRecord, and finish for a
// Finisher store).

// stdStamp says what to keep current in a metadata message.
type stdStamp struct {
	created time.Time // create_time, when unset (zero: leave it)
	cancel  bool      // requested_cancellation / cancel_requested become true
	ended   time.Time // end_time, when unset (zero: leave it)
}

// The names of the fields kept current.
const (
	stdCreateTime            = "create_time"
	stdEndTime               = "end_time"
	stdRequestedCancellation = "requested_cancellation"
	stdCancelRequested       = "cancel_requested"
)

// stampMetadata returns a with the standard fields its message has set as
// s says, or a itself when the option is off, a is nil, its type cannot be
// resolved or decoded, or nothing changes.
func (m *Manager) stampMetadata(a *anypb.Any, s stdStamp) *anypb.Any {
	if !m.cfg.stdMeta || a == nil {
		return a
	}
	mt, err := m.cfg.resolver.FindMessageByURL(a.GetTypeUrl())
	if err != nil {
		return a
	}
	msg := mt.New()
	if err := proto.Unmarshal(a.GetValue(), msg.Interface()); err != nil {
		return a
	}
	changed := setTimeField(msg, stdCreateTime, s.created)
	changed = setTimeField(msg, stdEndTime, s.ended) || changed
	if s.cancel {
		changed = setTrueField(msg, stdRequestedCancellation) || changed
		changed = setTrueField(msg, stdCancelRequested) || changed
	}
	if !changed {
		return a
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg.Interface())
	if err != nil {
		return a
	}
	return &anypb.Any{TypeUrl: a.GetTypeUrl(), Value: b}
}

// setTimeField sets msg's google.protobuf.Timestamp field name to t unless
// t is zero, msg has no such field, or the field is set already.
func setTimeField(msg protoreflect.Message, name protoreflect.Name, t time.Time) bool {
	if t.IsZero() {
		return false
	}
	fd := msg.Descriptor().Fields().ByName(name)
	if fd == nil || fd.Cardinality() == protoreflect.Repeated || fd.Message() == nil ||
		fd.Message().FullName() != "google.protobuf.Timestamp" || msg.Has(fd) {
		return false
	}
	ts := msg.NewField(fd).Message()
	tp := timestamppb.New(t)
	ts.Set(ts.Descriptor().Fields().ByName("seconds"), protoreflect.ValueOfInt64(tp.GetSeconds()))
	ts.Set(ts.Descriptor().Fields().ByName("nanos"), protoreflect.ValueOfInt32(tp.GetNanos()))
	msg.Set(fd, protoreflect.ValueOfMessage(ts))
	return true
}

// setTrueField sets msg's bool field name to true unless msg has no such
// field or it is true already.
func setTrueField(msg protoreflect.Message, name protoreflect.Name) bool {
	fd := msg.Descriptor().Fields().ByName(name)
	if fd == nil || fd.Cardinality() == protoreflect.Repeated || fd.Kind() != protoreflect.BoolKind || msg.Get(fd).Bool() {
		return false
	}
	msg.Set(fd, protoreflect.ValueOfBool(true))
	return true
}

// stampRecord keeps r's metadata current: its create time, whether a
// cancellation was requested, and end (zero while it runs).
func (m *Manager) stampRecord(r *Record, end time.Time) {
	r.Operation.Metadata = m.stampMetadata(r.Operation.GetMetadata(), stdStamp{created: r.CreateTime, cancel: r.CancelRequested, ended: end})
}
