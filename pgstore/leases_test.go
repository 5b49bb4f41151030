package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Owner leases on PostgreSQL: every lease judged by the database's clock.
// One live Manager per owner id, fenced completion and a replica that
// stops renewing or dies are scenarios of lrotest.TestReplicas (run by
// TestReplicas).

// offsetClock is the system clock shifted by d, as on a machine whose
// clock is wrong.
type offsetClock struct{ d time.Duration }

func (c offsetClock) Now() time.Time { return time.Now().Add(c.d) }

func (c offsetClock) NewTimer(d time.Duration) lro.Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }

// claimSignal is a Store that reports every ClaimExpired call on claims.
type claimSignal struct {
	*Store
	claims chan struct{}
}

func (c claimSignal) ClaimExpired(ctx context.Context, p lro.ClaimParams) ([]*lro.Record, error) {
	recs, err := c.Store.ClaimExpired(ctx, p)
	select {
	case c.claims <- struct{}{}:
	default:
	}
	return recs, err
}

// TestClockAheadDoesNotSteal: a replica whose clock runs 35 s ahead, with
// a lease far shorter than that, claims nothing from a healthy replica:
// leases are judged by the database's clock.
func TestClockAheadDoesNotSteal(t *testing.T) {
	t.Parallel()
	schema := freshSchema(t)
	mA := lrotest.NewManager(t, newStore(t, schema), lro.WithOwner("healthy"), lro.WithLease(3*time.Second))
	ahead := claimSignal{newStore(t, schema), make(chan struct{})}
	lrotest.NewManager(t, ahead, lro.WithOwner("ahead"), lro.WithClock(offsetClock{35 * time.Second}), lro.WithLease(300*time.Millisecond))

	started := make(chan struct{})
	cancelled := make(chan error, 1)
	release := make(chan struct{})
	op, err := mA.Start(context.Background(), func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		close(started)
		select {
		case <-release:
			return nil, nil
		case <-ctx.Done():
			cancelled <- context.Cause(ctx)
			return nil, ctx.Err()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer close(release)
	<-started
	for range 5 { // rounds of the replica whose clock is ahead
		<-ahead.claims
	}
	// Claiming directly with that clock's time takes nothing either.
	if recs, err := ahead.ClaimExpired(context.Background(), lro.ClaimParams{Owner: "ahead", Now: time.Now().Add(35 * time.Second), Limit: 10}); err != nil || len(recs) != 0 {
		t.Errorf("ClaimExpired with a clock 35 s ahead = %d records, %v; want none", len(recs), err)
	}
	select {
	case cause := <-cancelled:
		t.Fatalf("the healthy replica's work was cancelled: %v", cause)
	default:
	}
	rec, err := ahead.Get(context.Background(), op.GetName())
	if err != nil || rec.Owner != "healthy" || rec.Done() {
		t.Fatalf("the healthy replica's operation: %v, %v; want it still running there", rec, err)
	}
	// The replica ahead keeps its own lease too: its id is taken.
	if err := ahead.RegisterOwner(context.Background(), lro.LeaseParams{Owner: "ahead", Token: "other", Lease: time.Minute}); !errors.Is(err, lro.ErrOwnerTaken) {
		t.Errorf("registering the id of the replica ahead: %v; want ErrOwnerTaken", err)
	}
}

// TestMigrationKeepsOwners: after the upgrade to owner leases, the owners
// of running operations keep the leases their operations had.
func TestMigrationKeepsOwners(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := freshSchema(t)
	pool := newPool(t, schema, 4)
	if err := migrate(ctx, pool, 1); err != nil {
		t.Fatal(err)
	}
	insert := func(name, owner string, lease time.Duration, done bool) {
		t.Helper()
		op, err := proto.Marshal(&longrunningpb.Operation{Name: name, Done: done})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `INSERT INTO lro_operations (name, parent, create_time, update_time, owner,
			lease_expire_time, attempt, version, done, operation)
			VALUES ($1, '', now(), now(), $2, now() + $3 * interval '1 microsecond', 1, 1, $4, $5)`,
			name, owner, lease.Microseconds(), done, op); err != nil {
			t.Fatal(err)
		}
	}
	insert("operations/live-1", "live", time.Minute, false)
	insert("operations/live-2", "live", time.Hour, false)
	insert("operations/live-3", "live", -time.Hour, false)
	insert("operations/dead", "dead", -time.Minute, false)
	insert("operations/done", "done-owner", time.Hour, true)

	s := newStore(t, schema) // migrates the rest
	recs, err := s.ClaimExpired(ctx, lro.ClaimParams{Owner: "claimer", Limit: 10})
	if err != nil || len(recs) != 1 || recs[0].Operation.GetName() != "operations/dead" {
		t.Errorf("ClaimExpired after the upgrade = %v, %v; want just the dead owner's operation", recs, err)
	}
	var left time.Duration
	if err := pool.QueryRow(ctx, `SELECT extract(epoch FROM lease_expire_time - now()) * 1e6 FROM lro_owners WHERE owner = 'live'`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	// Scanned as microseconds into a Duration, which counts nanoseconds.
	if left = left * time.Microsecond / time.Nanosecond; left < 59*time.Minute || left > time.Hour {
		t.Errorf("the live owner's lease runs out in %v; want its latest operation's, about an hour", left)
	}
	_, err = lro.New(lro.WithStore(s), lro.WithOwner("live"))
	if !errors.Is(err, lro.ErrOwnerTaken) {
		t.Errorf("New with the id of an owner whose lease runs: %v; want ErrOwnerTaken", err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM lro_owners WHERE owner = 'done-owner'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("an owner of done operations only got %d leases (%v); want none", n, err)
	}
	lrotest.NewManager(t, s, lro.WithOwner("dead")) // a lapsed lease is free
}

// TestNotifiedOwner: events name the owner, unless it is too long to send.
func TestNotifiedOwner(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	ctx := context.Background()
	for i, tc := range []struct {
		owner, want string
	}{
		{"replica-b", "replica-b"},
		{strings.Repeat("é", maxNotifyOwner/2), strings.Repeat("é", maxNotifyOwner/2)},
		{strings.Repeat("x", maxNotifyOwner+1), ""},
	} {
		r := mustCreate(t, s, rec("", fmt.Sprint("owner-", i), 0))
		name := r.Operation.GetName()
		ch, stop := events(s, name)
		if _, err := s.Update(ctx, name, func(r *lro.Record) error { r.Owner = tc.owner; return nil }); err != nil {
			t.Fatal(err)
		}
		if got := waitEvent(t, ch, "owner change", func(lro.Event) bool { return true }); got != (lro.Event{Name: name, Owner: tc.want}) {
			t.Errorf("event after setting an owner of %d bytes: %+v; want owner %q", len(tc.owner), got, tc.want)
		}
		stop()
	}
}

// TestTakeoverNotifiedCancelsWork: when another replica takes an operation
// over, the notification names the new owner, and the replica that ran it
// cancels the work at once, though its own lease is fine.
func TestTakeoverNotifiedCancelsWork(t *testing.T) {
	t.Parallel()
	schema := freshSchema(t)
	// An hour between polls: only the notification can tell.
	a := newStore(t, schema, WithPollInterval(time.Hour))
	m := lrotest.NewManager(t, a, lro.WithOwner("first"))
	started := make(chan struct{})
	causes := make(chan error, 1)
	op, err := m.Start(context.Background(), func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		close(started)
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return nil, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	other := newStore(t, schema)
	if _, err := other.Update(context.Background(), op.GetName(), func(r *lro.Record) error { r.Owner = "second"; return nil }); err != nil {
		t.Fatal(err)
	}
	select {
	case cause := <-causes:
		if !errors.Is(cause, lro.ErrLeaseLost) || !strings.Contains(cause.Error(), `replica "second" took`) {
			t.Errorf("work ended with cause %v; want lro.ErrLeaseLost naming the new owner", cause)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the work was not cancelled when another replica took its operation over")
	}
}

// TestRestartedReplicaTakesBackItsWork: a replica restarted with the id of
// one that died takes the id over once its lease lapsed, and runs the
// registered work it left again.
func TestRestartedReplicaTakesBackItsWork(t *testing.T) {
	t.Parallel()
	schema := freshSchema(t)
	s := newStore(t, schema)
	r := leftByDeadReplica(t, s, "pod-0", nil)

	m := lrotest.NewManager(t, s, lro.WithOwner("pod-0"), lro.WithLease(3*time.Second)) // first round after 1 s, after Register
	if err := lro.Register(m, "echo", func(ctx context.Context, op *lro.Op, req *wrapperspb.StringValue) (proto.Message, error) {
		return wrapperspb.String(fmt.Sprint(req.GetValue(), "#", op.Attempt())), nil
	}); err != nil {
		t.Fatal(err)
	}
	done := lrotest.WaitDone(t, m, r.Operation.GetName())
	var got wrapperspb.StringValue
	if err := done.GetResponse().UnmarshalTo(&got); err != nil || got.GetValue() != "books#2" {
		t.Errorf("the work the id held ended with %v; want it run again as attempt 2", done.GetResult())
	}
}

// leftByDeadReplica records in s, as a replica called owner that died
// would leave it, a running operation of the registered kind "echo"
// (request "books", attempt 1) whose owner's lease has lapsed, after
// change, if not nil, has been applied to the record; it returns the
// record.
func leftByDeadReplica(t *testing.T, s *Store, owner string, change func(*lro.Record)) *lro.Record {
	t.Helper()
	if err := s.RegisterOwner(context.Background(), lro.LeaseParams{Owner: owner, Token: "dead", Lease: -time.Second}); err != nil {
		t.Fatal(err)
	}
	req, err := anypb.New(wrapperspb.String("books"))
	if err != nil {
		t.Fatal(err)
	}
	r := rec("", "left", 0)
	r.Owner, r.Kind, r.Request, r.Attempt = owner, "echo", req, 1
	if change != nil {
		change(r)
	}
	mustCreate(t, s, r)
	return r
}
