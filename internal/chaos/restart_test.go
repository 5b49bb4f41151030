package chaos_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/pgstore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// testWriter sends log lines to t.Log, and tells leaseLost about every
// line that reports that the Manager lost its owner lease.
type testWriter struct {
	t         *testing.T
	leaseLost chan struct{}
}

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	if strings.Contains(string(p), `msg="lro: this replica lost its owner lease`) {
		select {
		case w.leaseLost <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// TestPostgresRestart stops the database under a Manager with running
// operations, for longer than its lease, and starts it again: during the
// outage Start, Get, List and Wait answer UNAVAILABLE; work that finishes
// during the outage has its result written once the database is back;
// work still running when the lease runs out is cancelled, since another
// replica could take it over, and its operation ends once, UNAVAILABLE;
// and everything carries on afterwards. It runs its own cluster, since it restarts it, and like the
// other PostgreSQL tests it runs only when LRO_TEST_DATABASE_URL is set.
func TestPostgresRestart(t *testing.T) {
	testURL(t)
	c := newCluster(t)
	c.start(t)

	const (
		lease = time.Second
		poll  = 250 * time.Millisecond
	)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	leaseLost := make(chan struct{}, 1)
	log := slog.New(slog.NewTextHandler(testWriter{t, leaseLost}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	store, err := pgstore.Open(ctx, c.url(), pgstore.WithAutoMigrate(), pgstore.WithPollInterval(poll), pgstore.WithLogger(log))
	if err != nil {
		t.Fatalf("pgstore.Open: %v", err)
	}
	defer store.Close()
	// A lease shorter than the outage: the Manager's lease runs out while
	// the database is down; it cancels its work, registers again
	// afterwards and ends what it held, without running its work twice.
	m, err := lro.New(lro.WithStore(store), lro.WithLease(lease), lro.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		if err := m.Close(cctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()

	// blocker returns work that runs until release is closed, then returns
	// resp (even if its context ended: its result stands as long as the
	// Manager still owns the operation); returned is closed as it returns.
	blocker := func(release, returned chan struct{}, resp string) lro.WorkFunc {
		return func(ctx context.Context, _ *lro.Op) (proto.Message, error) {
			defer close(returned)
			<-release
			return wrapperspb.String(resp), nil
		}
	}
	releaseDuring, returnedDuring := make(chan struct{}), make(chan struct{})
	during, err := m.Start(ctx, blocker(releaseDuring, returnedDuring, "during"))
	if err != nil {
		t.Fatal(err)
	}
	lostCause := make(chan error, 1)
	after, err := m.Start(ctx, func(ctx context.Context, _ *lro.Op) (proto.Message, error) {
		<-ctx.Done()
		lostCause <- context.Cause(ctx)
		return nil, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	external, err := m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}

	c.stop(t)

	// The outage: calls that need the database answer UNAVAILABLE.
	outage := []struct {
		name string
		call func(context.Context) error
	}{
		{"Start", func(ctx context.Context) error {
			_, err := m.Start(ctx, func(context.Context, *lro.Op) (proto.Message, error) { return nil, nil })
			return err
		}},
		{"Create", func(ctx context.Context) error { _, err := m.Create(ctx); return err }},
		{"Get", func(ctx context.Context) error {
			_, err := m.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: during.GetName()})
			return err
		}},
		{"List", func(ctx context.Context) error {
			_, err := m.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: "operations"})
			return err
		}},
		{"Wait", func(ctx context.Context) error {
			_, err := m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: during.GetName(), Timeout: durationpb.New(time.Second)})
			return err
		}},
		{"Cancel", func(ctx context.Context) error {
			_, err := m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: after.GetName()})
			return err
		}},
		{"Complete", func(ctx context.Context) error { return m.Complete(ctx, external.GetName(), wrapperspb.String("x")) }},
	}
	for _, tc := range outage {
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		err := tc.call(cctx)
		ccancel()
		if got := status.Code(err); got != codes.Unavailable {
			t.Errorf("%s during the outage: %v (code %v), want UNAVAILABLE", tc.name, err, got)
		}
	}

	// Work finishing during the outage: its result cannot be written now.
	close(releaseDuring)
	<-returnedDuring

	// Keep the database down until the lease has run out, which the
	// Manager reports in its log.
	select {
	case <-leaseLost:
	case <-ctx.Done():
		t.Fatal("the Manager did not report losing its owner lease during the outage")
	}

	c.start(t)

	// The pool finds out about its dead connections on use, so the first
	// calls after the restart could still fail (in practice none has);
	// poll until one succeeds, bounded by the test's deadline. This waits
	// for the external database to come back, not for the library.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for failures := 0; ; failures++ {
		_, err := m.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: during.GetName()})
		if err == nil {
			t.Logf("Get succeeded after the restart after %d failures", failures)
			break
		}
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("Get after the restart: %v, want success or UNAVAILABLE", err)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("Get still fails after the restart: %v", err)
		}
	}

	// The result written during the outage is retried and not lost.
	wantDone(ctx, t, m, during.GetName(), "during")

	// Work still running when the lease ran out was cancelled, and its
	// operation ended UNAVAILABLE once the Manager held its lease again.
	if cause := <-lostCause; !errors.Is(cause, lro.ErrLeaseLost) {
		t.Errorf("work running through the outage ended with cause %v, want lro.ErrLeaseLost", cause)
	}
	if op := waitDone(ctx, t, m, after.GetName()); codes.Code(op.GetError().GetCode()) != codes.Unavailable || !strings.Contains(op.GetError().GetMessage(), "lease") {
		t.Errorf("operation whose work ran through the outage: %v, want UNAVAILABLE saying its lease was lost", op.GetResult())
	}

	// Operations driven from elsewhere still complete.
	if err := m.Complete(ctx, external.GetName(), wrapperspb.String("external")); err != nil {
		t.Fatalf("Complete after the restart: %v", err)
	}
	wantDone(ctx, t, m, external.GetName(), "external")

	// New work starts, runs and can be cancelled.
	fresh, err := m.Start(ctx, func(context.Context, *lro.Op) (proto.Message, error) { return wrapperspb.String("fresh"), nil })
	if err != nil {
		t.Fatalf("Start after the restart: %v", err)
	}
	wantDone(ctx, t, m, fresh.GetName(), "fresh")
	running := make(chan struct{})
	cancellable, err := m.Start(ctx, func(ctx context.Context, _ *lro.Op) (proto.Message, error) {
		close(running)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	<-running
	if _, err := m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: cancellable.GetName()}); err != nil {
		t.Fatalf("Cancel after the restart: %v", err)
	}
	op := waitDone(ctx, t, m, cancellable.GetName())
	if got := codes.Code(op.GetError().GetCode()); got != codes.Canceled {
		t.Errorf("cancelled after the restart: %v, want CANCELLED", op.GetResult())
	}

	// Exactly one done write per operation: a finished record is never
	// rewritten by a retry.
	for _, name := range []string{during.GetName(), after.GetName(), external.GetName()} {
		r, err := store.Get(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if r.Owner != "" && r.Attempt != 1 {
			t.Errorf("%s: attempt %d, want 1 (the work ran once)", name, r.Attempt)
		}
	}
}

// waitDone waits until the operation is done and returns it.
func waitDone(ctx context.Context, t *testing.T, m *lro.Manager, name string) *longrunningpb.Operation {
	t.Helper()
	for {
		op, err := m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: name, Timeout: durationpb.New(30 * time.Second)})
		if err != nil {
			t.Fatalf("Wait %s: %v", name, err)
		}
		if op.GetDone() {
			return op
		}
		if ctx.Err() != nil {
			t.Fatalf("%s not done before the deadline", name)
		}
	}
}

// wantDone waits for the operation and checks it succeeded with want.
func wantDone(ctx context.Context, t *testing.T, m *lro.Manager, name, want string) {
	t.Helper()
	op := waitDone(ctx, t, m, name)
	var got wrapperspb.StringValue
	if err := op.GetResponse().UnmarshalTo(&got); err != nil || got.GetValue() != want {
		t.Errorf("%s: result %v (%v), want response %q", name, op.GetResult(), err, want)
	}
}
