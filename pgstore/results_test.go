package pgstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestEveryResultEnds: whatever the work returns, its operation ends on
// pgstore: errors and panics whose text is not valid UTF-8 end with that
// text made valid; a response PostgreSQL cannot be given (a type URL that
// is not valid UTF-8: an INVALID_ARGUMENT store error, which retrying
// cannot cure) or one over the payload cap ends with INTERNAL.
func TestEveryResultEnds(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	m := lrotest.NewManager(t, s, lro.WithMaxPayloadSize(4<<10))
	const bad = "file \xff\xfe.txt"
	for _, tt := range []struct {
		desc     string
		work     lro.WorkFunc
		wantCode codes.Code
		wantMsg  string
	}{
		{"plain error", func(context.Context, *lro.Op) (proto.Message, error) {
			return nil, errors.New(bad)
		}, codes.Unknown, "file \uFFFD"},
		{"grpc status", func(context.Context, *lro.Op) (proto.Message, error) {
			return nil, status.Error(codes.NotFound, bad)
		}, codes.NotFound, "file \uFFFD"},
		{"panic", func(context.Context, *lro.Op) (proto.Message, error) {
			panic(bad)
		}, codes.Internal, "file \uFFFD"},
		{"unstorable response", func(context.Context, *lro.Op) (proto.Message, error) {
			return &anypb.Any{TypeUrl: "type.googleapis.com/\xff"}, nil
		}, codes.Internal, "result could not be stored"},
		{"oversized response", func(context.Context, *lro.Op) (proto.Message, error) {
			return wrapperspb.String(strings.Repeat("x", 8<<10)), nil
		}, codes.Internal, "WithMaxPayloadSize"},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			op, err := m.Start(context.Background(), tt.work)
			if err != nil {
				t.Fatal(err)
			}
			got := lrotest.WaitDone(t, m, op.GetName()).GetError()
			if codes.Code(got.GetCode()) != tt.wantCode || !strings.Contains(got.GetMessage(), tt.wantMsg) || !utf8.ValidString(got.GetMessage()) {
				t.Errorf("error %v, want %v containing %q in valid UTF-8", got, tt.wantCode, tt.wantMsg)
			}
		})
	}
}
