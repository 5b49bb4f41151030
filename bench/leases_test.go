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
// runs n operations. The Manager renews every third of its lease.
//
//   - owner: RenewLeases as pgstore does it, one UPDATE of the replica's
//     row in lro_owners, whatever n.
//   - per-row-before: on the same data, the statement pgstore ran before
//     leases moved to owners (schema version 1), which rewrote every
//     running operation's row, with the two indexes on lease_expire_time
//     that it had to keep up to date.
func BenchmarkRenewLeases(b *testing.B) {
	url := dbURL(b)
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("running=%d", n), func(b *testing.B) {
			schema := freshSchema(b, url)
			s := newStore(b, url, schema, 4)
			ctx := context.Background()
			lease := lro.LeaseParams{Owner: "me", Token: "bench", Lease: time.Minute}
			if err := s.RegisterOwner(ctx, lease); err != nil {
				b.Fatal(err)
			}
			now := time.Now().UTC().Truncate(time.Microsecond)
			// One through the Store, so the row layout is its own.
			if _, _, err := s.Create(ctx, &lro.Record{
				Operation:  &longrunningpb.Operation{Name: "operations/run00000000"},
				CreateTime: now,
				UpdateTime: now,
				Owner:      "me",
				Attempt:    1,
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
			if _, err := s.Pool().Exec(ctx, `VACUUM ANALYZE lro_operations`); err != nil {
				b.Fatal(err)
			}
			b.Run("owner", func(b *testing.B) {
				for range b.N {
					if err := s.RenewLeases(ctx, lease); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("per-row-before", func(b *testing.B) {
				if _, err := s.Pool().Exec(ctx, `
					CREATE INDEX IF NOT EXISTS bench_lease_idx ON lro_operations (owner, lease_expire_time) WHERE NOT done;
					CREATE INDEX IF NOT EXISTS bench_orphan_idx ON lro_operations (lease_expire_time) WHERE NOT done AND owner <> ''`); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for range b.N {
					tag, err := s.Pool().Exec(ctx, `UPDATE lro_operations o SET lease_expire_time = $2, version = o.version + 1
FROM (SELECT name FROM lro_operations WHERE owner = $1 AND NOT done ORDER BY name FOR UPDATE SKIP LOCKED) l
WHERE o.name = l.name`, "me", time.Now().Add(time.Minute))
					if err != nil || tag.RowsAffected() != int64(n) {
						b.Fatalf("renewed %d rows (%v), want %d", tag.RowsAffected(), err, n)
					}
				}
			})
		})
	}
}
