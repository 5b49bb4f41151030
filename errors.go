package lro

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/lrokit/lro/internal/filter"
)

// The statuses the library makes, each with its AIP-193 details: this file
// is their one home (reasons.go lists the reasons).

// errNoChange tells an Update function's caller that nothing needed
// writing; it never leaves the package.
var errNoChange = errors.New("lro: no change")

// maxDetailValue caps an ErrorInfo metadata value or a field violation's
// description, in bytes, so that a huge name or filter does not make a
// huge error.
const maxDetailValue = 1024

// newStatus is a status of code with message msg, an ErrorInfo of reason in
// the Manager's domain with metadata md (empty values left out), and a
// BadRequest when there are field violations.
func (m *Manager) newStatus(code codes.Code, reason string, md map[string]string, msg string, violations ...*errdetails.BadRequest_FieldViolation) *status.Status {
	info := &errdetails.ErrorInfo{Reason: reason, Domain: m.errorDomain()}
	for k, v := range md {
		if v != "" {
			if info.Metadata == nil {
				info.Metadata = make(map[string]string, len(md))
			}
			info.Metadata[k] = detailText(v)
		}
	}
	details := []proto.Message{info}
	if len(violations) > 0 {
		for _, v := range violations {
			v.Description = detailText(v.Description)
		}
		details = append(details, &errdetails.BadRequest{FieldViolations: violations})
	}
	p := &spb.Status{Code: int32(code), Message: validText(msg)}
	for _, d := range details {
		a, err := anypb.New(d)
		if err != nil { // cannot happen: the strings are valid UTF-8
			continue
		}
		p.Details = append(p.Details, a)
	}
	return status.FromProto(p)
}

// errorDomain is the domain of the ErrorInfo the Manager adds.
func (m *Manager) errorDomain() string {
	if m == nil || m.cfg.errorDomain == "" {
		return DefaultErrorDomain
	}
	return m.cfg.errorDomain
}

