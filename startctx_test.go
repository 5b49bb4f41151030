package lro_test

import (
	"context"
	"testing"
	"time"

	"github.com/lrokit/lro"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

type startCtxKey struct{}

// TestStartContext pins how the work's context relates to Start's: it
// keeps the values, but neither the deadline nor the cancellation.
func TestStartContext(t *testing.T) {
	m := newManager(t)
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), startCtxKey{}, "alice"), time.Hour)
	startCancelled := make(chan struct{})
	op, err := m.Start(ctx, func(ctx context.Context, _ *lro.Op) (proto.Message, error) {
		<-startCancelled
		_, hasDeadline := ctx.Deadline()
		v, _ := ctx.Value(startCtxKey{}).(string)
		if ctx.Err() != nil || hasDeadline {
			return wrapperspb.String("cancelled or deadline"), nil
		}
		return wrapperspb.String(v), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	close(startCancelled)
	var got wrapperspb.StringValue
	if err := waitDone(t, m, op.GetName()).GetResponse().UnmarshalTo(&got); err != nil || got.GetValue() != "alice" {
		t.Errorf("work saw %q (%v); want the value of Start's context, and no deadline or cancellation", got.GetValue(), err)
	}
}
