package pgstore

import (
	"context"
	"testing"

	"github.com/lrokit/lro"
)

// TestUpdateBatch writes one batch of Update writes by hand: a write is
// made when the row is still at the version it read, not when the row
// moved on or is gone; a name that comes twice writes alone; and a batch
// that fails as a whole (a request id taken) sends each to write alone.
func TestUpdateBatch(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c"} {
		mustCreate(t, s, rec("p", id, 0))
	}
	taken := rec("p", "taken", 0)
	taken.RequestID = "r1"
	mustCreate(t, s, taken)

	call := func(id string, read int64, edit func(*lro.Record)) *updateCall {
		r := rec("p", id, 1)
		r.CancelRequested = true
		if edit != nil {
			edit(r)
		}
		args, err := s.recordArgs(r, read+1)
		if err != nil {
			t.Fatal(err)
		}
		return &updateCall{req: &updateReq{name: r.Operation.GetName(), args: args[1:], read: read}, out: make(chan updateAnswer, 1)}
	}
	tests := []struct {
		what string
		call *updateCall
		want updateAnswer
	}{
		{"read version", call("a", 1, nil), updateAnswer{written: true}},
		{"stale version", call("b", 0, nil), updateAnswer{}},
		{"gone", call("gone", 1, nil), updateAnswer{}},
		{"name twice", call("a", 1, nil), updateAnswer{alone: true}},
	}
	calls := make([]*updateCall, len(tests))
	for i, tt := range tests {
		calls[i] = tt.call
	}
	s.updateBatch(calls)
	for _, tt := range tests {
		if got := <-tt.call.out; got != tt.want {
			t.Errorf("%s: answer %+v; want %+v", tt.what, got, tt.want)
		}
	}
	got, err := s.Get(ctx, "p/operations/a")
	if err != nil || got.Version != 2 || !got.CancelRequested {
		t.Errorf("Get(a) = version %d, cancel %v, %v; want version 2, cancelled", got.Version, got.CancelRequested, err)
	}

	// The request id of another record: the whole statement fails.
	bad := []*updateCall{call("b", 1, nil), call("c", 1, func(r *lro.Record) { r.RequestID = "r1" })}
	s.updateBatch(bad)
	for _, c := range bad {
		if got := <-c.out; got != (updateAnswer{alone: true}) {
			t.Errorf("%s in a failing batch: answer %+v; want alone", c.req.name, got)
		}
	}
	if got, err := s.Get(ctx, "p/operations/b"); err != nil || got.Version != 1 {
		t.Errorf("Get(b) after the failed batch = version %d, %v; want 1 (not written)", got.Version, err)
	}
}
