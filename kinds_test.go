package lro_test

import (
	"context"
	"strings"
	"testing"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestStartKindChecksTheRequestType(t *testing.T) {
	store := lro.NewMemoryStore()
	m := newManager(t, lro.WithStore(store))
	ctx := context.Background()
	if err := lro.Register(m, "export", exportHandler); err != nil {
		t.Fatal(err)
	}
	_, err := m.StartKind(ctx, "export", wrapperspb.Int32(7))
	wantCode(t, err, codes.InvalidArgument)
	msg := status.Convert(err).Message()
	for _, want := range []string{"google.protobuf.StringValue", "google.protobuf.Int32Value", `"export"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("StartKind with the wrong request type: message %q does not name %s", msg, want)
		}
	}
	if strings.Index(msg, "StringValue") > strings.Index(msg, "Int32Value") {
		t.Errorf("message %q: want the type the kind takes first, then the one given", msg)
	}
	if n := store.Len(); n != 0 {
		t.Errorf("a refused StartKind stored %d operations", n)
	}

	// An Any holding the right type is the request it holds.
	op, err := m.StartKind(ctx, "export", mustAny(t, wrapperspb.String("books")))
	if err != nil {
		t.Fatalf("StartKind with an Any holding the request: %v", err)
	}
	var resp wrapperspb.StringValue
	if err := waitDone(t, m, op.GetName()).GetResponse().UnmarshalTo(&resp); err != nil || resp.GetValue() != "books#1" {
		t.Errorf("response %q, %v; want books#1", resp.GetValue(), err)
	}
	_, err = m.StartKind(ctx, "export", mustAny(t, wrapperspb.Int32(7)))
	wantCode(t, err, codes.InvalidArgument)
}

// TestStoredRequestOfTheWrongType: a stored request the handler cannot
// take (written by another version of the service) ends the operation
// with a message naming the stored type, then the handler's.
func TestStoredRequestOfTheWrongType(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	store := lro.NewMemoryStore()
	m := newManager(t, lro.WithStore(store), lro.WithClock(clk), lro.WithOwner("survivor"))
	if err := lro.Register(m, "export", exportHandler); err != nil {
		t.Fatal(err)
	}
	orphan(t, store, "operations/wrongtype", "export", wrapperspb.Int32(7), false)
	rounds := make(chan struct{}, 10)
	lro.SetAfterMaintain(m, func() { rounds <- struct{}{} })
	clk.WaitForTimers(2, nil)
	clk.Advance(lro.DefaultLease / 3)
	<-rounds
	got := waitDone(t, m, "operations/wrongtype").GetError()
	want := "the stored request is a google.protobuf.Int32Value, but the handler takes a google.protobuf.StringValue"
	if codes.Code(got.GetCode()) != codes.Internal || !strings.Contains(got.GetMessage(), want) {
		t.Errorf("error %v, want INTERNAL containing %q", got, want)
	}
}
