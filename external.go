package lro

import (
	"context"
	"fmt"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// Operations driven from outside the library: Create records one, and the
// caller (another system, a callback) updates and ends it.

// Create records a new operation that nothing in this library runs: the
// caller finishes it later with Complete or Fail. It fails with
// INVALID_ARGUMENT for a malformed parent, or metadata that cannot be
// packed or is larger than the payload cap (WithMaxPayloadSize), or a nil
// ctx, and with UNAVAILABLE after Close or when the store fails.
func (m *Manager) Create(ctx context.Context, opts ...StartOption) (*longrunningpb.Operation, error) {
	return m.start(ctx, nil, nil, nil, opts)
}

// SetMetadata replaces the metadata of an operation made by Create. It
// fails with INVALID_ARGUMENT for a malformed name or metadata that cannot
// be packed or is larger than the payload cap (WithMaxPayloadSize),
// NOT_FOUND for an unknown operation, FAILED_PRECONDITION once the
// operation is done (OPERATION_DONE) or when work runs it
// (OPERATION_RUN_BY_WORK), and UNAVAILABLE when the store fails.
func (m *Manager) SetMetadata(ctx context.Context, name string, md proto.Message) error {
	a, err := m.packPayload("metadata", md, name)
	if err != nil {
		return err
	}
	return m.updateExternal(ctx, name, func(r *Record) {
		r.Operation.Metadata = a
		m.stampRecord(r, time.Time{})
		r.UpdateTime = m.now()
	})
}

// Complete ends an operation made by Create with resp as its response. It
// fails with INVALID_ARGUMENT for a response larger than the payload cap
// (WithMaxPayloadSize), and with FAILED_PRECONDITION when the operation is
// already done (for example, cancelled).
func (m *Manager) Complete(ctx context.Context, name string, resp proto.Message) error {
	a, err := packResponse(resp)
	if err != nil {
		err = m.errorf(codes.InvalidArgument, ReasonInvalidResponse, map[string]string{ErrorKeyOperation: name, ErrorKeyType: fmt.Sprintf("%T", resp)}, "lro: the response: %v", err)
	} else {
		err = m.checkSize("response", a, name)
	}
	if err != nil {
		return err
	}
	return m.updateExternal(ctx, name, func(r *Record) { m.endRecord(r, succeeded(a)) })
}

// Fail ends an operation made by Create with err's status (see
// ErrorMapper); an OK or missing status becomes UNKNOWN. Text that is not
// valid UTF-8 is made valid, and a status over the payload cap is cut
// short (see WithMaxPayloadSize). It fails with FAILED_PRECONDITION when
// the operation is already done.
func (m *Manager) Fail(ctx context.Context, name string, err error) error {
	final := failed(m.errorStatus(err, name))
	return m.updateExternal(ctx, name, func(r *Record) { m.endRecord(r, final) })
}

// updateExternal applies change to an operation made by Create that is not
// done yet. SetMetadata, Complete and Fail fail as it does. It fails with
// INVALID_ARGUMENT for a nil ctx or a malformed name, NOT_FOUND
// for an unknown one, and FAILED_PRECONDITION for an operation that is done
// or run by a work function.
func (m *Manager) updateExternal(ctx context.Context, name string, change func(*Record)) error {
	if err := m.checkContext(ctx, "updating an operation"); err != nil {
		return err
	}
	if _, err := parseOperationName(name); err != nil {
		return m.invalidName(name, err)
	}
	r, err := m.store.Update(ctx, name, func(r *Record) error {
		if r.Done() {
			return m.operationDone(name)
		}
		if r.Owner != "" || r.Kind != "" {
			return m.errorf(codes.FailedPrecondition, ReasonOperationRunByWork, map[string]string{ErrorKeyOperation: name}, "operation %q is run by its work function", name)
		}
		change(r)
		return nil
	})
	m.obs.storeError(ctx, storeUpdate, err)
	m.obs.ended(ctx, r, err)
	return m.storeError(err, name)
}
