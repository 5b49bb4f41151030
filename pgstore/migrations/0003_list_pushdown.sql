-- List filter pushdown (ListOperations filters evaluated by PostgreSQL).
-- The writer derives these columns from the operation; PostgreSQL tests
-- them so that rows that cannot match are never decoded. derived_version
-- is the version they were derived at: a row written by code that does not
-- know them (an older replica in a rolling upgrade, a statement that bumps
-- the version without writing them) has derived_version <> version, and
-- its derived columns count as unknown: such rows are left to the Go
-- evaluator, so results stay exact. Rows written before this migration
-- are derived by Migrate in batches, right after it applies this file.
ALTER TABLE lro_operations
    ADD COLUMN error_code      integer,          -- the error's code; NULL: no error
    ADD COLUMN metadata_type   text COLLATE "C", -- the metadata's type URL; NULL: no metadata
    ADD COLUMN response_type   text COLLATE "C", -- the response's type URL; NULL: no response
    -- The metadata message in its JSON form (protojson, as Google's REST
    -- APIs show it), and a fingerprint of the message schema it was
    -- written with; NULL when the type was unknown to the writer or the
    -- message has no JSON form.
    ADD COLUMN metadata_json   jsonb,
    ADD COLUMN metadata_schema bytea,
    ADD COLUMN derived_version bigint;

-- Keyset listing of the running operations (a done = false filter),
-- newest first, ties by name.
CREATE INDEX lro_operations_running_list_idx
    ON lro_operations (create_time DESC, name) WHERE NOT done;
