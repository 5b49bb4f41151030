package lrotest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lrokit/lro"
)

// The cases for the optional interfaces, each skipped when the store
// does not implement it: Finisher and CancelRequestLister.

func finisherOf(t *testing.T, s lro.Store) lro.Finisher {
	t.Helper()
	f, ok := s.(lro.Finisher)
	if !ok {
		t.Skipf("%T does not implement lro.Finisher", s)
	}
	return f
}

// doneOp is the final operation Finish stores for name.
func doneOp(t *testing.T, name string, md string) *longrunningpb.Operation {
	return &longrunningpb.Operation{
		Name:     name,
		Metadata: mustAny(t, wrapperspb.String(md)),
		Done:     true,
		Result:   &longrunningpb.Operation_Response{Response: mustAny(t, wrapperspb.Int64(7))},
	}
}

func testFinisher(t *testing.T, s lro.Store) {
	f := finisherOf(t, s)
	rec := fullRecord(t, "projects/p/operations/fin", at(0))
	rec.CancelRequested = true
	before := create(t, s, rec)
	events := make(chan lro.Event, 10)
	stop := s.Watch(rec.Operation.GetName(), func(ev lro.Event) { events <- ev })
	defer stop()

	op := doneOp(t, rec.Operation.GetName(), "final metadata")
	if err := f.Finish(t.Context(), lro.FinishParams{Owner: "owner-1", Attempt: 1, Operation: op, UpdateTime: at(time.Second), ExpireTime: at(time.Hour)}); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	got := get(t, s, rec.Operation.GetName())
	want := before.Clone()
	want.Operation = op
	want.UpdateTime = at(time.Second)
	want.ExpireTime = at(time.Hour)
	want.CancelRequested = false
	want.LeaseExpireTime = time.Time{}
	wantRecord(t, "after Finish", got, want)
	if got.Version <= before.Version {
		t.Errorf("Version %d after Finish, want more than %d", got.Version, before.Version)
	}
	select {
	case ev := <-events:
		if !ev.Done || ev.Deleted || ev.Name != rec.Operation.GetName() {
			t.Errorf("event after Finish: %+v", ev)
		}
	case <-time.After(WatchTimeout):
		t.Fatal("no event after Finish")
	}
	// The finished record is listed as done and expires.
	done := true
	wantNames(t, "List(Done) after Finish", list(t, s, lro.ListQuery{AllParents: true, Limit: 10, Done: &done}), []string{rec.Operation.GetName()})
	if n, err := s.DeleteExpired(t.Context(), at(time.Hour), 10); err != nil || n != 1 {
		t.Errorf("DeleteExpired after Finish = %d, %v; want 1", n, err)
	}
}

func testFinisherRefuses(t *testing.T, s lro.Store) {
	f := finisherOf(t, s)
	ctx := t.Context()
	other := create(t, s, fullRecord(t, "operations/other-owner", at(0)))
	if err := f.Finish(ctx, lro.FinishParams{Owner: "owner-2", Attempt: 1, Operation: doneOp(t, "operations/other-owner", "x"), UpdateTime: at(time.Second), ExpireTime: at(time.Hour)}); !errors.Is(err, lro.ErrNotOwner) {
		t.Errorf("Finish by another owner: %v, want ErrNotOwner", err)
	}
	wantRecord(t, "after a refused Finish", get(t, s, "operations/other-owner"), other)
	// A run that was superseded (the record was run again since) is refused too.
	if err := f.Finish(ctx, lro.FinishParams{Owner: "owner-1", Attempt: 2, Operation: doneOp(t, "operations/other-owner", "x"), UpdateTime: at(time.Second), ExpireTime: at(time.Hour)}); !errors.Is(err, lro.ErrNotOwner) {
		t.Errorf("Finish of another attempt: %v, want ErrNotOwner", err)
	}
	wantRecord(t, "after a Finish of another attempt", get(t, s, "operations/other-owner"), other)

	r := fullRecord(t, "operations/already-done", at(0))
	finish(t, r, at(time.Hour))
	done := create(t, s, r)
	if err := f.Finish(ctx, lro.FinishParams{Owner: "owner-1", Attempt: 1, Operation: doneOp(t, "operations/already-done", "x"), UpdateTime: at(time.Second), ExpireTime: at(2 * time.Hour)}); !errors.Is(err, lro.ErrNotOwner) {
		t.Errorf("Finish of a done record: %v, want ErrNotOwner", err)
	}
	wantRecord(t, "done record after a refused Finish", get(t, s, "operations/already-done"), done)

	if err := f.Finish(ctx, lro.FinishParams{Owner: "owner-1", Attempt: 1, Operation: doneOp(t, "operations/missing", "x"), UpdateTime: at(time.Second), ExpireTime: at(time.Hour)}); !errors.Is(err, lro.ErrNotFound) {
		t.Errorf("Finish of a missing record: %v, want ErrNotFound", err)
	}
}

func testFinisherConcurrent(t *testing.T, s lro.Store) {
	f := finisherOf(t, s)
	const n = 64
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("operations/conc-%02d", i)
		create(t, s, fullRecord(t, names[i], at(time.Duration(i)*time.Millisecond)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range 2 * n { // every record finished twice at once: once wins
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := f.Finish(t.Context(), lro.FinishParams{Owner: "owner-1", Attempt: 1, Operation: doneOp(t, names[i%n], fmt.Sprint("try ", i/n)), UpdateTime: at(time.Second), ExpireTime: at(time.Hour)})
			if err != nil && !errors.Is(err, lro.ErrNotOwner) {
				errs <- err
			}
			if err == nil {
				errs <- nil
			}
		}()
	}
	wg.Wait()
	close(errs)
	wins := 0
	for err := range errs {
		if err != nil {
			t.Fatalf("Finish: %v", err)
		}
		wins++
	}
	if wins != n {
		t.Errorf("%d Finish calls succeeded, want exactly one per record (%d)", wins, n)
	}
	for _, name := range names {
		if !get(t, s, name).Done() {
			t.Errorf("%s not done", name)
		}
	}
}

func testCancelRequestLister(t *testing.T, s lro.Store) {
	cl, ok := s.(lro.CancelRequestLister)
	if !ok {
		t.Skipf("%T does not implement lro.CancelRequestLister", s)
	}
	mk := func(name, owner string, cancel, done bool) {
		r := fullRecord(t, name, at(0))
		r.RequestID = ""
		r.Owner = owner
		r.CancelRequested = cancel
		if done {
			finish(t, r, at(time.Hour))
		}
		create(t, s, r)
	}
	mk("operations/a-cancel", "a", true, false)
	mk("operations/a-cancel-2", "a", true, false)
	mk("operations/a-running", "a", false, false)
	mk("operations/a-done", "a", true, true)
	mk("operations/b-cancel", "b", true, false)
	got, err := cl.ListCancelRequests(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if diff := cmp.Diff([]string{"operations/a-cancel", "operations/a-cancel-2"}, got); diff != "" {
		t.Errorf("ListCancelRequests(a) (-want +got):\n%s", diff)
	}
}
