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
-- CONCURRENTLY cannot run: the plain CREATE INDEX below blocks writes to
-- lro_operations (not reads) while it builds each index. On a large
-- table, build them beforehand without blocking, under the same names;
-- this migration checks each definition and leaves an index alone when it
-- is already the one it would build:
--
--   CREATE INDEX CONCURRENTLY lro_operations_parent_list_idx_new
--       ON lro_operations (parent, create_time, name DESC);
--   DROP INDEX CONCURRENTLY lro_operations_parent_list_idx;
--   ALTER INDEX lro_operations_parent_list_idx_new RENAME TO lro_operations_parent_list_idx;
--
-- and the same for lro_operations_list_idx (create_time, name DESC) and
-- lro_operations_running_list_idx (create_time, name DESC) WHERE NOT done.
DO $$
DECLARE
    want text[][] := ARRAY[
        ['lro_operations_parent_list_idx', '(parent, create_time, name DESC)', ''],
        ['lro_operations_list_idx', '(create_time, name DESC)', ''],
        ['lro_operations_running_list_idx', '(create_time, name DESC)', ' WHERE (NOT done)']];
    i int;
    idx regclass;
BEGIN
    FOR i IN 1 .. array_length(want, 1) LOOP
        -- Resolved through the search_path, as every other statement here.
        idx := to_regclass(quote_ident(want[i][1]));
        IF idx IS NOT NULL AND substring(pg_get_indexdef(idx) FROM ' USING .*$')
                = ' USING btree ' || want[i][2] || want[i][3] THEN
            CONTINUE;
        END IF;
        IF idx IS NOT NULL THEN
            EXECUTE format('DROP INDEX %s', idx);
        END IF;
        EXECUTE format('CREATE INDEX %I ON lro_operations %s%s', want[i][1], want[i][2], want[i][3]);
    END LOOP;
END
$$;
