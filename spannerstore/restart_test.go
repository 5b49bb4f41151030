package spannerstore_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"github.com/lrokit/lro/spannerstore"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// watchCalls is a Store that reports every Watch call on watched.
type watchCalls struct {
	*spannerstore.Store
	watched chan string
}

func (w watchCalls) Watch(name string, fn func(lro.Event)) func() {
	stop := w.Store.Watch(name, fn)
	select {
	case w.watched <- name:
	default:
	}
	return stop
}

// TestStreamReaderRestartCatchesUp: the change stream reader of replica B
// fails (an injected query error) and is held down before it starts
// again; replica A finishes an operation B waits on meanwhile. B's poll is
// an hour away, so only the reader's catch-up after its restart can tell
// the waiter: the Wait returns, Notifying is false while the reader is
// down and true again once it caught up, and changes made after the
// restart flow through the stream again.
func TestStreamReaderRestartCatchesUp(t *testing.T) {
	_, db := newStore(t, spannerstore.WithoutChangeStream())
	var (
		fail      atomic.Bool
		hold      atomic.Bool
		held      = make(chan struct{}, 1)
		unhold    = make(chan struct{})
		unholdOne sync.Once
	)
	letGo := func() { unholdOne.Do(func() { close(unhold) }) }
	t.Cleanup(letGo) // before the stores close, even when the test fails
	hook := func(stage string) error {
		switch {
		case stage == "query" && fail.CompareAndSwap(true, false):
			return errors.New("injected: the partition query failed")
		case stage == "start" && hold.Load():
			held <- struct{}{}
			<-unhold
		}
		return nil
	}
	a := replica(t, db, spannerstore.WithPollInterval(time.Hour))
	bStore := replica(t, db, spannerstore.WithPollInterval(time.Hour), spannerstore.WithStreamHook(hook),
		spannerstore.WithLogf(t.Logf))
	b := watchCalls{bStore, make(chan string, 10)}
	mA := lrotest.NewManager(t, a, lro.WithOwner("replica-a"))
	mB := lrotest.NewManager(t, b, lro.WithOwner("replica-b"))
	waitNotifying(t, bStore)
	ctx := context.Background()

	release := make(chan struct{})
	op, err := mA.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		<-release
		return durationpb.New(time.Second), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		op  *longrunningpb.Operation
		err error
	}
	waited := make(chan result, 1)
	go func() {
		got, err := mB.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(time.Minute)})
		waited <- result{got, err}
	}()
	for <-b.watched != op.GetName() {
	}

	hold.Store(true)
	fail.Store(true)
	select {
	case <-held: // failed, and held before it starts again
	case <-time.After(30 * time.Second):
		t.Fatal("the reader did not fail and start again")
	}
	if bStore.Notifying() {
		t.Error("Notifying = true while the reader is down")
	}
	close(release)
	if got, err := mA.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: op.GetName(), Timeout: durationpb.New(time.Minute)}); err != nil || !got.GetDone() {
		t.Fatalf("WaitOperation on A = %v, %v; want done", got, err)
	}
	select {
	case r := <-waited:
		t.Fatalf("the Wait on B returned while its reader was down, with no poll: %v, %v", r.op, r.err)
	default:
	}
	hold.Store(false)
	letGo()
	select {
	case r := <-waited:
		if r.err != nil || !r.op.GetDone() {
			t.Errorf("WaitOperation on B = %v, %v; want done", r.op, r.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the Wait on B did not return after its reader caught up")
	}
	waitNotifying(t, bStore)

	// The stream flows again: a change made now reaches B's watcher.
	events := make(chan lro.Event, 10)
	stop := bStore.Watch(op.GetName(), func(ev lro.Event) { events <- ev })
	defer stop()
	if err := a.Delete(ctx, op.GetName()); err != nil {
		t.Fatal(err)
	}
	for timeout := time.After(30 * time.Second); ; {
		select {
		case ev := <-events:
			if ev.Deleted {
				return
			}
		case <-timeout:
			t.Fatal("a change after the restart did not reach B")
		}
	}
}
