-- Operations, one row each. name and parent use the "C" collation so that
-- ORDER BY name matches Go's byte-wise string order (the List order) and so
-- that LIKE 'prefix%' on parent can use the btree index.
CREATE TABLE lro_operations (
    name              text COLLATE "C" PRIMARY KEY,
    parent            text COLLATE "C" NOT NULL,
    create_time       timestamptz NOT NULL,
    update_time       timestamptz NOT NULL,
    -- NULL while the operation runs (Record.ExpireTime is zero).
    expire_time       timestamptz,
    request_id        text COLLATE "C" NOT NULL DEFAULT '',
    cancel_requested  boolean NOT NULL DEFAULT false,
    owner             text COLLATE "C" NOT NULL DEFAULT '',
    -- NULL when Record.LeaseExpireTime is zero.
    lease_expire_time timestamptz,
    kind              text NOT NULL DEFAULT '',
    -- The stored request of registered work: a marshalled google.protobuf.Any.
    request           bytea,
    attempt           integer NOT NULL DEFAULT 0,
    version           bigint NOT NULL,
    done              boolean NOT NULL,
    -- The marshalled google.longrunning.Operation (proto binary).
    operation         bytea NOT NULL
);

-- AIP-155: one operation per (parent, request id).
CREATE UNIQUE INDEX lro_operations_request_id_idx
    ON lro_operations (parent, request_id) WHERE request_id <> '';

-- Keyset listing of one collection, newest first, ties by name.
CREATE INDEX lro_operations_parent_list_idx
    ON lro_operations (parent, create_time DESC, name);

-- Keyset listing of every collection.
CREATE INDEX lro_operations_list_idx
    ON lro_operations (create_time DESC, name);

-- The janitor: done operations by expiry.
CREATE INDEX lro_operations_expire_idx
    ON lro_operations (expire_time) WHERE done;

-- Lease renewal by owner.
CREATE INDEX lro_operations_lease_idx
    ON lro_operations (owner, lease_expire_time) WHERE NOT done;

-- Orphan recovery: owned, running operations by lease expiry.
CREATE INDEX lro_operations_orphan_idx
    ON lro_operations (lease_expire_time) WHERE NOT done AND owner <> '';

-- The key that signs page tokens, shared by every replica. Exactly one row,
-- inserted on first use.
CREATE TABLE lro_token_secret (
    id     boolean PRIMARY KEY DEFAULT true CHECK (id),
    secret bytea NOT NULL
);
