package lro

import (
	"context"
	"fmt"
	"time"

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

// kindInfo is a registered kind: its work and its controls.
type kindInfo struct {
	name       string
	request    protoreflect.FullName // the request type its Handler takes
	run        kindHandler
	maxRunning int           // at once in this Manager; 0 for no limit
	maxGlobal  int           // at once across replicas; 0 for no limit
	timeout    time.Duration // 0 for none
	retry      *RetryPolicy  // nil: one attempt
}

// A KindOption configures a kind at Register.
type KindOption func(*kindInfo) error

// KindMaxRunning runs at most n operations of the kind at once in this
// Manager (within WithMaxRunning's limit, if any); the others wait queued.
// Register fails unless n is positive.
func KindMaxRunning(n int) KindOption {
	return func(k *kindInfo) error {
		if n < 1 {
			return fmt.Errorf("KindMaxRunning: %d is not positive", n)
		}
		k.maxRunning = n
		return nil
	}
}

// KindMaxRunningGlobal runs at most n operations of the kind at once
// across every replica sharing the store (a licence count, a partner's
// rate limit). The store enforces it when a replica claims queued work, so
// operations of the kind always start through the queue. Register fails
// unless n is positive.
func KindMaxRunningGlobal(n int) KindOption {
	return func(k *kindInfo) error {
		if n < 1 {
			return fmt.Errorf("KindMaxRunningGlobal: %d is not positive", n)
		}
		k.maxGlobal = n
		return nil
	}
}

// KindTimeout gives operations of the kind a deadline d after their
// creation, as WithTimeout does (which overrides it for one operation).
// Register fails unless d is positive.
func KindTimeout(d time.Duration) KindOption {
	return func(k *kindInfo) error {
		if d <= 0 {
			return fmt.Errorf("KindTimeout: %v is not positive", d)
		}
		k.timeout = d
		return nil
	}
}

// KindRetry runs the work of the kind again after a retryable failure (see
// RetryPolicy). Register fails when the policy is invalid (RetryPolicy.check).
func KindRetry(p RetryPolicy) KindOption {
	return func(k *kindInfo) error {
		p, err := p.normalized()
		if err != nil {
			return err
		}
		k.retry = &p
		return nil
	}
}

// Register makes h the work of operations of the given kind, started with
// StartKind, with the controls opts set. Because the request is stored with
// the operation, a replica sharing the store can run it: the one with a
// free slot, or another one when the one running it dies. Register every
// kind before starting any operation. It fails for an empty kind, a nil
// handler, a kind already registered, or an option that refuses its value.
func Register[Req proto.Message](m *Manager, kind string, h Handler[Req], opts ...KindOption) error {
	if kind == "" || h == nil {
		return fmt.Errorf("lro: Register: empty kind or nil handler")
	}
	k := &kindInfo{name: kind}
	for _, o := range opts {
		if err := o(k); err != nil {
			return fmt.Errorf("lro: Register %q: %w", kind, err)
		}
	}
	var zero Req
	reqType := zero.ProtoReflect().Type()
	want := reqType.Descriptor().FullName()
	k.request = want
	k.run = func(ctx context.Context, op *Op, a *anypb.Any) (proto.Message, error) {
		req := reqType.New().Interface().(Req)
		if got := a.MessageName(); got != want {
			return nil, m.errorf(codes.Internal, ReasonRequestUndecodable, map[string]string{ErrorKeyKind: kind, ErrorKeyOperation: op.Name()}, "kind %q: the stored request is a %s, but the handler takes a %s", kind, got, want)
		}
		if err := a.UnmarshalTo(req); err != nil {
			return nil, m.errorf(codes.Internal, ReasonRequestUndecodable, map[string]string{ErrorKeyKind: kind, ErrorKeyOperation: op.Name()}, "kind %q: decoding the stored %s request: %v", kind, want, err)
		}
		return h(ctx, op, req)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.kinds[kind]; ok {
		return fmt.Errorf("lro: Register: kind %q is already registered", kind)
	}
	m.kinds[kind] = k
	m.q.pending[kind] = true // queued work of this kind may wait in the store
	m.wakeQueue()
	return nil
}

// StartKind starts an operation of a registered kind with req as its
// request. It takes the same options as Start and fails as Start does, and
// with INVALID_ARGUMENT for a kind that is not registered, a nil req, a
// req (or, for an *anypb.Any, the message it holds) of another type than
// the kind's Handler takes, or a req larger than the payload cap
// (WithMaxPayloadSize). On an accept-only Manager (WithMaxRunning(0)) it
// records the operation queued for a replica that registered the kind.
func (m *Manager) StartKind(ctx context.Context, kind string, req proto.Message, opts ...StartOption) (*longrunningpb.Operation, error) {
	k, a, err := m.kindRequest("StartKind", kind, req)
	if err != nil {
		return nil, err
	}
	return m.start(ctx, kindWork(k, a), k, a, opts)
}

// kindRequest returns the registered kind and req packed as its stored
// request, for the named call. It fails with INVALID_ARGUMENT for a kind
// that is not registered, a nil req, a req (or, for an *anypb.Any, the
// message it holds) of another type than the kind's Handler takes, or a
// req larger than the payload cap.
func (m *Manager) kindRequest(call, kind string, req proto.Message) (*kindInfo, *anypb.Any, error) {
	m.mu.Lock()
	k := m.kinds[kind]
	m.mu.Unlock()
	if k == nil {
		return nil, nil, m.errorf(codes.InvalidArgument, ReasonKindNotRegistered, map[string]string{ErrorKeyKind: kind}, "lro: %s: kind %q is not registered", call, kind)
	}
	if req == nil {
		return nil, nil, m.errorf(codes.InvalidArgument, ReasonInvalidRequest, map[string]string{ErrorKeyKind: kind}, "lro: %s: nil request", call)
	}
	a, err := packRequest(req, k.request)
	if err != nil {
		return nil, nil, m.errorf(codes.InvalidArgument, ReasonInvalidRequest, map[string]string{ErrorKeyKind: kind}, "lro: %s: packing the request: %v", call, err)
	}
	if got := a.MessageName(); got != k.request {
		return nil, nil, m.errorf(codes.InvalidArgument, ReasonInvalidRequest, map[string]string{ErrorKeyKind: kind}, "lro: %s: kind %q takes a %s request, got a %s", call, kind, k.request, got)
	}
	if err := m.checkSize("request", a, ""); err != nil {
		return nil, nil, err
	}
	return k, a, nil
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

// kindWork is the work of an operation of kind k with the stored request a.
func kindWork(k *kindInfo, a *anypb.Any) WorkFunc {
	return func(ctx context.Context, op *Op) (proto.Message, error) {
		return k.run(ctx, op, a)
	}
}
