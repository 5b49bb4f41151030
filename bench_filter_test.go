package lro_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

var (
	benchFilterOnce  sync.Once
	benchFilterStore *lro.MemoryStore
	benchFilterNow   time.Time
	benchFilterErr   error
)

// benchFilterFixture holds 100,000 operations whose metadata value runs
// 0..9, so "metadata.value = 3" selects one in ten; one in ten is also
// still running (done = false).
func benchFilterFixture(b *testing.B) (*lro.MemoryStore, time.Time) {
	benchFilterOnce.Do(func() {
		ctx := context.Background()
		clk := lrotest.NewClock(lrotest.Epoch)
		benchFilterStore = lro.NewMemoryStore()
		m, err := lro.New(lro.WithStore(benchFilterStore), lro.WithClock(clk))
		if err != nil {
			benchFilterErr = err
			return
		}
		defer func() { _ = m.Close(ctx) }()
		for i := range 100_000 {
			op, err := m.Create(ctx, lro.WithMetadata(wrapperspb.Int32(int32(i%10))))
			if err != nil {
				benchFilterErr = err
				return
			}
			if i%10 != 7 {
				if err := m.Complete(ctx, op.GetName(), wrapperspb.String("ok")); err != nil {
					benchFilterErr = err
					return
				}
			}
			clk.Advance(time.Microsecond)
		}
		benchFilterNow = clk.Now()
	})
	if benchFilterErr != nil {
		b.Fatal(benchFilterErr)
	}
	return benchFilterStore, benchFilterNow
}

// BenchmarkListFiltered lists the first 100 matches of a 10%-selective
// filter among 100,000 operations, against an unfiltered page of 100 in
// the same iteration: filtered-ns/op, plain-ns/op and filtered/plain.
// "metadata" unpacks each operation's metadata; "done" is pushed down to
// the store as a hint before any decoding.
func BenchmarkListFiltered(b *testing.B) {
	store, now := benchFilterFixture(b)
	for _, tc := range []struct{ name, filter string }{
		{"metadata", "metadata.value = 3"},
		{"done", "done = false"},
		{"spanner-style", "(metadata.@type = type.googleapis.com/google.protobuf.Int32Value) AND metadata.value >= 3 AND metadata.value < 4 AND NOT error:*"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			m, err := lro.New(lro.WithStore(store), lro.WithClock(lrotest.NewClock(now)))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = m.Close(context.Background()) })
			ctx := context.Background()
			list := func(filter string) time.Duration {
				t0 := time.Now()
				resp, err := m.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Filter: filter, PageSize: 100})
				d := time.Since(t0)
				if err != nil {
					b.Fatal(err)
				}
				if len(resp.GetOperations()) != 100 {
					b.Fatalf("filter %q: %d operations, want 100", filter, len(resp.GetOperations()))
				}
				return d
			}
			var filtered, plain time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%2 == 0 {
					filtered += list(tc.filter)
					plain += list("")
				} else {
					plain += list("")
					filtered += list(tc.filter)
				}
			}
			b.ReportMetric(float64(filtered)/float64(b.N), "filtered-ns/op")
			b.ReportMetric(float64(plain)/float64(b.N), "plain-ns/op")
			b.ReportMetric(float64(filtered)/float64(plain), "filtered/plain")
		})
	}
}
