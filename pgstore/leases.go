package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/lrokit/lro"
)

// Owner leases live in lro_owners, one row per owner id: a running
// operation's lease is its owner's. Renewing is one UPDATE of one row,
// whatever the number of running operations. Every lease is judged by the
// database's clock, now(): the Manager's time (LeaseParams.Now,
// ClaimParams.Now) is ignored, so a replica whose clock is off neither
// keeps a lease too long nor ends another's early.

// leaseExpr is the SQL for the end of a lease of $3 microseconds from now.
const leaseExpr = `now() + $3 * interval '1 microsecond'`

var (
	// registerSQL takes the id unless another token holds an unexpired
	// lease on it; it returns a row when it did.
	registerSQL = `INSERT INTO lro_owners AS w (owner, token, lease_expire_time) VALUES ($1, $2, ` + leaseExpr + `)
ON CONFLICT (owner) DO UPDATE SET token = excluded.token, lease_expire_time = excluded.lease_expire_time
WHERE w.lease_expire_time < now() OR w.token = excluded.token
RETURNING true`

	renewSQL = `UPDATE lro_owners SET lease_expire_time = ` + leaseExpr + `
WHERE owner = $1 AND token = $2 AND lease_expire_time >= now()`

	releaseSQL = `DELETE FROM lro_owners WHERE owner = $1 AND token = $2`

	// claimSQL claims the running operations whose owner holds no lease.
	// It finds the owners of running operations with a skip scan of
	// lro_operations_owner_idx (one index probe per owner; '' sorts first
	// under the "C" collation and is skipped), keeps those whose lease
	// lapsed or who have none, and claims up to $2 of their operations for
	// $3, found through the same index. The lapsed leases are share-locked: an owner that
	// registers again waits for the claim, or the claim skips it, so the
	// two never both take an operation. Concurrent claimers skip each
	// other's operations.
	claimSQL = `WITH RECURSIVE running(owner) AS (
	SELECT min(owner) FROM lro_operations WHERE NOT done AND owner > ''
	UNION ALL
	SELECT (SELECT min(o.owner) FROM lro_operations o WHERE NOT o.done AND o.owner > r.owner)
	FROM running r WHERE r.owner IS NOT NULL),
lapsed AS MATERIALIZED (
	SELECT w.owner FROM lro_owners w
	WHERE w.lease_expire_time < now() AND w.owner IN (SELECT owner FROM running)
	FOR SHARE OF w SKIP LOCKED),
orphaned AS MATERIALIZED (
	SELECT owner FROM lapsed
	UNION
	SELECT r.owner FROM running r
	WHERE r.owner IS NOT NULL AND NOT EXISTS (SELECT 1 FROM lro_owners w WHERE w.owner = r.owner)),
victim AS (
	SELECT v.name FROM orphaned x CROSS JOIN LATERAL (
		SELECT o.name FROM lro_operations o
		WHERE o.owner = x.owner AND NOT o.done
		LIMIT $2
		FOR UPDATE OF o SKIP LOCKED) v
	WHERE x.owner <> $3
	LIMIT $2),
upd AS (
	UPDATE lro_operations o SET owner = $3, version = o.version + 1
	FROM victim WHERE o.name = victim.name
	RETURNING o.*)
SELECT ` + columns + `, ` + notifyExpr("upd", false) + ` FROM upd`

	// forgetSQL removes lapsed leases whose owners hold no running
	// operation, so that replicas that died with random ids leave nothing
	// behind.
	forgetSQL = `DELETE FROM lro_owners w USING (
	SELECT owner FROM lro_owners WHERE lease_expire_time < now()
	ORDER BY lease_expire_time LIMIT 100
	FOR UPDATE SKIP LOCKED) l
WHERE w.owner = l.owner
	AND NOT EXISTS (SELECT 1 FROM lro_operations o WHERE o.owner = w.owner AND NOT o.done)`

	listOwnedSQL = `SELECT ` + columns + ` FROM lro_operations
WHERE owner = $1 AND NOT done AND name > $2
ORDER BY name LIMIT $3`
)

