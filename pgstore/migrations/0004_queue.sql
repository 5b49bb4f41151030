-- Work control (queue, deadlines, retries). start_time is NULL while an
-- operation is queued (Record.StartTime zero); deadline and run_after are
-- NULL when unset. Operations that exist already started when they were
-- created: there was no queue.
ALTER TABLE lro_operations
    ADD COLUMN start_time timestamptz,
    ADD COLUMN deadline   timestamptz,
    ADD COLUMN run_after  timestamptz;

UPDATE lro_operations SET start_time = create_time;

-- The queue: claimable operations of each kind, oldest first.
CREATE INDEX lro_operations_queue_idx
    ON lro_operations (kind, create_time, name)
    WHERE NOT done AND owner = '' AND start_time IS NULL AND kind <> '';

-- Global limits: the running operations of a kind.
CREATE INDEX lro_operations_running_kind_idx
    ON lro_operations (kind)
    WHERE NOT done AND owner <> '' AND start_time IS NOT NULL;

-- Deadlines of operations nobody holds.
CREATE INDEX lro_operations_unheld_deadline_idx
    ON lro_operations (deadline)
    WHERE NOT done AND owner = '' AND deadline IS NOT NULL;