// detailText makes s fit in an error detail: valid UTF-8 (see validText)
// and at most maxDetailValue bytes.
func detailText(s string) string {
	s = validText(s)
	if len(s) <= maxDetailValue {
		return s
	}
	cut := maxDetailValue
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// errorf is newStatus as an error, with a formatted message.
func (m *Manager) errorf(code codes.Code, reason string, md map[string]string, format string, args ...any) error {
	return m.newStatus(code, reason, md, fmt.Sprintf(format, args...)).Err()
}

// badField is INVALID_ARGUMENT of reason for the request field field, with
// a BadRequest field violation describing err.
func (m *Manager) badField(reason, field string, md map[string]string, err error) error {
	msg := fmt.Sprintf("%s: %v", field, err)
	return m.newStatus(codes.InvalidArgument, reason, md, msg,
		&errdetails.BadRequest_FieldViolation{Field: field, Description: err.Error(), Reason: reason}).Err()
}

// invalidName is the answer to a malformed operation name.
func (m *Manager) invalidName(name string, err error) error {
	return m.badField(ReasonInvalidOperationName, "name", map[string]string{ErrorKeyOperation: name}, err)
}

// invalidFilter is the answer to a bad filter; the ErrorInfo gives the
// column, counted from 1, when the filter package knows it.
func (m *Manager) invalidFilter(collection, src string, err error) error {
	md := map[string]string{ErrorKeyCollection: collection, ErrorKeyFilter: src}
	var fe *filter.Error
	if errors.As(err, &fe) {
		md[ErrorKeyColumn] = strconv.Itoa(fe.Pos + 1)
	}
	return m.badField(ReasonInvalidFilter, "filter", md, err)
}

// notFound is the answer for an operation that does not exist or expired.
func (m *Manager) notFound(name string) error {
	return m.errorf(codes.NotFound, ReasonOperationNotFound, map[string]string{ErrorKeyOperation: name}, "operation %q not found", name)
}

// operationDone is the answer to a change to an operation that is done.
func (m *Manager) operationDone(name string) error {
	return m.errorf(codes.FailedPrecondition, ReasonOperationDone, map[string]string{ErrorKeyOperation: name}, "operation %q is already done", name)
}

// errManagerClosed is the answer of a call that needs a Manager that is
// no longer running.
func (m *Manager) errManagerClosed() error {
	return m.errorf(codes.Unavailable, ReasonManagerClosed, nil, "lro: the operations manager is closed")
}

// contextError is the status of a caller's context error (CANCELLED or
// DEADLINE_EXCEEDED), about the operation name.
func (m *Manager) contextError(err error, name string) error {
	return m.contextErrorAbout(err, map[string]string{ErrorKeyOperation: name})
}

// contextErrorAbout is contextError with the ErrorInfo metadata md.
func (m *Manager) contextErrorAbout(err error, md map[string]string) error {
	reason := ReasonRequestCancelled
	if errors.Is(err, context.DeadlineExceeded) {
		reason = ReasonRequestDeadlineExceeded
	}
	st := status.FromContextError(err)
	return m.newStatus(st.Code(), reason, md, st.Message()).Err()
}

// storeErrorCode is the code storeError gives err: NOT_FOUND,
// ALREADY_EXISTS, the context's code, the code of a status the store (or an
// Update function) returned, else UNAVAILABLE; OK for nil.
func storeErrorCode(err error) codes.Code {
	switch {
	case err == nil:
		return codes.OK
	case errors.Is(err, ErrNotFound):
		return codes.NotFound
	case errors.Is(err, ErrAlreadyExists):
		return codes.AlreadyExists
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Code()
	}
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown && s.Code() != codes.OK {
		return s.Code()
	}
	return codes.Unavailable
}

// storeError turns an error from the Store into the status a caller gets
// (its code is storeErrorCode's). A status that already has an ErrorInfo
// (the library's own, returned through an Update function) is kept; a bare
// status from the store gets one.
func (m *Manager) storeError(err error, name string) error {
	return m.storeErrorAbout(err, name, map[string]string{ErrorKeyOperation: name})
}

// storeErrorAbout is storeError with the ErrorInfo metadata md, for a
// failure that is not about one operation (such as a List).
func (m *Manager) storeErrorAbout(err error, name string, md map[string]string) error {
	switch code := storeErrorCode(err); code {
	case codes.OK:
		return nil
	case codes.NotFound:
		if errors.Is(err, ErrNotFound) {
			return m.notFound(name)
		}
	case codes.AlreadyExists:
		if errors.Is(err, ErrAlreadyExists) {
			return m.errorf(code, ReasonOperationAlreadyExists, md, "operation %q already exists", name)
		}
	case codes.Canceled, codes.DeadlineExceeded:
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return m.contextErrorAbout(err, md)
		}
	}
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown && s.Code() != codes.OK {
		if hasErrorInfo(s) {
			return s.Err()
		}
		reason := ReasonStoreRefused
		if s.Code() == codes.Unavailable {
			reason = ReasonStoreUnavailable
		}
		return m.newStatus(s.Code(), reason, md, s.Message()).Err()
	}
	return m.errorf(codes.Unavailable, ReasonStoreUnavailable, md, "operation store: %v", err)
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

// hasErrorInfo reports whether st carries a google.rpc.ErrorInfo.
func hasErrorInfo(st *status.Status) bool {
	for _, d := range st.Proto().GetDetails() {
		if d.MessageIs((*errdetails.ErrorInfo)(nil)) {
			return true
		}
	}
	return false
}

// authError turns an Authorizer's error about method on name into the
// status the RPC returns: its own status if that has an ErrorInfo; else
// its code and message with an ErrorInfo added (a NOT_FOUND gets the same
// one as a real NOT_FOUND, so that hiding an operation works); else, for an
// error without a status, PERMISSION_DENIED.
func (m *Manager) authError(err error, method, name string) error {
	md := map[string]string{ErrorKeyMethod: method, ErrorKeyOperation: name}
	if method == MethodList {
		md = map[string]string{ErrorKeyMethod: method, ErrorKeyCollection: name}
	}
	s, ok := status.FromError(err)
	if !ok || s.Code() == codes.Unknown || s.Code() == codes.OK {
		return m.newStatus(codes.PermissionDenied, ReasonPermissionDenied, md, err.Error()).Err()
	}
	if hasErrorInfo(s) {
		return s.Err()
	}
	reason := ReasonAuthorizationFailed
	switch s.Code() {
	case codes.PermissionDenied:
		reason = ReasonPermissionDenied
	case codes.Unauthenticated:
		reason = ReasonUnauthenticated
	case codes.NotFound:
		reason, md = ReasonOperationNotFound, map[string]string{ErrorKeyOperation: name}
	}
	p := s.Proto()
	withInfo := m.newStatus(s.Code(), reason, md, s.Message()).Proto()
	p.Message = withInfo.GetMessage()
	p.Details = append(withInfo.Details, p.Details...)
	return status.FromProto(p).Err()
}

// cancelledStatus is the status an operation ends with once cancelled.
func (m *Manager) cancelledStatus(name string) *status.Status {
	return m.newStatus(codes.Canceled, ReasonOperationCancelled, map[string]string{ErrorKeyOperation: name}, "operation cancelled")
}

// closingStatus is the status of an operation whose work Close cut short.
func (m *Manager) closingStatus(name string) *status.Status {
	return m.newStatus(codes.Unavailable, ReasonServerShutdown, map[string]string{ErrorKeyOperation: name}, "operation cut short: the server shut down")
}

// checkContext is the answer to a nil ctx, which would otherwise panic
// deep inside: INVALID_ARGUMENT naming the call.
func (m *Manager) checkContext(ctx context.Context, call string) error {
	if ctx == nil {
		return m.errorf(codes.InvalidArgument, ReasonNilArgument, nil, "lro: %s: nil context", call)
	}
	return nil
}

// errorStatus turns an error that work returned, or that a caller passed
// to Fail, into the status its operation ends with: the ErrorMapper's
// answer, else the error's own gRPC status (or its context error's), else
// UNKNOWN with its message. The result is never OK: an OK or missing
// status becomes UNKNOWN, with the OK status's message or "operation
// failed". A status the host made (work's or the mapper's) is kept as it
// is; one the library makes carries an ErrorInfo of reason WORK_FAILED.
// Either is made storable (see hostStatus).
func (m *Manager) errorStatus(err error, name string) *status.Status {
	var st *status.Status
	if err != nil && m.cfg.mapError != nil {
		st = m.cfg.mapError(err)
	}
	md := map[string]string{ErrorKeyOperation: name}
	if st == nil && err != nil {
		if s, ok := status.FromError(err); ok {
			st = s
		} else if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			c := status.FromContextError(err)
			st = m.newStatus(c.Code(), ReasonWorkFailed, md, c.Message())
		} else {
			st = m.newStatus(codes.Unknown, ReasonWorkFailed, md, err.Error())
		}
	}
	if st == nil || st.Code() == codes.OK {
		msg := "operation failed"
		if st != nil && st.Message() != "" {
			msg = st.Message()
		}
		st = m.newStatus(codes.Unknown, ReasonWorkFailed, md, msg)
	}
	return m.hostStatus(st)
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

// payloadReason is the reason of a payload (what: "metadata", "response"
// or "request") that cannot be packed into an Any.
func payloadReason(what string) string {
	switch what {
	case "response":
		return ReasonInvalidResponse
	case "request":
		return ReasonInvalidRequest
	}
	return ReasonInvalidMetadata
}

// checkSize fails with INVALID_ARGUMENT (PAYLOAD_TOO_LARGE), naming what a
// is, when a, a payload of the operation name ("" before it has one), is
// larger than the payload cap (WithMaxPayloadSize).
func (m *Manager) checkSize(what string, a *anypb.Any, name string) error {
	if n := proto.Size(a); n > m.cfg.maxPayload {
		md := map[string]string{ErrorKeyOperation: name, ErrorKeyPayload: what, ErrorKeyType: a.GetTypeUrl(),
			ErrorKeySize: strconv.Itoa(n), ErrorKeyLimit: strconv.Itoa(m.cfg.maxPayload)}
		return m.errorf(codes.InvalidArgument, ReasonPayloadTooLarge, md, "lro: the %s (%s) is %d bytes, more than the %d-byte limit (WithMaxPayloadSize)", what, a.GetTypeUrl(), n, m.cfg.maxPayload)
	}
	return nil
}

// packPayload packs msg (see packAny) as the named payload of the
// operation name ("" before it has one), which may be no larger than the
// payload cap: INVALID_ARGUMENT otherwise, or when msg cannot be packed.
func (m *Manager) packPayload(what string, msg proto.Message, name string) (*anypb.Any, error) {
	a, err := packAny(msg)
	if err != nil {
		return nil, m.errorf(codes.InvalidArgument, payloadReason(what), map[string]string{ErrorKeyOperation: name, ErrorKeyType: fmt.Sprintf("%T", msg)}, "lro: the %s: %v", what, err)
	}
	if a != nil {
		if err := m.checkSize(what, a, name); err != nil {
			return nil, err
		}
	}
	return a, nil
}
