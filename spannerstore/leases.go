package spannerstore

import (
	"context"
	"fmt"
	"log"
	"unicode/utf8"

	"cloud.google.com/go/spanner"
	"errors"
	"github.com/lrokit/lro"
)

// Owner leases live in lro_owners, one row per owner id. Every lease is
// judged by Spanner's clock: the statements compare with and compute from
// CURRENT_TIMESTAMP() inside read-write transactions, so the Manager's
// time (LeaseParams.Now, ClaimParams.Now) is ignored and a replica whose
// clock is off neither keeps a lease too long nor ends another's early.

// leaseEnd is the SQL for the end of a lease of @us microseconds from now.
const leaseEnd = `TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL @us MICROSECOND)`

// leaseParams are the statement parameters of p.
func leaseParams(p lro.LeaseParams) map[string]any {
	return map[string]any{"owner": p.Owner, "token": p.Token, "us": p.Lease.Microseconds()}
}

// checkOwner fails with INVALID_ARGUMENT unless owner and token can be stored.
func checkOwner(owner, token string) error {
	if owner == "" || !utf8.ValidString(owner) || !utf8.ValidString(token) {
		return invalid("the owner must be non-empty UTF-8 text, and its token UTF-8 text")
	}
	return nil
}

// RegisterOwner implements lro.Store in one read-write transaction: the id
// is taken unless another token holds a lease that has not run out by
// Spanner's clock, and then the error wraps lro.ErrOwnerTaken.
func (s *Store) RegisterOwner(ctx context.Context, p lro.LeaseParams) error {
	if err := checkOwner(p.Owner, p.Token); err != nil {
		return err
	}
	err := s.rw(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		_, err := tx.ReadRow(ctx, "lro_owners", spanner.Key{p.Owner}, []string{"owner"})
		if errors.Is(err, spanner.ErrRowNotFound) {
			_, err = tx.Update(ctx, spanner.Statement{
				SQL:    `INSERT INTO lro_owners (owner, token, lease_expire_time) VALUES (@owner, @token, ` + leaseEnd + `)`,
				Params: leaseParams(p),
			})
			return err
		}
		if err != nil {
			return err
		}
		n, err := tx.Update(ctx, spanner.Statement{
			SQL: `UPDATE lro_owners SET token = @token, lease_expire_time = ` + leaseEnd + `
WHERE owner = @owner AND (lease_expire_time < CURRENT_TIMESTAMP() OR token = @token)`,
			Params: leaseParams(p),
		})
		if err == nil && n == 0 {
			err = fmt.Errorf("spannerstore: registering owner %q: %w", p.Owner, lro.ErrOwnerTaken)
		}
		return err
	})
	if err != nil {
		return storeErr(fmt.Sprintf("registering owner %q", p.Owner), err)
	}
	return nil
}

// RenewLeases implements lro.Store with one UPDATE of one row, however
// many operations the owner runs.
func (s *Store) RenewLeases(ctx context.Context, p lro.LeaseParams) error {
	if checkOwner(p.Owner, p.Token) != nil {
		return fmt.Errorf("spannerstore: renewing the lease of %q: %w", p.Owner, lro.ErrLeaseLost)
	}
	var n int64
	err := s.rw(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		var err error
		n, err = tx.Update(ctx, spanner.Statement{
			SQL: `UPDATE lro_owners SET lease_expire_time = ` + leaseEnd + `
WHERE owner = @owner AND token = @token AND lease_expire_time >= CURRENT_TIMESTAMP()`,
			Params: leaseParams(p),
		})
		return err
	})
	if err != nil {
		return storeErr(fmt.Sprintf("renewing the lease of %q", p.Owner), err)
	}
	if n == 0 {
		return fmt.Errorf("spannerstore: renewing the lease of %q: %w", p.Owner, lro.ErrLeaseLost)
	}
	return nil
}

// ReleaseOwner implements lro.Store.
func (s *Store) ReleaseOwner(ctx context.Context, p lro.LeaseParams) error {
	if checkOwner(p.Owner, p.Token) != nil {
		return nil
	}
	err := s.rw(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		_, err := tx.Update(ctx, spanner.Statement{
			SQL:    `DELETE FROM lro_owners WHERE owner = @owner AND token = @token`,
			Params: leaseParams(p),
		})
		return err
	})
	if err != nil {
		return storeErr(fmt.Sprintf("releasing owner %q", p.Owner), err)
	}
	return nil
}

