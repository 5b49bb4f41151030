package lroclient

import (
	"fmt"
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// OperationError is the error Wait returns for an operation that finished
// with an error. status.FromError and status.Code read its Status.
type OperationError struct {
	// Name is the operation's name.
	Name string
	// Status is the operation's error as the server gave it.
	Status *spb.Status
}

// Error implements error.
func (e *OperationError) Error() string {
	st := e.GRPCStatus()
	return fmt.Sprintf("operation %s failed: %s: %s", e.Name, st.Code(), st.Message())
}

// GRPCStatus returns the operation's status, details included. A status
// whose code is OK, which is not a valid error, is reported as UNKNOWN.
func (e *OperationError) GRPCStatus() *status.Status {
	if e.Status.GetCode() == int32(codes.OK) {
		return status.New(codes.Unknown, e.Status.GetMessage())
	}
	return status.FromProto(e.Status)
}

// RetryError is the error Wait returns when WithRetryLimit ends its retries
// of transient errors. It wraps the last of them, so status.Code reports
// its code (UNAVAILABLE or DEADLINE_EXCEEDED).
type RetryError struct {
	// Failures is the number of calls that failed in a row.
	Failures int
	// Elapsed is the time from the first of them to the last.
	Elapsed time.Duration
	// Err is the last error, as the client returned it.
	Err error
}

// Error implements error.
func (e *RetryError) Error() string {
	return fmt.Sprintf("lroclient: giving up after %d failed calls in %s: %v", e.Failures, e.Elapsed.Round(time.Millisecond), e.Err)
}

// Unwrap returns the last error.
func (e *RetryError) Unwrap() error { return e.Err }

// ctxError reports the end of the caller's context both as a context error
// (errors.Is) and as a gRPC status.
type ctxError struct{ err error }

func (e ctxError) Error() string { return "lroclient: " + e.err.Error() }
func (e ctxError) Unwrap() error { return e.err }

// GRPCStatus maps the context error to CANCELLED or DEADLINE_EXCEEDED.
func (e ctxError) GRPCStatus() *status.Status { return status.FromContextError(e.err) }
