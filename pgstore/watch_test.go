package pgstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lrokit/lro"
)

func TestWatchAcrossStores(t *testing.T) {
	t.Parallel()
	schema := freshSchema(t)
	a, b := newStore(t, schema), newStore(t, schema) // two replicas
	ctx := context.Background()
	name := mustCreate(t, a, rec("p", "w", 0)).Operation.GetName()

	chA, stopA := events(a, name)
	defer stopA()
	chB, stopB := events(b, name)
	defer stopB()

	steps := []struct {
		what   string
		change func() error
		want   lro.Event
	}{
		{"cancel requested on b", func() error {
			_, err := b.Update(ctx, name, func(r *lro.Record) error { r.CancelRequested = true; return nil })
			return err
		}, lro.Event{Name: name, CancelRequested: true}},
		{"done on a", func() error {
			_, err := a.Update(ctx, name, func(r *lro.Record) error { r.Operation.Done = true; return nil })
			return err
		}, lro.Event{Name: name, Done: true, CancelRequested: true}},
		{"deleted on b", func() error { return b.Delete(ctx, name) },
			lro.Event{Name: name, Done: true, CancelRequested: true, Deleted: true}},
	}
	for _, st := range steps {
		if err := st.change(); err != nil {
			t.Fatalf("%s: %v", st.what, err)
		}
		for _, ch := range []<-chan lro.Event{chA, chB} {
			if got := waitEvent(t, ch, st.what, func(lro.Event) bool { return true }); got != st.want {
				t.Errorf("%s: event %+v; want %+v", st.what, got, st.want)
			}
		}
	}
}

func TestWatchStop(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	ctx := context.Background()
	name := mustCreate(t, s, rec("", "stop", 0)).Operation.GetName()
	ch1, stop1 := events(s, name)
	ch2, stop2 := events(s, name)
	defer stop2()
	stop1()
	stop1() // idempotent
	if _, err := s.Update(ctx, name, func(r *lro.Record) error { r.Attempt = 1; return nil }); err != nil {
		t.Fatal(err)
	}
	// Both watchers are served by one dispatch, so once the second has its
	// event the first would have had its own.
	waitEvent(t, ch2, "second watcher", func(lro.Event) bool { return true })
	select {
	case ev := <-ch1:
		t.Errorf("stopped watcher got %+v", ev)
	default:
	}
}

