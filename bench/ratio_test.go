package bench

import (
	"context"
	"testing"
	"time"

	"github.com/lrokit/lro"
	"google.golang.org/protobuf/proto"
)

// ratioChunk is how many operations (and jobs) each turn of
// BenchmarkStartToDoneRatio runs.
const ratioChunk = 10000

// BenchmarkStartToDoneRatio runs River and lro in rotating turns of 10000 no-op operations (jobs) each, 32 concurrent starters, on
// the same database, and reports the throughputs and their ratios to River
// (lro/river: the target is ≥ 1.5). Taking turns in one run, rather than
// one side after the other, keeps the load other tenants of the machine put
// on it from favouring either. Each turn is timed until its last operation
// is done, so a side's tail latency counts; turns of 10000 keep that
// small. Use -benchtime with a multiple of 10000x, such as 30000x.
func BenchmarkStartToDoneRatio(b *testing.B) {
	url := dbURL(b)
	ctx := context.Background()

	// lro: one store; a fresh Manager per turn (managerTurn).
	store := newStore(b, url, freshSchema(b, url), poolConns)
	lroTurn := func(store lro.Store) func(n int) time.Duration {
		return func(n int) time.Duration { return managerTurn(b, store, n) }
	}

	// River: one client; a turn ends when its jobs' completion events
	// have all arrived.
	client, events := startRiver(b, url, 10*ratioChunk)
	riverTurn := func(n int) time.Duration {
		began := time.Now()
		startN(b, n, func() error {
			_, err := client.Insert(ctx, noopArgs{}, nil)
			return err
		})
		timeout := time.NewTimer(time.Minute)
		defer timeout.Stop()
		for range n {
			select {
			case <-events:
			case <-timeout.C:
				b.Fatal("River did not complete its jobs within a minute")
			}
		}
		return time.Since(began)
	}

	sides := []struct {
		name string
		turn func(n int) time.Duration
		took time.Duration
	}{
		{name: "river", turn: riverTurn},
		{name: "lro", turn: lroTurn(store)},
	}
	done := 0
	b.ResetTimer()
	for turn := 0; done < b.N; turn++ {
		n := min(b.N-done, ratioChunk)
		done += n
		// Rotate who goes first.
		for i := range sides {
			s := &sides[(turn+i)%len(sides)]
			s.took += s.turn(n)
		}
	}
	b.StopTimer()
	rate := func(i int) float64 { return float64(b.N) / sides[i].took.Seconds() }
	b.ReportMetric(rate(0), "river-jobs/s")
	b.ReportMetric(rate(1), "lro-jobs/s")
	b.ReportMetric(rate(1)/rate(0), "lro/river")
	b.ReportMetric(0, "ns/op")
}

// managerTurn starts n no-op operations on a fresh Manager on store and
// returns how long they took to be done: Close waits for the work and its
// completion writes.
func managerTurn(b *testing.B, store lro.Store, n int) time.Duration {
	ctx := context.Background()
	m, err := lro.New(lro.WithStore(store), lro.WithLogger(quiet))
	if err != nil {
		b.Fatal(err)
	}
	noop := func(context.Context, *lro.Op) (proto.Message, error) { return nil, nil }
	began := time.Now()
	startN(b, n, func() error {
		_, err := m.Start(ctx, noop)
		return err
	})
	if err := m.Close(ctx); err != nil {
		b.Fatal(err)
	}
	return time.Since(began)
}
