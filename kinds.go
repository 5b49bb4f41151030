package lro

import (
	"context"
	"fmt"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
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
	newReq := func() Req { return zero.ProtoReflect().Type().New().Interface().(Req) }
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.kinds[kind]; ok {
		return fmt.Errorf("lro: Register: kind %q is already registered", kind)
	}
	m.kinds[kind] = func(ctx context.Context, op *Op, a *anypb.Any) (proto.Message, error) {
		req := newReq()
		if err := a.UnmarshalTo(req); err != nil {
			return nil, m.errorf(codes.Internal, ReasonRequestUndecodable, map[string]string{ErrorKeyKind: kind, ErrorKeyOperation: op.Name()}, "kind %q: decoding the stored request: %v", kind, err)
		}
		return h(ctx, op, req)
	}
	return nil
}

// StartKind starts an operation of a registered kind with req as its
// request. It takes the same options as Start and fails as Start does, and
// with INVALID_ARGUMENT for a kind that is not registered or a nil req.
func (m *Manager) StartKind(ctx context.Context, kind string, req proto.Message, opts ...StartOption) (*longrunningpb.Operation, error) {
	m.mu.Lock()
	h := m.kinds[kind]
	m.mu.Unlock()
	if h == nil {
		return nil, m.errorf(codes.InvalidArgument, ReasonKindNotRegistered, map[string]string{ErrorKeyKind: kind}, "lro: StartKind: kind %q is not registered", kind)
	}
	if req == nil {
		return nil, m.errorf(codes.InvalidArgument, ReasonInvalidRequest, map[string]string{ErrorKeyKind: kind}, "lro: StartKind: nil request")
	}
	a, err := anypb.New(req)
	if err != nil {
		return nil, m.errorf(codes.InvalidArgument, ReasonInvalidRequest, map[string]string{ErrorKeyKind: kind}, "lro: StartKind: packing the request: %v", err)
	}
	return m.start(ctx, func(ctx context.Context, op *Op) (proto.Message, error) {
		return h(ctx, op, a)
	}, kind, a, opts)
}
