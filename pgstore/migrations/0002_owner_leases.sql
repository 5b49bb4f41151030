-- Owner leases: a running operation's lease is its owner's, one row per
-- owner id, renewed with one UPDATE however many operations the owner
-- runs. Every lease is judged by the database's clock (now()).
--
-- token identifies the registration holding the lease, so that a replica
-- that lost it cannot renew or release a newer registration of the same
-- id. A released lease is deleted; a lapsed one stays until its owner
-- registers again, or until it holds no running operation and a claimer
-- removes it.
CREATE TABLE lro_owners (
    owner             text COLLATE "C" PRIMARY KEY,
    token             text NOT NULL,
    lease_expire_time timestamptz NOT NULL
);

-- Claimers look up lapsed leases.
CREATE INDEX lro_owners_expire_idx ON lro_owners (lease_expire_time);

-- The owners of running operations keep their leases across the upgrade:
-- each gets the latest lease of its operations, under a token no replica
-- holds, so that its operations are taken over once it lapses, and its id
-- may be registered again then.
INSERT INTO lro_owners (owner, token, lease_expire_time)
SELECT owner, '', max(coalesce(lease_expire_time, '-infinity'))
FROM lro_operations
WHERE NOT done AND owner <> ''
GROUP BY owner;

-- lease_expire_time of an operation is no longer renewed nor judged: the
-- indexes that served per-operation leases give way to one by owner, for
-- claims, the listing of an owner's operations and its cancel requests.
DROP INDEX lro_operations_lease_idx;
DROP INDEX lro_operations_orphan_idx;
CREATE INDEX lro_operations_owner_idx
    ON lro_operations (owner, name) WHERE NOT done;

-- Upgrade every replica together: a replica still running older code
-- renews only its operations' own leases, which no longer count, and
-- claims operations whose lease_expire_time is NULL, as the newer code
-- leaves it. Each operation still ends once, but may run twice meanwhile.
