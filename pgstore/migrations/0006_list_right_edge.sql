-- The list indexes turn around so that new operations land on their right
-- edge. They were (..., create_time DESC, name): a new operation has the
-- largest create_time, so every insert went to the leftmost leaf, which
-- PostgreSQL splits in half, leaving half-empty pages behind. Ascending on
-- create_time, new entries go to the rightmost leaf, which PostgreSQL
-- splits unevenly (filled to the index's fillfactor, 90 %) and reaches
-- without descending from the root. Scanned backward, (create_time, name
-- DESC) still yields the List order, create_time DESC then name, and
-- (parent, create_time, name DESC) yields it for one parent: List's
-- statements are unchanged, and a replica running older code reads the
-- new indexes as it read the old ones.
--
-- Migrate runs each migration in a transaction, where CREATE INDEX
-- CONCURRENTLY cannot run. So this one builds the new indexes first,
-- under temporary names, with plain CREATE INDEX, which blocks writes to
-- lro_operations (Start, Update, ...) while it builds, not reads; then it
-- drops the old indexes and renames the new ones, which blocks reads too,
-- but only from there to the commit right after. On a large table, build
-- them beforehand without blocking, under the same names; this migration
-- checks each definition and leaves an index alone when it is already the
-- one it would build:
--
--   CREATE INDEX CONCURRENTLY lro_operations_parent_list_idx_new
--       ON lro_operations (parent, create_time, name DESC);
--   DROP INDEX CONCURRENTLY lro_operations_parent_list_idx;
--   ALTER INDEX lro_operations_parent_list_idx_new RENAME TO lro_operations_parent_list_idx;
--
-- and the same for lro_operations_list_idx (create_time, name DESC) and
-- lro_operations_running_list_idx (create_time, name DESC) WHERE NOT done.
-- Only List reads these indexes, and List's statements do not change: a
-- List between two of these steps reads whichever index is there.
DO $$
DECLARE
    want text[][] := ARRAY[
        ['lro_operations_parent_list_idx', '(parent, create_time, name DESC)', ''],
        ['lro_operations_list_idx', '(create_time, name DESC)', ''],
        ['lro_operations_running_list_idx', '(create_time, name DESC)', ' WHERE (NOT done)']];
    i int;
    idx regclass;
    todo int[] := '{}';
BEGIN
    FOR i IN 1 .. array_length(want, 1) LOOP
        -- Resolved through the search_path, as every other statement here.
        idx := to_regclass(quote_ident(want[i][1]));
        IF idx IS NULL OR substring(pg_get_indexdef(idx) FROM ' USING .*$')
                IS DISTINCT FROM ' USING btree ' || want[i][2] || want[i][3] THEN
            EXECUTE format('CREATE INDEX %I ON lro_operations %s%s', want[i][1] || '_0006', want[i][2], want[i][3]);
            todo := todo || i;
        END IF;
    END LOOP;
    FOREACH i IN ARRAY todo LOOP
        EXECUTE format('DROP INDEX IF EXISTS %I', want[i][1]);
        EXECUTE format('ALTER INDEX %I RENAME TO %I', want[i][1] || '_0006', want[i][1]);
    END LOOP;
END
$$;
