package spannerstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"github.com/lrokit/lro/spannerstore"
	"github.com/lrokit/lro/spannerstore/internal/emulator"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
)

// The benchmarks run on the emulator, which is no performance proxy for
// Spanner: they check that the paths do the work they should (one
// transaction per write, one query per page), not how fast Spanner is.

func benchStore(b *testing.B) *spannerstore.Store {
	b.Helper()
	db := emulator.Database(b)
	ctx := context.Background()
	if err := spannerstore.Migrate(ctx, db.Admin, db.Client, db.Name); err != nil {
		b.Fatal(err)
	}
	s := spannerstore.New(db.Client, spannerstore.WithoutChangeStream())
	b.Cleanup(func() { s.Close() })
	return s
}

var benchTime = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// BenchmarkCreateFinish: Create, then the fenced Finish of one operation.
func BenchmarkCreateFinish(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		r := lrotest.NewRecord(fmt.Sprintf("projects/bench/operations/op%d", i), benchTime)
		r.Owner, r.Attempt = "me", 1
		if _, _, err := s.Create(ctx, r); err != nil {
			b.Fatal(err)
		}
		op := &longrunningpb.Operation{Name: r.Operation.GetName(), Done: true}
		if err := s.Finish(ctx, lro.FinishParams{Owner: "me", Attempt: 1, Operation: op, UpdateTime: benchTime, ExpireTime: benchTime.Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetList: Get of one operation, a List page of 50 of 500, and
// the listing of the 10 failed operations among the 500 by a filter
// pushed down (error:*, only the 10 rows read in full) and by one that is
// not (error.message:*, every row read in full for the Manager to match).
func BenchmarkGetList(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	const records = 500
	for i := range records {
		r := lrotest.NewRecord(fmt.Sprintf("projects/bench/operations/op%d", i), benchTime.Add(time.Duration(i)*time.Second))
		if i%50 == 0 { // 10 failed operations, for the filtered listings
			r.Operation.Done = true
			r.Operation.Result = &longrunningpb.Operation_Error{Error: &statuspb.Status{Code: 5, Message: "boom"}}
		}
		if _, _, err := s.Create(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("Get", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := s.Get(ctx, fmt.Sprintf("projects/bench/operations/op%d", i%records)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("List50", func(b *testing.B) {
		for b.Loop() {
			res, err := s.List(ctx, lro.ListQuery{Parent: "projects/bench", Limit: 50})
			if err != nil || len(res.Records) != 50 {
				b.Fatalf("List = %d records, %v", len(res.Records), err)
			}
		}
	})
	for name, src := range map[string]string{"ListFilterPushedDown": "error:*", "ListFilterInGo": "error.message:*"} {
		f, err := lro.ParseFilter(src, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				res, err := s.List(ctx, lro.ListQuery{Parent: "projects/bench", Limit: records, Filter: f})
				if err != nil || len(res.Records) < 10 {
					b.Fatalf("List(%q) = %d records, %v", src, len(res.Records), err)
				}
			}
		})
	}
}
