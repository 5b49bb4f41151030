-- The trace context of the request that started each operation
-- (lro.Record.TraceParent), so that every run of its work links to that
-- request's span wherever it runs. '' for none, and for the rows already
-- there: a constant default adds the column without rewriting the table.
ALTER TABLE lro_operations ADD COLUMN trace_parent text NOT NULL DEFAULT '';
