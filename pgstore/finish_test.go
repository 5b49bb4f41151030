package pgstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
)

// TestFinishPlan: finishSQL has a text of its own (so a prepared
// statement and plan of its own) for each plan generation, and a Store
// finishes with its generation's text.
func TestFinishPlan(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	seen := map[string]bool{}
	for g, text := range finishPlans {
		if seen[text] {
			t.Error("two generations share a text")
		}
		seen[text] = true
		s.plans.gen.Store(int32(g))
		if got := s.planned(context.Background(), finishPlans); got != text {
			t.Errorf("at generation %d, the Store finishes with %q", g, got)
		}
	}
}

// TestFinishEveryPlanGeneration: each generation's statement finishes an
// operation, and reading the tiny table's size does not move the Store's
// generation.
func TestFinishEveryPlanGeneration(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	ctx := context.Background()
	now := time.Now()
	for g := range planGens {
		name := fmt.Sprintf("operations/gen%d", g)
		if _, _, err := s.Create(ctx, &lro.Record{Operation: &longrunningpb.Operation{Name: name}, CreateTime: now, UpdateTime: now, Owner: "me"}); err != nil {
			t.Fatal(err)
		}
		s.plans.gen.Store(int32(g))
		s.plans.next.Store(0) // a size check is due
		if err := s.Finish(ctx, lro.FinishParams{Owner: "me", Operation: &longrunningpb.Operation{Name: name, Done: true},
			UpdateTime: now, ExpireTime: now.Add(time.Hour)}); err != nil {
			t.Fatalf("generation %d: Finish: %v", g, err)
		}
		if got, err := s.Get(ctx, name); err != nil || !got.Operation.GetDone() {
			t.Errorf("generation %d: Get = %v, %v; want it done", g, got, err)
		}
		if got := s.plans.gen.Load(); got != int32(g) {
			t.Errorf("generation %d: the Store moved to generation %d", g, got)
		}
	}
}
