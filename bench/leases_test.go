package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
)

// BenchmarkRenewLeases measures one lease renewal round of a replica that
// runs n operations: pgstore rewrites every one of their rows. The Manager
// renews every min(lease/3, PollInterval), that is every second with the
// defaults (30 s lease, 1 s poll interval).
func BenchmarkRenewLeases(b *testing.B) {
	url := dbURL(b)
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("running=%d", n), func(b *testing.B) {
			schema := freshSchema(b, url)
			s := newStore(b, url, schema, 4)
			ctx := context.Background()
			now := time.Now().UTC().Truncate(time.Microsecond)
			// One through the Store, so the row layout is its own.
			if _, _, err := s.Create(ctx, &lro.Record{
				Operation:       &longrunningpb.Operation{Name: "operations/run00000000"},
				CreateTime:      now,
				UpdateTime:      now,
				Owner:           "me",
				LeaseExpireTime: now.Add(time.Minute),
				Attempt:         1,
			}); err != nil {
				b.Fatal(err)
			}
			// The rest as copies of the first, in one statement.
			if _, err := s.Pool().Exec(ctx, `INSERT INTO lro_operations
				SELECT 'operations/run' || lpad(g::text, 8, '0'), parent, create_time, update_time, expire_time, '',
					cancel_requested, owner, lease_expire_time, kind, request, attempt, version, done, operation
				FROM lro_operations, generate_series(1, $1) g WHERE name = 'operations/run00000000'`, n-1); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				got, err := s.RenewLeases(ctx, "me", time.Now().Add(time.Minute))
				if err != nil || got != n {
					b.Fatalf("renewed %d (%v), want %d", got, err, n)
				}
			}
		})
	}
}
