package pgstore

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error is a database failure, annotated with the gRPC code a caller should
// see: UNAVAILABLE for lost or refused connections and server shutdowns,
// CANCELLED or DEADLINE_EXCEEDED when the caller's context ended,
// INVALID_ARGUMENT for values PostgreSQL cannot store (such as a NUL byte in
// a name, or a name too long to index), and INTERNAL otherwise. errors.Is and errors.As see the
// underlying error; status.FromError sees the code.
type Error struct {
	// Op says what the store was doing.
	Op string
	// Code is the gRPC code for the failure.
	Code codes.Code
	// Err is the underlying error.
	Err error
}

// Error implements error.
func (e *Error) Error() string { return "pgstore: " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// GRPCStatus reports the failure as a gRPC status.
func (e *Error) GRPCStatus() *status.Status { return status.New(e.Code, e.Error()) }

// storeErr wraps a database error with op and its gRPC code.
func storeErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	return &Error{Op: op, Code: classify(err), Err: err}
}

// classify picks the gRPC code for a database error.
func classify(err error) codes.Code {
	switch {
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			strings.HasPrefix(pgErr.Code, "53"), // insufficient resources
			strings.HasPrefix(pgErr.Code, "57"), // operator intervention: shutdown, terminated
			strings.HasPrefix(pgErr.Code, "40"), // serialization failure, deadlock
			pgErr.Code == "55P03",               // lock not available
			// read_only_sql_transaction: the server was a primary when
			// the connection was made and is a standby now (or is in
			// recovery); a retry connects to the new primary.
			pgErr.Code == "25006":
			return codes.Unavailable
		case strings.HasPrefix(pgErr.Code, "22"), // data exception: bad value
			strings.HasPrefix(pgErr.Code, "54"): // program limit exceeded: a value too large to index
			return codes.InvalidArgument
		}
		return codes.Internal
	}
	// Refused or broken connections, closed pools and other failures on
	// the way to the server.
	return codes.Unavailable
}
