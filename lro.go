// Package lro gives a gRPC service Google-style long-running operations
// (google.longrunning.Operations, AIP-151).
//
// A host creates a Manager, registers it as its Operations server, and calls
// Start from its API handlers:
//
//	m, err := lro.New()
//	longrunningpb.RegisterOperationsServer(grpcServer, m)
//	op, err := m.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
//		return &pb.ExportResponse{}, nil
//	})
//
// Clients then get, list, wait on, cancel and delete operations with any
// standard client. Operations live in a Store: in memory by default, or in
// PostgreSQL (package pgstore) so that several replicas share them.
package lro

import (
	"context"
	"fmt"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// WorkFunc is the work behind an operation. It runs in its own goroutine
// with a context that outlives the request that started it and is
// cancelled by CancelOperation and by Close. Its response becomes the
// operation's response; its error, the operation's error (see ErrorMapper).
// A response that cannot be stored, or is larger than the payload cap
// (WithMaxPayloadSize), ends the operation with INTERNAL instead.
//
// The context also ends as soon as this replica learns that it no longer
// owns the operation: another replica took it over, Op.SetMetadata was
// refused, or the replica could not renew its owner lease in time (see
// WithLease), when it must assume that all its work is lost. Then
// context.Cause(ctx) wraps ErrLeaseLost, an error the work returns is
// dropped, and the operation is ended once, by whoever owns it now.
type WorkFunc func(ctx context.Context, op *Op) (proto.Message, error)

// Start records a new operation, runs work in its own goroutine and returns
// the operation (not done) at once. See StartOption for naming and
// idempotency. Beyond WithMaxRunning's limit the operation is recorded
// queued and its work runs when a slot frees.
//
// The work's context keeps ctx's values (request-scoped data such as a
// trace span or the caller's identity; see context.WithoutCancel) but not
// its deadline or its cancellation: the work outlives the request that
// started it, and ends only by CancelOperation, Close, its timeout
// (WithTimeout), or the loss of the operation (see WorkFunc).
//
// It fails with INVALID_ARGUMENT for nil work, a malformed parent,
// metadata that cannot be packed or is larger than the payload cap
// (WithMaxPayloadSize), a bad option or a nil ctx, with
// FAILED_PRECONDITION on an accept-only Manager (WithMaxRunning(0)), and
// with UNAVAILABLE after Close or when the store fails. Every error
// carries an ErrorInfo (see the Reason constants).
func (m *Manager) Start(ctx context.Context, work WorkFunc, opts ...StartOption) (*longrunningpb.Operation, error) {
	if work == nil {
		return nil, m.errorf(codes.InvalidArgument, ReasonMissingWork, nil, "lro: Start: nil work")
	}
	return m.start(ctx, work, nil, nil, opts)
}

// emptyTypeURL is the type URL of google.protobuf.Empty, the response of
// work that returns none.
const emptyTypeURL = "type.googleapis.com/google.protobuf.Empty"

// packAny packs msg into an Any (a copy when msg is one already); nil
// packs to nil. Its error is plain: Manager.pack makes it a status.
func packAny(msg proto.Message) (*anypb.Any, error) {
	if msg == nil {
		return nil, nil
	}
	if a, ok := msg.(*anypb.Any); ok {
		return proto.Clone(a).(*anypb.Any), nil
	}
	a, err := anypb.New(msg)
	if err != nil {
		return nil, fmt.Errorf("packing %T: %w", msg, err)
	}
	return a, nil
}

// packResponse packs a response; nil means google.protobuf.Empty, packed
// by hand (its encoding is empty), which saves a marshal per operation.
func packResponse(resp proto.Message) (*anypb.Any, error) {
	if resp == nil {
		return &anypb.Any{TypeUrl: emptyTypeURL}, nil
	}
	return packAny(resp)
}
