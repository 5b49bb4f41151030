package pgstore

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// watchSignal is a Store that reports every Watch call on watched, so a
// test knows when a Manager has started waiting.
type watchSignal struct {
	*Store
	watched chan string
}

func (w watchSignal) Watch(name string, fn func(lro.Event)) func() {
	stop := w.Store.Watch(name, fn)
	select {
	case w.watched <- name:
	default:
	}
	return stop
}

// TestReplicas runs the shared multi-replica scenarios (lrotest.TestReplicas)
// on PostgreSQL: cross-replica Wait and Cancel, page tokens, orphans,
// owner ids, fenced completion, the queue (woken by notifications alone),
// a killed replica. An hour between polls: only a notification can wake a
// waiter or reach running work.
func TestReplicas(t *testing.T) {
	t.Parallel()
	lrotest.TestReplicas(t, func(t *testing.T) func(t *testing.T) lro.Store {
		schema := freshSchema(t)
		return func(t *testing.T) lro.Store { return newStore(t, schema, WithPollInterval(time.Hour)) }
	})
}

// TestWaitWhileListenerDown: while a replica's listener is down (here held
// between its reconnect and its catch-up), the store says its
// notifications do not flow, and the Manager's fallback re-read wakes a
// waiter whose operation another replica finished meanwhile; once the
// listener has caught up, notifications flow again.
func TestWaitWhileListenerDown(t *testing.T) {
	t.Parallel()
	schema := freshSchema(t)
	var hold atomic.Bool
	unhold := make(chan struct{})
	pids := make(chan uint32, 10)
	a := newStore(t, schema, WithPollInterval(time.Hour))
	bStore := newStore(t, schema, WithPollInterval(50*time.Millisecond), withConnectHook(func(pid uint32) {
		pids <- pid
		if hold.Load() {
			<-unhold
		}
	}))
	var unholdOnce sync.Once
	letGo := func() { unholdOnce.Do(func() { close(unhold) }) }
	t.Cleanup(letGo) // before the stores close, even when the test fails
	b := watchSignal{bStore, make(chan string, 10)}
	mA := lrotest.NewManager(t, a, lro.WithOwner("replica-a"))
	mB := lrotest.NewManager(t, b, lro.WithOwner("replica-b"))
	ctx := context.Background()
	first := <-pids

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
	if !bStore.Notifying() {
		t.Fatal("Notifying = false with the listener up")
	}

	hold.Store(true)
	var killed bool
	if err := a.pool.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, int32(first)).Scan(&killed); err != nil || !killed {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", first, killed, err)
	}
	select {
	case <-pids: // reconnected, and held before its catch-up
	case <-time.After(30 * time.Second):
		t.Fatal("the listener did not reconnect")
	}
	if bStore.Notifying() {
		t.Error("Notifying = true before the listener caught up")
	}
	close(release)
	select {
	case r := <-waited:
		if r.err != nil || !r.op.GetDone() {
			t.Errorf("WaitOperation while the listener was down = %v, %v; want done", r.op, r.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the waiter was not woken while the listener was down")
	}
	letGo()
	for deadline := time.Now().Add(30 * time.Second); !bStore.Notifying(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Notifying stayed false after the listener caught up")
		}
	}
}
