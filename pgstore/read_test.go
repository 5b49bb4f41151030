package pgstore

import (
	"context"
	"errors"
	"testing"

	"github.com/lrokit/lro"
)

// TestReadBatch reads one batch by hand: each call gets its record, a
// missing one lro.ErrNotFound, and two calls for the same name get copies
// of it, not one record both could change.
func TestReadBatch(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	mustCreate(t, s, rec("p", "a", 0))
	mustCreate(t, s, rec("p", "b", 1))
	mk := func(name string) *readCall { return &readCall{req: name, out: make(chan readAnswer, 1)} }
	calls := []*readCall{mk("p/operations/a"), mk("p/operations/missing"), mk("p/operations/b"), mk("p/operations/a")}
	s.readBatch(calls)
	got := make([]readAnswer, len(calls))
	for i, c := range calls {
		got[i] = <-c.out
	}
	for _, i := range []int{0, 2, 3} {
		if got[i].err != nil || got[i].rec.Operation.GetName() != calls[i].req {
			t.Errorf("call %d (%s): %v, %v; want the record", i, calls[i].req, nameOf(got[i].rec), got[i].err)
		}
	}
	if !errors.Is(got[1].err, lro.ErrNotFound) {
		t.Errorf("missing record: %v; want ErrNotFound", got[1].err)
	}
	if got[0].rec == got[3].rec || got[0].rec.Operation == got[3].rec.Operation {
		t.Error("two calls for one name share a record")
	}
}

// TestGetAfterClose: Get still reads, alone, once the Store is closed, as
// long as the caller's pool is open.
func TestGetAfterClose(t *testing.T) {
	t.Parallel()
	pool := newPool(t, freshSchema(t), 4)
	s, err := New(context.Background(), pool, WithAutoMigrate())
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, rec("p", "a", 0))
	s.Close()
	if r, err := s.Get(context.Background(), "p/operations/a"); err != nil || r.Operation.GetName() != "p/operations/a" {
		t.Errorf("Get after Close: %v, %v; want the record", nameOf(r), err)
	}
	if _, err := s.Get(context.Background(), "p/operations/missing"); !errors.Is(err, lro.ErrNotFound) {
		t.Errorf("Get of a missing record after Close: %v; want ErrNotFound", err)
	}
}
