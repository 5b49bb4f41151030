package spannerstore

import (
	"fmt"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/spanner"
	"github.com/lrokit/lro"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// columns are the lro_operations columns of a record, in the order of
// recordValues and scanRecord.
var columns = []string{"name", "parent", "create_time", "update_time", "expire_time", "request_id",
	"cancel_requested", "owner", "lease_expire_time", "kind", "request", "attempt", "version", "done", "operation",
	"start_time", "deadline", "run_after", "trace_parent"}

// writeColumns are the columns a full write of a record sets: columns, and
// the derived columns of the filter pushdown (see recordValues).
var writeColumns = append(append([]string(nil), columns...), derivedColumns...)

// columnList is columns for a SELECT.
var columnList = func() string {
	s := ""
	for i, c := range columns {
		if i > 0 {
			s += ", "
		}
		s += c
	}
	return s
}()

// invalid is the error for a value Spanner cannot hold: retrying cannot
// cure it.
func invalid(format string, args ...any) error {
	return status.Error(codes.InvalidArgument, "spannerstore: "+fmt.Sprintf(format, args...))
}

// nullTime is t for storage: NULL when zero, UTC otherwise.
func nullTime(t time.Time) spanner.NullTime {
	if t.IsZero() {
		return spanner.NullTime{}
	}
	return spanner.NullTime{Time: t.UTC(), Valid: true}
}

// nullOrZero is a nullable column's time: zero for NULL.
func nullOrZero(t spanner.NullTime) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return normTime(t.Time)
}

// normTime is t as it reads back after storage.
func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// recordValues validates rec, normalises its times to what will be stored
// and sets its Version, and returns the column values for it (see
// writeColumns).
func recordValues(rec *lro.Record, version int64) ([]any, error) {
	if rec == nil || rec.Operation == nil {
		return nil, invalid("the record has no operation")
	}
	name := rec.Operation.GetName()
	if name == "" {
		return nil, invalid("the operation has no name")
	}
	for _, f := range []struct{ what, v string }{
		{"name", name}, {"parent", rec.Parent}, {"request id", rec.RequestID},
		{"owner", rec.Owner}, {"kind", rec.Kind}, {"trace parent", rec.TraceParent},
	} {
		if !utf8.ValidString(f.v) {
			return nil, invalid("the %s of %q is not valid UTF-8", f.what, name)
		}
	}
	op, req, err := rec.MarshalPayload()
	if err != nil {
		return nil, invalid("record %q: %v", name, err)
	}
	rec.MapTimes(normTime)
	rec.Version = version
	reqID := spanner.NullString{StringVal: rec.RequestID, Valid: rec.RequestID != ""}
	return append([]any{name, rec.Parent, rec.CreateTime, rec.UpdateTime, nullTime(rec.ExpireTime), reqID,
		rec.CancelRequested, rec.Owner, nullTime(rec.LeaseExpireTime), rec.Kind, req, int64(rec.Attempt),
		version, rec.Operation.GetDone(), op,
		nullTime(rec.StartTime), nullTime(rec.Deadline), nullTime(rec.RunAfter), rec.TraceParent,
	}, derivedValues(rec.Operation, version)...), nil
}

// scanRecord decodes a row holding columns, in order, from its first column on.
func scanRecord(row *spanner.Row) (*lro.Record, error) {
	var (
		r                lro.Record
		name             string
		expire, lease    spanner.NullTime
		start, deadline  spanner.NullTime
		runAfter         spanner.NullTime
		reqID            spanner.NullString
		traceParent      spanner.NullString // NULL in rows written before schema version 6
		request, op      []byte
		attempt, version int64
		done             bool
	)
	if err := row.Columns(&name, &r.Parent, &r.CreateTime, &r.UpdateTime, &expire, &reqID,
		&r.CancelRequested, &r.Owner, &lease, &r.Kind, &request, &attempt, &version, &done, &op,
		&start, &deadline, &runAfter, &traceParent); err != nil {
		return nil, fmt.Errorf("spannerstore: reading a record: %w", err)
	}
	r.CreateTime = normTime(r.CreateTime)
	r.UpdateTime = normTime(r.UpdateTime)
	if expire.Valid {
		r.ExpireTime = normTime(expire.Time)
	}
	if lease.Valid {
		r.LeaseExpireTime = normTime(lease.Time)
	}
	r.StartTime = nullOrZero(start)
	r.Deadline = nullOrZero(deadline)
	r.RunAfter = nullOrZero(runAfter)
	r.RequestID = reqID.StringVal
	r.TraceParent = traceParent.StringVal
	r.Attempt = int32(attempt)
	r.Version = version
	if err := r.UnmarshalPayload(op, request); err != nil {
		return nil, fmt.Errorf("spannerstore: record %q: %w", name, err)
	}
	return &r, nil
}

// eventOf is the watch event for rec after a change.
func eventOf(rec *lro.Record) lro.Event {
	return lro.Event{Name: rec.Operation.GetName(), Done: rec.Done(), CancelRequested: rec.CancelRequested, Owner: rec.Owner}
}

// partialUpdate is the mutation that writes cols (vals) of rec's row, whose
// Version it sets, and its derived columns, current at that version.
func partialUpdate(rec *lro.Record, cols []string, vals []any) *spanner.Mutation {
	cols = append(append([]string(nil), cols...), derivedColumns...)
	vals = append(append([]any(nil), vals...), derivedValues(rec.Operation, rec.Version)...)
	return spanner.Update("lro_operations", cols, vals)
}
