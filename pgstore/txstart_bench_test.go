package pgstore

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/lrokit/lro"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// BenchmarkStartKindTx compares, one caller at a time, a queued start of
// a kind made with StartKind with one made by StartKindTx in a
// transaction of its own (begin, the schema check, the insert, commit).
// The Manager is accept-only, so nothing runs.
func BenchmarkStartKindTx(b *testing.B) {
	s := benchStore(b)
	m, err := lro.New(lro.WithStore(s), lro.WithMaxRunning(0))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Close(context.Background()) })
	if err := lro.Register(m, txKind, func(ctx context.Context, op *lro.Op, req *wrapperspb.StringValue) (proto.Message, error) {
		return req, nil
	}); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	req := wrapperspb.String("x")
	b.Run("StartKind", func(b *testing.B) {
		for b.Loop() {
			if _, err := m.StartKind(ctx, txKind, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("StartKindTx", func(b *testing.B) {
		for b.Loop() {
			if err := pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
				_, err := StartKindTx(ctx, tx, m, txKind, req)
				return err
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
