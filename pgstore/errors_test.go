package pgstore

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/grpc/codes"
)

// TestClassify pins the gRPC code of each kind of database failure; the
// transient ones (UNAVAILABLE) are those a caller retries, as on a
// failover to a standby.
func TestClassify(t *testing.T) {
	tests := []struct {
		err  error
		want codes.Code
	}{
		{context.Canceled, codes.Canceled},
		{fmt.Errorf("query: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{&pgconn.PgError{Code: "08006"}, codes.Unavailable}, // connection failure
		{&pgconn.PgError{Code: "57P01"}, codes.Unavailable}, // admin shutdown
		{&pgconn.PgError{Code: "53300"}, codes.Unavailable}, // too many connections
		{&pgconn.PgError{Code: "40001"}, codes.Unavailable}, // serialization failure
		{&pgconn.PgError{Code: "55P03"}, codes.Unavailable}, // lock not available
		{&pgconn.PgError{Code: "25006"}, codes.Unavailable}, // read-only transaction: a standby now
		{&pgconn.PgError{Code: "22021"}, codes.InvalidArgument},
		{&pgconn.PgError{Code: "54000"}, codes.InvalidArgument},
		{&pgconn.PgError{Code: "42P01"}, codes.Internal}, // undefined table
		{&pgconn.PgError{Code: "25P02"}, codes.Internal}, // other class 25: a bug, not transient
		{errors.New("dial tcp: connection refused"), codes.Unavailable},
	}
	for _, tt := range tests {
		if got := classify(tt.err); got != tt.want {
			t.Errorf("classify(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
