package lro

import (
	"context"
	"fmt"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// Handler is registered work: it receives the request the operation was
// started with. Op.Attempt tells which run this is.
type Handler[Req proto.Message] func(ctx context.Context, op *Op, req Req) (proto.Message, error)

// kindHandler runs registered work from its stored request.
type kindHandler func(ctx context.Context, op *Op, req *anypb.Any) (proto.Message, error)

// Register makes h the work of operations of the given kind, started with
// StartKind. Because the request is stored with the operation, a replica
// sharing the store can run it again when the one running it dies. Register
// every kind before starting any operation. It fails for an empty kind, a
// nil handler, or a kind already registered.
func Register[Req proto.Message](m *Manager, kind string, h Handler[Req]) error {
	if kind == "" || h == nil {
		return fmt.Errorf("lro: Register: empty kind or nil handler")
	}
	var zero Req
	reqType := zero.ProtoReflect().Type()
	want := reqType.Descriptor().FullName()
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.kinds[kind]; ok {
		return fmt.Errorf("lro: Register: kind %q is already registered", kind)
	}
	m.kinds[kind] = func(ctx context.Context, op *Op, a *anypb.Any) (proto.Message, error) {
		req := reqType.New().Interface().(Req)
		if got := a.MessageName(); got != want {
			return nil, m.errorf(codes.Internal, ReasonRequestUndecodable, map[string]string{ErrorKeyKind: kind, ErrorKeyOperation: op.Name()}, "kind %q: the stored request is a %s, but the handler takes a %s", kind, got, want)
		}
		if err := a.UnmarshalTo(req); err != nil {
			return nil, m.errorf(codes.Internal, ReasonRequestUndecodable, map[string]string{ErrorKeyKind: kind, ErrorKeyOperation: op.Name()}, "kind %q: decoding the stored %s request: %v", kind, want, err)
		}
		return h(ctx, op, req)
	}
	m.kindRequests[kind] = want
	return nil
}

// StartKind starts an operation of a registered kind with req as its
// request. It takes the same options as Start and fails as Start does, and
// with INVALID_ARGUMENT for a kind that is not registered, a nil req, a
// req (or, for an *anypb.Any, the message it holds) of another type than
// the kind's Handler takes, or a req larger than the payload cap
// (WithMaxPayloadSize).
func (m *Manager) StartKind(ctx context.Context, kind string, req proto.Message, opts ...StartOption) (*longrunningpb.Operation, error) {
	m.mu.Lock()
	h, want := m.kinds[kind], m.kindRequests[kind]
	m.mu.Unlock()
	if h == nil {
		return nil, m.errorf(codes.InvalidArgument, ReasonKindNotRegistered, map[string]string{ErrorKeyKind: kind}, "lro: StartKind: kind %q is not registered", kind)
	}
	if req == nil {
		return nil, m.errorf(codes.InvalidArgument, ReasonInvalidRequest, map[string]string{ErrorKeyKind: kind}, "lro: StartKind: nil request")
	}
	a, err := packRequest(req, want)
	if err != nil {
		return nil, m.errorf(codes.InvalidArgument, ReasonInvalidRequest, map[string]string{ErrorKeyKind: kind}, "lro: StartKind: packing the request: %v", err)
	}
	if got := a.MessageName(); got != want {
		return nil, m.errorf(codes.InvalidArgument, ReasonInvalidRequest, map[string]string{ErrorKeyKind: kind}, "lro: StartKind: kind %q takes a %s request, got a %s", kind, want, got)
	}
	if err := m.checkSize("request", a, ""); err != nil {
		return nil, err
	}
	return m.start(ctx, func(ctx context.Context, op *Op) (proto.Message, error) {
		return h(ctx, op, a)
	}, kind, a, opts)
}

// packRequest packs the request of a kind whose Handler takes want. A
// request that is an *anypb.Any already holds the request, unless the
// Handler takes an Any itself.
func packRequest(req proto.Message, want protoreflect.FullName) (*anypb.Any, error) {
	if a, ok := req.(*anypb.Any); ok && want != a.ProtoReflect().Descriptor().FullName() {
		return proto.Clone(a).(*anypb.Any), nil
	}
	return anypb.New(req)
}
