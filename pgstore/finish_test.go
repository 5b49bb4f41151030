package pgstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
)

// TestFinishPlan: finishSQL gets a new text (so a new prepared statement and
// plan) at 4,096 finished operations and each time they grow fourfold, up
// to finishPlanGens texts.
func TestFinishPlan(t *testing.T) {
	tests := []struct {
		finished int64
		gen      int
	}{
		{0, 0}, {4095, 0}, {4096, 1}, {16383, 1}, {16384, 2}, {65536, 3}, {262144, 4},
		{1 << 20, 5}, {1 << 40, 5},
	}
	for _, tt := range tests {
		if got := finishPlan(tt.finished); got != finishPlans[tt.gen] {
			t.Errorf("finishPlan(%d) is not generation %d", tt.finished, tt.gen)
		}
	}
	seen := map[string]bool{}
	for _, text := range finishPlans {
		if seen[text] {
			t.Error("two generations share a text")
		}
		seen[text] = true
	}
}

// TestFinishEveryPlanGeneration: each generation's statement finishes an
// operation, and the Store counts what its batches finished.
func TestFinishEveryPlanGeneration(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	ctx := context.Background()
	now := time.Now()
	for g, n := range []int64{0, 4096, 16384, 65536, 262144, 1 << 20} {
		name := fmt.Sprintf("operations/gen%d", g)
		if _, _, err := s.Create(ctx, &lro.Record{Operation: &longrunningpb.Operation{Name: name}, CreateTime: now, UpdateTime: now, Owner: "me"}); err != nil {
			t.Fatal(err)
		}
		s.finished.Store(n)
		if err := s.Finish(ctx, lro.FinishParams{Owner: "me", Operation: &longrunningpb.Operation{Name: name, Done: true},
			UpdateTime: now, ExpireTime: now.Add(time.Hour)}); err != nil {
			t.Fatalf("generation %d: Finish: %v", g, err)
		}
		if got, err := s.Get(ctx, name); err != nil || !got.Operation.GetDone() {
			t.Errorf("generation %d: Get = %v, %v; want it done", g, got, err)
		}
		if got := s.finished.Load(); got != n+1 {
			t.Errorf("generation %d: finished %d; want %d", g, got, n+1)
		}
	}
}
