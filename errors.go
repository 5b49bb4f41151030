package lro

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
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
	return status.Error(codes.Unavailable, validText(fmt.Sprintf("operation store: %v", err)))
}

// permanent reports whether a store failure would recur however often the
// write were retried: the store refused the value itself
// (INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE) or cannot do what
// was asked (UNIMPLEMENTED). Anything else, an error without a status
// included, counts as passing.
func permanent(err error) bool {
	s, ok := status.FromError(err)
	if !ok {
		return false
	}
	switch s.Code() {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange, codes.Unimplemented:
		return true
	}
	return false
}

// authError turns an Authorizer's error into the status the RPC returns.
func authError(err error) error {
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown && s.Code() != codes.OK {
		return s.Err()
	}
	return status.Error(codes.PermissionDenied, validText(err.Error()))
}

// cancelledStatus is the status an operation ends with once cancelled.
func cancelledStatus() *status.Status {
	return status.New(codes.Canceled, "operation cancelled")
}

// closingStatus is the status of an operation whose work Close cut short.
func closingStatus() *status.Status {
	return status.New(codes.Unavailable, "operation cut short: the server shut down")
}

// checkContext is the answer to a nil ctx, which would otherwise panic
// deep inside: INVALID_ARGUMENT naming the call.
func checkContext(ctx context.Context, call string) error {
	if ctx == nil {
		return status.Errorf(codes.InvalidArgument, "lro: %s: nil context", call)
	}
	return nil
}

// errorStatus turns an error that work returned, or that a caller passed
// to Fail, into the status its operation ends with: the ErrorMapper's
// answer, else the error's own gRPC status (or its context error's), else
// UNKNOWN with its message. The result is never OK: an OK or missing
// status becomes UNKNOWN, with the OK status's message or "operation
// failed". It is made storable (see hostStatus).
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
	return m.hostStatus(st)
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

// validText returns s with every invalid UTF-8 sequence replaced by U+FFFD.
// Protobuf strings must be valid UTF-8, or the message cannot be encoded,
// and a status message is often text the library did not write: a file
// name, a byte dump.
func validText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// truncatedMark ends a message that hostStatus cut short.
const truncatedMark = " … (truncated)"

// hostStatus makes st, a status built from text the library did not write
// (an error of the work or of a caller, a panic, an ErrorMapper's answer),
// fit to store: its message valid UTF-8 (see validText), the details whose
// type URL is not valid UTF-8 dropped, and the whole no larger than the
// payload cap (WithMaxPayloadSize), by dropping the details and then
// cutting the message short. The code is kept.
func (m *Manager) hostStatus(st *status.Status) *status.Status {
	p := st.Proto()
	clean := validText(p.GetMessage()) == p.GetMessage()
	for _, d := range p.GetDetails() {
		clean = clean && utf8.ValidString(d.GetTypeUrl())
	}
	limit := m.cfg.maxPayload
	if clean && proto.Size(p) <= limit {
		return st
	}
	out := &spb.Status{Code: p.GetCode(), Message: validText(p.GetMessage())}
	for _, d := range p.GetDetails() {
		if utf8.ValidString(d.GetTypeUrl()) {
			out.Details = append(out.Details, d)
		}
	}
	if proto.Size(out) > limit {
		out.Details = nil
	}
	if over := proto.Size(out) - limit; over > 0 {
		// The message's length prefix shrinks with it, so cutting over
		// bytes plus the mark is enough.
		keep := max(0, len(out.Message)-over-len(truncatedMark))
		for keep > 0 && !utf8.RuneStart(out.Message[keep]) {
			keep--
		}
		out.Message = out.Message[:keep] + truncatedMark
	}
	return status.FromProto(out)
}

// checkSize fails with INVALID_ARGUMENT, naming what a is, when a is
// larger than the payload cap (WithMaxPayloadSize).
func (m *Manager) checkSize(what string, a *anypb.Any) error {
	if n := proto.Size(a); n > m.cfg.maxPayload {
		return status.Error(codes.InvalidArgument, validText(fmt.Sprintf("lro: the %s (%s) is %d bytes, more than the %d-byte limit (WithMaxPayloadSize)", what, a.GetTypeUrl(), n, m.cfg.maxPayload)))
	}
	return nil
}

// packPayload packs msg (see packAny) as the named payload, which may be
// no larger than the payload cap: INVALID_ARGUMENT otherwise.
func (m *Manager) packPayload(what string, msg proto.Message) (*anypb.Any, error) {
	a, err := packAny(msg)
	if err != nil {
		return nil, err
	}
	if a != nil {
		if err := m.checkSize(what, a); err != nil {
			return nil, err
		}
	}
	return a, nil
}
