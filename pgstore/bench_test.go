package pgstore

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// benchStore returns a Store with a pool large enough for RunParallel.
func benchStore(b *testing.B) *Store {
	b.Helper()
	pool := newPool(b, freshSchema(b), 16)
	s, err := New(context.Background(), pool, WithAutoMigrate())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	return s
}

// BenchmarkCreateComplete measures the write path of one operation: Create,
// then an Update that finishes it (and notifies).
func BenchmarkCreateComplete(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	resp, _ := anypb.New(durationpb.New(time.Second))
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := rec("projects/bench", fmt.Sprint("op", n.Add(1)), 0)
			if _, _, err := s.Create(ctx, r); err != nil {
				b.Error(err)
				return
			}
			_, err := s.Update(ctx, r.Operation.GetName(), func(r *lro.Record) error {
				r.Operation.Done = true
				r.Operation.Result = &longrunningpb.Operation_Response{Response: resp}
				r.ExpireTime = baseTime.Add(time.Hour)
				return nil
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkGet measures Get of existing operations, serially (latency) and
// in parallel (throughput).
func BenchmarkGet(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	const records = 1000
	for i := range records {
		mustCreate(b, s, rec("projects/bench", fmt.Sprint("op", i), i))
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := s.Get(ctx, fmt.Sprintf("projects/bench/operations/op%d", i%records)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		var n atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Get(ctx, fmt.Sprintf("projects/bench/operations/op%d", n.Add(1)%records)); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	})
}
