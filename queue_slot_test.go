package lro_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"google.golang.org/protobuf/proto"
)

// heldFinish is a memory store whose first Finish waits until release is
// closed, after closing entered.
type heldFinish struct {
	*lro.MemoryStore
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (s *heldFinish) Finish(ctx context.Context, p lro.FinishParams) error {
	first := false
	s.once.Do(func() { first = true })
	if first {
		close(s.entered)
		<-s.release
	}
	return s.MemoryStore.Finish(ctx, p)
}

// TestSlotFreesWhenWorkReturns: with WithMaxRunning(1), queued work starts
// as soon as the running work returns, while its result is still being
// written; the limit counts work that runs, not the write of its result.
func TestSlotFreesWhenWorkReturns(t *testing.T) {
	s := &heldFinish{MemoryStore: lro.NewMemoryStore(), entered: make(chan struct{}), release: make(chan struct{})}
	m, err := lro.New(lro.WithStore(s), lro.WithMaxRunning(1))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	defer func() { _ = m.Close(ctx) }()
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(s.release) }) }
	defer release() // before Close, even when the test fails
	first := make(chan struct{})
	op1, err := m.Start(ctx, func(context.Context, *lro.Op) (proto.Message, error) { <-first; return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	second := make(chan struct{})
	op2, err := m.Start(ctx, func(context.Context, *lro.Op) (proto.Message, error) { close(second); return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	if r, err := s.Get(ctx, op2.GetName()); err != nil || !r.Queued() {
		t.Fatalf("the second operation is not queued behind the first: %+v, %v", r, err)
	}
	close(first)
	select {
	case <-s.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first operation's result was not written within 10s")
	}
	select {
	case <-second:
	case <-time.After(10 * time.Second):
		t.Fatal("the queued work did not start while the first result was being written")
	}
	release()
	for _, name := range []string{op1.GetName(), op2.GetName()} {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		op, err := m.WaitOperation(wctx, &longrunningpb.WaitOperationRequest{Name: name})
		cancel()
		if err != nil || !op.GetDone() {
			t.Fatalf("%s: %v, %v", name, op, err)
		}
	}
}