func TestWatchLongName(t *testing.T) {
	t.Parallel()
	schema := freshSchema(t)
	a, b := newStore(t, schema), newStore(t, schema)
	ctx := context.Background()
	long := mustCreate(t, a, rec(strings.Repeat("p", 9000), "long", 0)).Operation.GetName()
	other := mustCreate(t, a, rec(strings.Repeat("q", 9000), "long", 0)).Operation.GetName()
	ch, stop := events(a, long)
	defer stop()
	chOther, stopOther := events(a, other)
	defer stopOther()
	if _, err := b.Update(ctx, long, func(r *lro.Record) error { r.Operation.Done = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if got := waitEvent(t, ch, "long name", func(lro.Event) bool { return true }); got != (lro.Event{Name: long, Done: true}) {
		t.Errorf("event for a %d-byte name %.20q..., done %v; want done for the %d-byte name %.20q...", len(got.Name), got.Name, got.Done, len(long), long)
	}
	select {
	case ev := <-chOther:
		t.Errorf("watcher of another long name got an event for %.20q...", ev.Name)
	default:
	}
}

func TestDeleteExpiredNotifies(t *testing.T) {
	t.Parallel()
	schema := freshSchema(t)
	a, b := newStore(t, schema), newStore(t, schema)
	r := rec("", "expiring", 0)
	r.Operation.Done = true
	r.ExpireTime = baseTime
	name := mustCreate(t, a, r).Operation.GetName()
	ch, stop := events(a, name)
	defer stop()
	if n, err := b.DeleteExpired(context.Background(), baseTime, 10); err != nil || n != 1 {
		t.Fatalf("DeleteExpired = %d, %v; want 1", n, err)
	}
	if got := waitEvent(t, ch, "expiry", func(lro.Event) bool { return true }); got != (lro.Event{Name: name, Done: true, Deleted: true}) {
		t.Errorf("event %+v; want a deletion", got)
	}
}

func TestListenerReconnects(t *testing.T) {
	t.Parallel()
	schema := freshSchema(t)
	pids := make(chan uint32, 10)
	// A short health interval also exercises the ping on idle timeouts.
	a := newStore(t, schema, withConnectHook(func(pid uint32) { pids <- pid }), withHealthInterval(20*time.Millisecond))
	b := newStore(t, schema)
	ctx := context.Background()
	name := mustCreate(t, b, rec("", "r", 0)).Operation.GetName()
	gone := mustCreate(t, b, rec("", "gone", 0)).Operation.GetName()
	ch, stop := events(a, name)
	defer stop()
	chGone, stopGone := events(a, gone)
	defer stopGone()

	first := <-pids
	for range 2 {
		old := a.listenerPID.Load()
		if old == 0 {
			old = first
		}
		var killed bool
		if err := b.pool.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, int32(old)).Scan(&killed); err != nil || !killed {
			t.Fatalf("pg_terminate_backend(%d) = %v, %v", old, killed, err)
		}
		// Changes made while the listener is down are reported after it
		// reconnects: the deletion of gone is one.
		if err := b.Delete(ctx, gone); err != nil && !errors.Is(err, lro.ErrNotFound) {
			t.Fatal(err)
		}
		select {
		case pid := <-pids:
			if pid == old {
				t.Fatalf("reconnected with the killed backend %d", pid)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the listener did not reconnect")
		}
		waitEvent(t, chGone, "deletion while disconnected", func(ev lro.Event) bool { return ev.Deleted })
		// The resync reports name as it is, not cancelled yet.
		waitEvent(t, ch, "resync after reconnecting", func(ev lro.Event) bool { return !ev.CancelRequested })
		// Notifications flow again: this one can only come from NOTIFY,
		// since the resync event was delivered before the change.
		if _, err := b.Update(ctx, name, func(r *lro.Record) error { r.CancelRequested = true; return nil }); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, ch, "notification after reconnecting", func(ev lro.Event) bool { return ev.CancelRequested })
		if _, err := b.Update(ctx, name, func(r *lro.Record) error { r.CancelRequested = false; return nil }); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, ch, "second notification", func(ev lro.Event) bool { return !ev.CancelRequested })
	}
}

func TestParsePayload(t *testing.T) {
	tests := []struct {
		in      string
		key     string
		ev      lro.Event
		wantErr bool
	}{
		{"0operations/a", "operations/a", lro.Event{}, false},
		{"1x", "x", lro.Event{Done: true}, false},
		{"3x", "x", lro.Event{Done: true, CancelRequested: true}, false},
		{"7x", "x", lro.Event{Done: true, CancelRequested: true, Deleted: true}, false},
		{"eabc", "\x00abc", lro.Event{Deleted: true}, false},
		{"83:abcx", "x", lro.Event{Owner: "abc"}, false},
		{"92:éy", "y", lro.Event{Done: true, Owner: "é"}, false},
		{"j1:aabc", "\x00abc", lro.Event{Done: true, Owner: "a"}, false},
		{"", "", lro.Event{}, true},
		{"8x", "", lro.Event{}, true},
		{"83:ab", "", lro.Event{}, true},
		{"80:x", "", lro.Event{}, true},
		{"803:abcx", "", lro.Event{}, true},
		{"zx", "", lro.Event{}, true},
	}
	for _, tt := range tests {
		key, ev, ok := parsePayload(tt.in)
		if ok == tt.wantErr || key != tt.key || ev != tt.ev {
			t.Errorf("parsePayload(%q) = %q, %+v, %v; want %q, %+v, %v", tt.in, key, ev, ok, tt.key, tt.ev, !tt.wantErr)
		}
	}
}
