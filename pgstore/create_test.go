package pgstore

import (
	"context"
	"errors"
	"testing"

	"github.com/lrokit/lro"
)

// TestCreateBatch writes one batch by hand: a record is inserted unless its
// name or its parent and request id are taken, by a stored record or by an
// earlier record of the same batch; a name that comes twice is sent to be
// inserted alone.
func TestCreateBatch(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	ctx := context.Background()
	stored := rec("p", "stored", 0)
	stored.RequestID = "taken"
	mustCreate(t, s, stored)

	withID := func(r *lro.Record, id string) *lro.Record { r.RequestID = id; return r }
	tests := []struct {
		what string
		rec  *lro.Record
		want createAnswer
	}{
		{"new", rec("p", "a", 1), createAnswer{inserted: true}},
		{"stored name", rec("p", "stored", 1), createAnswer{}},
		{"stored request id", withID(rec("p", "b", 1), "taken"), createAnswer{}},
		{"new request id", withID(rec("p", "c", 1), "r1"), createAnswer{inserted: true}},
		{"request id earlier in the batch", withID(rec("p", "d", 1), "r1"), createAnswer{}},
		{"name earlier in the batch", rec("p", "a", 2), createAnswer{alone: true}},
		{"request id of another parent", withID(rec("q", "e", 1), "r1"), createAnswer{inserted: true}},
	}
	calls := make([]*createCall, len(tests))
	for i, tt := range tests {
		args, err := s.recordArgs(tt.rec, 1)
		if err != nil {
			t.Fatal(err)
		}
		calls[i] = &createCall{req: &createReq{name: tt.rec.Operation.GetName(), args: args[1:]}, out: make(chan createAnswer, 1)}
	}
	s.createBatch(calls)
	for i, tt := range tests {
		if got := <-calls[i].out; got != tt.want {
			t.Errorf("%s: answer %+v; want %+v", tt.what, got, tt.want)
		}
	}
	// The records read back as inserted, and Create then resolves the
	// conflicts of the others as it does alone.
	for _, name := range []string{"p/operations/a", "p/operations/c", "q/operations/e"} {
		if _, err := s.Get(ctx, name); err != nil {
			t.Errorf("Get(%q): %v", name, err)
		}
	}
	got, created, err := s.Create(ctx, withID(rec("p", "d", 1), "r1"))
	if err != nil || created || got.Operation.GetName() != "p/operations/c" {
		t.Errorf("Create(d with r1) = %v, created %v, %v; want p/operations/c, not created", nameOf(got), created, err)
	}
	if _, _, err := s.Create(ctx, rec("p", "a", 2)); !errors.Is(err, lro.ErrAlreadyExists) {
		t.Errorf("Create(a again) = %v; want ErrAlreadyExists", err)
	}
}

// TestCreateBatchStatementFails: when the batch statement fails, each of
// its calls is sent to insert alone, so that one bad record cannot fail
// the others; a batch of one gets the error.
func TestCreateBatchStatementFails(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	mk := func(id string) *createCall {
		args, err := s.recordArgs(rec("p", id, 0), 1)
		if err != nil {
			t.Fatal(err)
		}
		return &createCall{req: &createReq{name: "p/operations/" + id, args: args[1:]}, out: make(chan createAnswer, 1)}
	}
	two := []*createCall{mk("a"), mk("b")}
	// Break the batch with a record PostgreSQL refuses: an operation
	// column of NULL.
	two[1].req.args[14] = []byte(nil)
	s.createBatch(two)
	for _, c := range two {
		if got := <-c.out; got != (createAnswer{alone: true}) {
			t.Errorf("%s: answer %+v; want alone", c.req.name, got)
		}
	}
	one := []*createCall{two[1]}
	one[0].out = make(chan createAnswer, 1)
	s.createBatch(one)
	if got := <-one[0].out; got.err == nil {
		t.Errorf("batch of one: answer %+v; want its error", got)
	}
}

// nameOf is r's operation name, or "" for no record.
func nameOf(r *lro.Record) string {
	if r == nil {
		return ""
	}
	return r.Operation.GetName()
}