// claimSQL finds running operations whose owner holds no lease by
// Spanner's clock (it lapsed, was released, or was never registered).
const claimSQL = `SELECT ` + "%s" + ` FROM lro_operations@{FORCE_INDEX=lro_operations_owner_idx} o
LEFT JOIN lro_owners w ON w.owner = o.owner
WHERE o.done = false AND o.owner != '' AND o.owner != @me
	AND (w.owner IS NULL OR w.lease_expire_time < CURRENT_TIMESTAMP())
LIMIT @limit`

// ClaimExpired implements lro.Store in one read-write transaction: the
// leases are judged and the records taken under the same locks, so two
// claimers, or a claimer and the owner registering again, never both take
// a record. When it claims fewer than p.Limit, it also removes lapsed
// leases whose owners hold no running operation (a failure is only logged).
func (s *Store) ClaimExpired(ctx context.Context, p lro.ClaimParams) ([]*lro.Record, error) {
	if p.Limit <= 0 {
		return nil, nil
	}
	if err := checkOwner(p.Owner, ""); err != nil {
		return nil, err
	}
	cols := ""
	for i, c := range columns {
		if i > 0 {
			cols += ", "
		}
		cols += "o." + c
	}
	var out []*lro.Record
	err := s.rw(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		out = out[:0]
		var muts []*spanner.Mutation
		stmt := spanner.Statement{SQL: fmt.Sprintf(claimSQL, cols), Params: map[string]any{"me": p.Owner, "limit": int64(p.Limit)}}
		err := tx.Query(ctx, stmt).Do(func(r *spanner.Row) error {
			rec, err := scanRecord(r)
			if err != nil {
				return err
			}
			rec.Owner = p.Owner
			rec.Version++
			out = append(out, rec)
			muts = append(muts, partialUpdate(rec, []string{"name", "owner", "version"},
				[]any{rec.Operation.GetName(), rec.Owner, rec.Version}))
			return nil
		})
		if err != nil || len(muts) == 0 {
			return err
		}
		return tx.BufferWrite(muts)
	})
	if err != nil {
		return nil, storeErr("claiming the operations of lapsed owners", err)
	}
	if len(out) < p.Limit {
		if err := s.forgetLapsed(ctx); err != nil {
			log.Printf("spannerstore: removing lapsed owner leases: %v", err)
		}
	}
	evs := make([]lro.Event, len(out))
	for i, r := range out {
		evs[i] = eventOf(r)
	}
	s.notify(evs...)
	return out, nil
}

// forgetLapsed removes lapsed leases whose owners hold no running
// operation, so that replicas that died with random ids leave nothing.
func (s *Store) forgetLapsed(ctx context.Context) error {
	err := s.rw(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		_, err := tx.Update(ctx, spanner.Statement{SQL: `DELETE FROM lro_owners w
WHERE w.lease_expire_time < CURRENT_TIMESTAMP()
	AND NOT EXISTS (SELECT 1 FROM lro_operations o WHERE o.owner = w.owner AND o.done = false)`})
		return err
	})
	return err
}

// ListOwned implements lro.Store.
func (s *Store) ListOwned(ctx context.Context, q lro.OwnedQuery) ([]*lro.Record, error) {
	if q.Limit <= 0 || q.Owner == "" || !utf8.ValidString(q.Owner) || !utf8.ValidString(q.After) {
		return nil, nil
	}
	stmt := spanner.Statement{
		SQL: `SELECT ` + columnList + ` FROM lro_operations@{FORCE_INDEX=lro_operations_owner_idx}
WHERE owner = @owner AND done = false AND name > @after ORDER BY name LIMIT @limit`,
		Params: map[string]any{"owner": q.Owner, "after": q.After, "limit": int64(q.Limit)},
	}
	out, err := s.queryRecords(ctx, s.client.Single(), stmt)
	if err != nil {
		return nil, storeErr(fmt.Sprintf("listing the operations of %q", q.Owner), err)
	}
	return out, nil
}

// queryRecords runs a statement whose columns are columns.
func (s *Store) queryRecords(ctx context.Context, tx interface {
	Query(context.Context, spanner.Statement) *spanner.RowIterator
}, stmt spanner.Statement) ([]*lro.Record, error) {
	var out []*lro.Record
	err := tx.Query(ctx, stmt).Do(func(r *spanner.Row) error {
		rec, err := scanRecord(r)
		if err != nil {
			return err
		}
		out = append(out, rec)
		return nil
	})
	return out, err
}
