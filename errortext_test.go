package lro_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lrokit/lro"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// badText is not valid UTF-8: a file name or a byte dump in an error.
const badText = "file \xff\xfe.txt"

// TestInvalidUTF8InErrors: every way text the library did not write gets
// into an operation's status still ends the operation, with the invalid
// bytes replaced by U+FFFD.
func TestInvalidUTF8InErrors(t *testing.T) {
	m := newManager(t, lro.WithErrorMapper(func(err error) *status.Status {
		if err.Error() == "map me" {
			return status.New(codes.DataLoss, "mapped "+badText)
		}
		return nil
	}))
	badDetail := status.FromProto(&spb.Status{Code: int32(codes.Aborted), Message: badText, Details: []*anypb.Any{
		{TypeUrl: "type.googleapis.com/\xff", Value: []byte{1}},
		mustAny(t, &errdetails.ErrorInfo{Reason: "KEPT"}),
	}})
	for _, tt := range []struct {
		desc     string
		err      error
		panicVal any
		wantCode codes.Code
		details  int
	}{
		{"plain error", errors.New("open " + badText), nil, codes.Unknown, 0},
		{"grpc status", status.Error(codes.NotFound, badText), nil, codes.NotFound, 0},
		{"status detail with an invalid type URL", badDetail.Err(), nil, codes.Aborted, 1},
		{"error mapper", errors.New("map me"), nil, codes.DataLoss, 0},
		{"panic", nil, "bad bytes " + badText, codes.Internal, 0},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			op, err := m.Start(context.Background(), func(context.Context, *lro.Op) (proto.Message, error) {
				if tt.panicVal != nil {
					panic(tt.panicVal)
				}
				return nil, tt.err
			})
			if err != nil {
				t.Fatal(err)
			}
			got := waitDone(t, m, op.GetName()).GetError()
			checkText(t, got, tt.wantCode)
			if len(got.GetDetails()) != tt.details {
				t.Errorf("details %v, want %d (those with a valid type URL)", got.GetDetails(), tt.details)
			}
		})
	}
	t.Run("Fail", func(t *testing.T) {
		ctx := context.Background()
		op, err := m.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Fail(ctx, op.GetName(), errors.New(badText)); err != nil {
			t.Fatalf("Fail with invalid UTF-8: %v", err)
		}
		checkText(t, get(t, m, op.GetName()).GetError(), codes.Unknown)
	})
}

// checkText checks that st has the code and a valid UTF-8 message in which
// U+FFFD stands for the invalid bytes.
func checkText(t *testing.T, st *spb.Status, code codes.Code) {
	t.Helper()
	if codes.Code(st.GetCode()) != code {
		t.Errorf("code %v, want %v", codes.Code(st.GetCode()), code)
	}
	if msg := st.GetMessage(); !utf8.ValidString(msg) || !strings.Contains(msg, "file \uFFFD") {
		t.Errorf("message %q: want valid UTF-8 with U+FFFD for the invalid bytes", msg)
	}
}

// TestUnstorableResultEnds: a result the store refuses for good (here a
// response whose type URL is not valid UTF-8, which no store can encode)
// does not leave the operation running: it ends with INTERNAL, saying so.
// On a store without Finisher too.
func TestUnstorableResultEnds(t *testing.T) {
	for _, path := range finishPaths {
		t.Run(path.name, func(t *testing.T) {
			m := newManager(t, lro.WithStore(path.store()))
			op, err := m.Start(context.Background(), func(context.Context, *lro.Op) (proto.Message, error) {
				return &anypb.Any{TypeUrl: "type.googleapis.com/\xff"}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			got := waitDone(t, m, op.GetName()).GetError()
			if codes.Code(got.GetCode()) != codes.Internal || !strings.Contains(got.GetMessage(), "result could not be stored") {
				t.Errorf("error %v, want INTERNAL saying the result could not be stored", got)
			}
		})
	}
}
