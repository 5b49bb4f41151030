package lro

import (
	"context"
	"fmt"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/emptypb"
)

// GetOperation, ListOperations and DeleteOperation, and what every RPC
// shares: the name check, the Authorizer and the live-record lookup.
// WaitOperation is in wait.go, CancelOperation in cancel.go.

// authorize asks the Authorizer, if any, about method on name.
func (m *Manager) authorize(ctx context.Context, method, name string) error {
	if m.cfg.authorize == nil {
		return nil
	}
	if err := m.cfg.authorize(ctx, method, name); err != nil {
		return m.authError(err, method, name)
	}
	return nil
}

// lookup reads a live record for an RPC on name.
func (m *Manager) lookup(ctx context.Context, name string) (*Record, error) {
	r, err := m.store.Get(ctx, name)
	m.obs.storeError(ctx, storeGet, err)
	if err != nil {
		return nil, m.storeError(err, name)
	}
	if m.expired(r) {
		return nil, m.notFound(name)
	}
	return r, nil
}

// checkName validates an operation name from a request and authorizes
// method on it.
func (m *Manager) checkName(ctx context.Context, method, name string) error {
	if _, err := parseOperationName(name); err != nil {
		return m.invalidName(name, err)
	}
	return m.authorize(ctx, method, name)
}

// GetOperation returns the latest state of an operation. It fails with
// INVALID_ARGUMENT for an empty or malformed name, NOT_FOUND for an unknown
// or expired one, the Authorizer's status when it denies, and UNAVAILABLE
// when the store fails.
func (m *Manager) GetOperation(ctx context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	if err := m.checkName(ctx, MethodGet, req.GetName()); err != nil {
		return nil, err
	}
	return m.current(ctx, req.GetName())
}

// current returns the live operation's latest state.
func (m *Manager) current(ctx context.Context, name string) (*longrunningpb.Operation, error) {
	r, err := m.lookup(ctx, name)
	return r.opOrNil(), err
}

// ListOperations lists the operations of a collection, newest first, a
// page at a time. The name is "" (every operation), "operations",
// "{parent}/operations" or "{parent}"; a "-" segment matches any segment.
//
// One call examines at most WithListScanBudget operations and returns at
// most WithListPageBytes of them, so a page may hold fewer than page_size
// operations, or none, while a next_page_token says the listing goes on
// (AIP-158); the token is empty only on the last page.
//
// return_partial_success is not supported: a Store lists every operation
// of a collection or fails the whole list, so a request that sets it gets
// UNIMPLEMENTED, as google.longrunning says a server without the feature
// answers.
//
// A malformed name, a negative page_size, a bad filter (docs/FILTERING.md)
// or a page token that is garbage, tampered with, or from another name or
// filter is INVALID_ARGUMENT; a denial is the Authorizer's status; a store
// failure is UNAVAILABLE.
func (m *Manager) ListOperations(ctx context.Context, req *longrunningpb.ListOperationsRequest) (*longrunningpb.ListOperationsResponse, error) {
	all, parent, err := parseCollection(req.GetName())
	if err != nil {
		return nil, m.badField(ReasonInvalidCollection, "name", map[string]string{ErrorKeyCollection: req.GetName()}, err)
	}
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return nil, m.badField(ReasonInvalidPageSize, "page_size", map[string]string{ErrorKeyCollection: req.GetName()}, fmt.Errorf("%d is negative", size))
	case size == 0:
		size = m.cfg.pageSize
	case size > m.cfg.maxPageSize:
		size = m.cfg.maxPageSize
	}
	if req.GetReturnPartialSuccess() {
		return nil, m.errorf(codes.Unimplemented, ReasonPartialSuccessUnsupported, map[string]string{ErrorKeyCollection: req.GetName()}, "lro: return_partial_success is not supported: a Store lists every operation of a collection or fails the whole list")
	}
	f, err := ParseFilter(req.GetFilter(), m.cfg.resolver)
	if err != nil {
		return nil, m.invalidFilter(req.GetName(), req.GetFilter(), err)
	}
	if err := m.authorize(ctx, MethodList, req.GetName()); err != nil {
		return nil, err
	}
	key, err := m.pageTokenKey(ctx)
	if err != nil {
		return nil, err
	}
	binding := listBinding(req.GetName(), f.String())
	q := ListQuery{AllParents: all, Parent: parent, Done: f.DoneHint(), Filter: f}
	if tok := req.GetPageToken(); tok != "" {
		c, err := decodePageToken(key, binding, tok)
		if err != nil {
			return nil, m.badField(ReasonInvalidPageToken, "page_token", map[string]string{ErrorKeyCollection: req.GetName(), ErrorKeyFilter: req.GetFilter()}, err)
		}
		q.After = &c
	}
	ops, next, err := m.listPage(ctx, q, size)
	if err != nil {
		return nil, m.storeErrorAbout(err, req.GetName(), map[string]string{ErrorKeyCollection: req.GetName()})
	}
	resp := &longrunningpb.ListOperationsResponse{Operations: ops}
	if next != nil {
		resp.NextPageToken = encodePageToken(key, binding, *next)
	}
	return resp, nil
}

// DeleteOperation removes an operation's record. Work still running is not
// cancelled; its result is dropped. Queued work never runs. It fails as
// GetOperation does.
func (m *Manager) DeleteOperation(ctx context.Context, req *longrunningpb.DeleteOperationRequest) (*emptypb.Empty, error) {
	name := req.GetName()
	if err := m.checkName(ctx, MethodDelete, name); err != nil {
		return nil, err
	}
	if _, err := m.lookup(ctx, name); err != nil {
		return nil, err
	}
	if err := m.store.Delete(ctx, name); err != nil {
		m.obs.storeError(ctx, storeDelete, err)
		return nil, m.storeError(err, name)
	}
	m.dropQueued(name)
	return &emptypb.Empty{}, nil
}
