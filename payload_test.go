package lro_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lrokit/lro"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestPayloadCap: metadata, stored requests and responses larger than the
// cap are refused with INVALID_ARGUMENT where a caller gives them.
func TestPayloadCap(t *testing.T) {
	const limit = 4 << 10
	store := lro.NewMemoryStore()
	m := newManager(t, lro.WithStore(store), lro.WithMaxPayloadSize(limit))
	if err := lro.Register(m, "export", exportHandler); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	big := wrapperspb.String(strings.Repeat("x", limit))
	fits := wrapperspb.String(strings.Repeat("x", limit-100))
	created, err := m.Create(ctx, lro.WithMetadata(fits))
	if err != nil {
		t.Fatalf("Create with metadata under the cap: %v", err)
	}
	opMetadata := make(chan error, 1)
	started, err := m.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		opMetadata <- op.SetMetadata(ctx, big)
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		desc string
		err  error
	}{
		{"Start", func() error {
			_, err := m.Start(ctx, func(context.Context, *lro.Op) (proto.Message, error) { return nil, nil }, lro.WithMetadata(big))
			return err
		}()},
		{"StartKind metadata", func() error {
			_, err := m.StartKind(ctx, "export", wrapperspb.String("x"), lro.WithMetadata(big))
			return err
		}()},
		{"StartKind request", func() error { _, err := m.StartKind(ctx, "export", big); return err }()},
		{"Create", func() error { _, err := m.Create(ctx, lro.WithMetadata(big)); return err }()},
		{"SetMetadata", m.SetMetadata(ctx, created.GetName(), big)},
		{"Complete", m.Complete(ctx, created.GetName(), big)},
		{"Op.SetMetadata", <-opMetadata},
	} {
		if status.Code(tt.err) != codes.InvalidArgument || !strings.Contains(status.Convert(tt.err).Message(), "WithMaxPayloadSize") {
			t.Errorf("%s over the cap: %v, want INVALID_ARGUMENT naming the limit", tt.desc, tt.err)
		}
	}
	if n := store.Len(); n != 2 {
		t.Errorf("the store holds %d operations, want the 2 under the cap", n)
	}
	waitDone(t, m, started.GetName())
	if got := get(t, m, created.GetName()); got.GetDone() {
		t.Errorf("a refused Complete ended the operation: %v", got)
	}
}

// TestPayloadCapOnResults: work whose response is over the cap ends its
// operation with INTERNAL saying so; an error status over the cap keeps
// its code and is cut short to fit.
func TestPayloadCapOnResults(t *testing.T) {
	const limit = 4 << 10
	m := newManager(t, lro.WithMaxPayloadSize(limit))
	ctx := context.Background()
	huge := strings.Repeat("y", 3*limit)

	op, err := m.Start(ctx, func(context.Context, *lro.Op) (proto.Message, error) { return wrapperspb.String(huge), nil })
	if err != nil {
		t.Fatal(err)
	}
	got := waitDone(t, m, op.GetName()).GetError()
	if codes.Code(got.GetCode()) != codes.Internal || !strings.Contains(got.GetMessage(), "WithMaxPayloadSize") {
		t.Errorf("oversized response: error %v, want INTERNAL naming the limit", got)
	}

	op, err = m.Start(ctx, func(context.Context, *lro.Op) (proto.Message, error) {
		return nil, status.Error(codes.FailedPrecondition, "dump: "+huge)
	})
	if err != nil {
		t.Fatal(err)
	}
	got = waitDone(t, m, op.GetName()).GetError()
	if codes.Code(got.GetCode()) != codes.FailedPrecondition || !strings.HasPrefix(got.GetMessage(), "dump: yyy") || !strings.HasSuffix(got.GetMessage(), "(truncated)") {
		t.Errorf("oversized error: code %v, message %.40q…, want FAILED_PRECONDITION cut short", codes.Code(got.GetCode()), got.GetMessage())
	}
	if n := proto.Size(got); n > limit {
		t.Errorf("the error status is %d bytes, over the %d-byte cap", n, limit)
	}

	created, err := m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Cut short between characters, never inside one.
	if err := m.Fail(ctx, created.GetName(), errors.New(strings.Repeat("é", 3*limit))); err != nil {
		t.Fatalf("Fail with an oversized error: %v", err)
	}
	got = get(t, m, created.GetName()).GetError()
	if n := proto.Size(got); n > limit || !utf8.ValidString(got.GetMessage()) {
		t.Errorf("Fail stored a %d-byte status (cap %d), valid UTF-8 %v", n, limit, utf8.ValidString(got.GetMessage()))
	}
}

// TestDefaultPayloadCap: without the option, a 5 MiB metadata, which no
// default gRPC client could receive, is refused.
func TestDefaultPayloadCap(t *testing.T) {
	m := newManager(t)
	_, err := m.Create(context.Background(), lro.WithMetadata(wrapperspb.Bytes(make([]byte, 5<<20))))
	wantCode(t, err, codes.InvalidArgument)
	if _, err := m.Create(context.Background(), lro.WithMetadata(wrapperspb.Bytes(make([]byte, lro.DefaultMaxPayloadSize-64)))); err != nil {
		t.Errorf("metadata just under the default cap: %v", err)
	}
}
