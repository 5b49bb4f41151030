package lro

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errNoChange tells an Update function's caller that nothing needed
// writing; it never leaves the package.
var errNoChange = errors.New("lro: no change")

// invalidArgument returns an INVALID_ARGUMENT status error.
func invalidArgument(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// notFound is the answer for an operation that does not exist or expired.
func notFound(name string) error {
	return status.Errorf(codes.NotFound, "operation %q not found", name)
}

// storeError turns an error from the Store into the status a caller gets.
func storeError(err error, name string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound):
		return notFound(name)
	case errors.Is(err, ErrAlreadyExists):
		return status.Errorf(codes.AlreadyExists, "operation %q already exists", name)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown && s.Code() != codes.OK {
		return err
	}
	return status.Error(codes.Unavailable, fmt.Sprintf("operation store: %v", err))
}

// authError turns an Authorizer's error into the status the RPC returns.
func authError(err error) error {
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown && s.Code() != codes.OK {
		return s.Err()
	}
	return status.Error(codes.PermissionDenied, err.Error())
}

// cancelledStatus is the status an operation ends with once cancelled.
func cancelledStatus() *status.Status {
	return status.New(codes.Canceled, "operation cancelled")
}

// errorStatus turns an error that work returned, or that a caller passed
// to Fail, into the status its operation ends with: the ErrorMapper's
// answer, else the error's own gRPC status (or its context error's), else
// UNKNOWN with its message. The result is never OK: an OK or missing
// status becomes UNKNOWN, with the OK status's message or "operation
// failed".
func (m *Manager) errorStatus(err error) *status.Status {
	var st *status.Status
	if err != nil && m.cfg.mapError != nil {
		st = m.cfg.mapError(err)
	}
	if st == nil && err != nil {
		st = defaultStatus(err)
	}
	if st == nil || st.Code() == codes.OK {
		msg := "operation failed"
		if st != nil && st.Message() != "" {
			msg = st.Message()
		}
		st = status.New(codes.Unknown, msg)
	}
	return st
}

// defaultStatus is the status of a work error when no mapper decides.
func defaultStatus(err error) *status.Status {
	if s, ok := status.FromError(err); ok {
		return s
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err)
	}
	return status.New(codes.Unknown, err.Error())
}
