package pgstore

import (
	"context"
	"fmt"
	"slices"
	"sync"
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

// benchScaleStore returns a Store in a fresh schema holding n synthetic
// operations (see scaleOp), with a pool large enough for the scanners.
func benchScaleStore(b *testing.B, n int) *Store {
	b.Helper()
	s := benchStore(b)
	scaleLoad(b, s, 0, n)
	return s
}

// benchNoMatch are filters that match none of the synthetic operations:
// one PostgreSQL decides, one only Go can.
var benchNoMatch = map[string]string{
	"sql": "error.code = NOT_FOUND",
	"go":  "error.message:nomatch",
}

// BenchmarkListNoMatch lists the first page of a filter that matches
// nothing, at 20,000 and 200,000 operations, with the default scan budget:
// ns/op is one ListOperations call.
func BenchmarkListNoMatch(b *testing.B) {
	for _, n := range []int{20_000, 200_000} {
		s := benchScaleStore(b, n)
		for _, kind := range []string{"sql", "go"} {
			b.Run(fmt.Sprintf("ops=%d/%s", n, kind), func(b *testing.B) {
				m, err := lro.New(lro.WithStore(s))
				if err != nil {
					b.Fatal(err)
				}
				defer func() { _ = m.Close(context.Background()) }()
				req := &longrunningpb.ListOperationsRequest{Filter: benchNoMatch[kind], PageSize: 50}
				for b.Loop() {
					resp, err := m.ListOperations(context.Background(), req)
					if err != nil || len(resp.GetOperations()) != 0 || resp.GetNextPageToken() == "" {
						b.Fatalf("ListOperations = %d operations, token %q, %v; want none and a token", len(resp.GetOperations()), resp.GetNextPageToken(), err)
					}
				}
			})
		}
	}
}

// BenchmarkCreateGetBesideScans measures Create then Get on a store of
// 200,000 operations, alone and beside four clients that keep listing with
// a filter that matches nothing. It reports p50-ns and p99-ns of the pair
// (target p99 ≤ 20 ms beside the scans).
func BenchmarkCreateGetBesideScans(b *testing.B) {
	s := benchScaleStore(b, 200_000)
	for _, scanners := range []int{0, 4} {
		for _, kind := range []string{"sql", "go"} {
			if scanners == 0 && kind == "go" {
				continue
			}
			b.Run(fmt.Sprintf("scanners=%d/%s", scanners, kind), func(b *testing.B) {
				m, err := lro.New(lro.WithStore(s))
				if err != nil {
					b.Fatal(err)
				}
				defer func() { _ = m.Close(context.Background()) }()
				ctx := context.Background()
				stop := make(chan struct{})
				var wg sync.WaitGroup
				for range scanners {
					wg.Add(1)
					go func() {
						defer wg.Done()
						req := &longrunningpb.ListOperationsRequest{Filter: benchNoMatch[kind], PageSize: 50}
						for {
							select {
							case <-stop:
								return
							default:
							}
							if _, err := m.ListOperations(ctx, req); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				lat := make([]time.Duration, 0, b.N)
				for b.Loop() {
					t0 := time.Now()
					op, err := m.Create(ctx, lro.WithParent("projects/new"))
					if err == nil {
						_, err = m.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: op.GetName()})
					}
					lat = append(lat, time.Since(t0))
					if err != nil {
						b.Fatal(err)
					}
				}
				close(stop)
				wg.Wait()
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns")
				b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)]), "p99-ns")
			})
		}
	}
}
