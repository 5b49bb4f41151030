-- Global limits count the running operations of registered kinds only: the
-- operations of plain work functions (kind = '') are never counted, so the
-- index leaves them out. Every Start of a work function wrote an entry
-- here that nothing read. The query that counts says kind <> '' so that
-- the planner can prove this predicate.
--
-- A replica still running older code counts without kind <> '': its
-- counts stay right, read without this index.
DROP INDEX lro_operations_running_kind_idx;
CREATE INDEX lro_operations_running_kind_idx
    ON lro_operations (kind)
    WHERE NOT done AND owner <> '' AND start_time IS NOT NULL AND kind <> '';