// checkOwner fails with INVALID_ARGUMENT unless owner and token can be
// stored.
func checkOwner(owner, token string) error {
	if owner == "" || !validText(owner) || !validText(token) {
		return invalid("the owner must be non-empty UTF-8 text without NUL bytes, and its token UTF-8 text without NUL bytes")
	}
	return nil
}

// RegisterOwner implements lro.Store, judging leases by now().
func (s *Store) RegisterOwner(ctx context.Context, p lro.LeaseParams) error {
	if err := checkOwner(p.Owner, p.Token); err != nil {
		return err
	}
	var took bool
	err := s.pool.QueryRow(ctx, registerSQL, p.Owner, p.Token, p.Lease.Microseconds()).Scan(&took)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("pgstore: registering owner %q: %w", p.Owner, lro.ErrOwnerTaken)
	case err != nil:
		return storeErr(fmt.Sprintf("registering owner %q", p.Owner), err)
	}
	return nil
}

// RenewLeases implements lro.Store, judging leases by now(): it writes one
// row, and sends no notification, since no operation changes.
func (s *Store) RenewLeases(ctx context.Context, p lro.LeaseParams) error {
	if checkOwner(p.Owner, p.Token) != nil {
		return fmt.Errorf("pgstore: renewing the lease of %q: %w", p.Owner, lro.ErrLeaseLost)
	}
	tag, err := s.pool.Exec(ctx, renewSQL, p.Owner, p.Token, p.Lease.Microseconds())
	if err != nil {
		return storeErr(fmt.Sprintf("renewing the lease of %q", p.Owner), err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgstore: renewing the lease of %q: %w", p.Owner, lro.ErrLeaseLost)
	}
	return nil
}

// ReleaseOwner implements lro.Store.
func (s *Store) ReleaseOwner(ctx context.Context, p lro.LeaseParams) error {
	if checkOwner(p.Owner, p.Token) != nil {
		return nil
	}
	if _, err := s.pool.Exec(ctx, releaseSQL, p.Owner, p.Token); err != nil {
		return storeErr(fmt.Sprintf("releasing owner %q", p.Owner), err)
	}
	return nil
}

// ClaimExpired implements lro.Store, judging leases by now(). Concurrent
// claimers skip each other's rows, so no record is given to two of them.
// When it finds fewer than p.Limit records to claim, it also removes
// lapsed leases whose owners hold no running operation (a failure to do so
// is only logged).
func (s *Store) ClaimExpired(ctx context.Context, p lro.ClaimParams) ([]*lro.Record, error) {
	if p.Limit <= 0 {
		return nil, nil
	}
	if err := checkOwner(p.Owner, ""); err != nil {
		return nil, err
	}
	// The last column is pg_notify's (void) result.
	out, err := queryRows(ctx, s.pool, recordRow(nil), claimSQL, s.channel, p.Limit, p.Owner)
	if err != nil {
		return nil, storeErr("claiming the operations of lapsed owners", err)
	}
	if len(out) < p.Limit {
		if _, err := s.pool.Exec(ctx, forgetSQL); err != nil {
			// The claimed records are the caller's now: return them.
			s.logger.Warn("pgstore: removing lapsed owner leases", "error", err)
		}
	}
	return out, nil
}

// ListOwned implements lro.Store.
func (s *Store) ListOwned(ctx context.Context, q lro.OwnedQuery) ([]*lro.Record, error) {
	if q.Limit <= 0 || q.Owner == "" || !validText(q.Owner) || !validText(q.After) {
		return nil, nil
	}
	out, err := queryRows(ctx, s.pool, recordRow(), listOwnedSQL, q.Owner, q.After, q.Limit)
	if err != nil {
		return nil, storeErr(fmt.Sprintf("listing the operations of %q", q.Owner), err)
	}
	return out, nil
}
