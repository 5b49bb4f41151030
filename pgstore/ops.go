package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/lrokit/lro"
	"google.golang.org/grpc/codes"
)

// columns are the lro_operations columns scanRecord reads, in order.
const columns = `name, parent, create_time, update_time, expire_time, request_id, cancel_requested, owner, lease_expire_time, kind, request, attempt, version, operation, start_time, deadline, run_after, trace_parent`

// maxInlineName is the longest name sent as it is in a notification
// payload; longer ones are sent as a SHA-256 hash, since PostgreSQL limits
// payloads to 8000 bytes.
const maxInlineName = 7000

// Notification payloads are one flag character, then the owner when the
// owner flag is set, then the name, or the hex SHA-256 of the name when it
// is longer than maxInlineName. The flags are a bit set (done=1, cancel
// requested=2, deleted=4, owner=8), written as '0'+flags for a plain name
// and 'a'+flags for a hashed one. The owner is written as its length in
// bytes, in decimal, a colon and the owner itself; it is sent for
// changes, not deletions, when it is not empty and at most maxNotifyOwner
// bytes long.
const (
	flagDone    = 1
	flagCancel  = 2
	flagDeleted = 4
	flagOwner   = 8
)

// maxNotifyOwner is the longest owner sent in a notification payload, so
// that a payload stays within PostgreSQL's 8000 bytes.
const maxNotifyOwner = 512

// notifyExpr returns the SQL that notifies about the row alias (which has
// name, done and cancel_requested columns, and owner unless deleted). $1
// is always the channel.
func notifyExpr(alias string, deleted bool) string {
	d, owned, ownerPart := 0, "0", "''"
	if deleted {
		d = flagDeleted
	} else {
		hasOwner := fmt.Sprintf(`octet_length(%[1]s.owner) BETWEEN 1 AND %[2]d`, alias, maxNotifyOwner)
		owned = fmt.Sprintf(`CASE WHEN %s THEN %d ELSE 0 END`, hasOwner, flagOwner)
		ownerPart = fmt.Sprintf(`CASE WHEN %[2]s THEN octet_length(%[1]s.owner)::text || ':' || %[1]s.owner ELSE '' END`, alias, hasOwner)
	}
	flags := fmt.Sprintf(`(CASE WHEN %[1]s.done THEN %[2]d ELSE 0 END + CASE WHEN %[1]s.cancel_requested THEN %[3]d ELSE 0 END + %[4]d + %[5]s)`,
		alias, flagDone, flagCancel, d, owned)
	inline := fmt.Sprintf(`octet_length(%s.name) <= %d`, alias, maxInlineName)
	return fmt.Sprintf(`pg_notify($1, chr(CASE WHEN %[2]s THEN 48 ELSE 97 END + %[3]s) || %[4]s || `+
		`CASE WHEN %[2]s THEN %[1]s.name ELSE encode(sha256(convert_to(%[1]s.name, 'UTF8')), 'hex') END)`,
		alias, inline, flags, ownerPart)
}

// The statements that write. In each but insertSQL, $1 is the notification
// channel; the record columns follow in the order of recordArgs.
var (
	// Creation sends no notification: nobody watches a record that does
	// not exist yet, and a late notification would describe a state older
	// than a watcher registered just after Create returned. It takes
	// recordArgs without the channel.
	insertSQL = `INSERT INTO lro_operations (name, parent, create_time, update_time, expire_time, request_id,
	cancel_requested, owner, lease_expire_time, kind, request, attempt, version, done, operation,
	error_code, metadata_type, response_type, metadata_json, metadata_schema, derived_version,
	start_time, deadline, run_after, trace_parent)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19::text::jsonb, $20, $21,
	$22, $23, $24, $25)
ON CONFLICT DO NOTHING`

	// insertQueuedSQL inserts a queued operation of a kind and wakes the
	// replicas that may claim it (see queue.go). $26 is the channel.
	insertQueuedSQL = `WITH ins AS (` + insertSQL + `
	RETURNING name)
SELECT pg_notify($26, '` + queuePayload + `') FROM ins`

	updateSQL = `WITH upd AS (
	UPDATE lro_operations SET parent = $3, create_time = $4, update_time = $5, expire_time = $6, request_id = $7,
		cancel_requested = $8, owner = $9, lease_expire_time = $10, kind = $11, request = $12, attempt = $13,
		version = $14, done = $15, operation = $16, error_code = $17, metadata_type = $18, response_type = $19,
		metadata_json = $20::text::jsonb, metadata_schema = $21, derived_version = $22,
		start_time = $23, deadline = $24, run_after = $25, trace_parent = $26
	WHERE name = $2 AND version = $27
	RETURNING name, done, cancel_requested, owner, kind, start_time)
SELECT ` + notifyExpr("upd", false) + `, ` + notifyQueuedExpr("upd") + ` FROM upd`

	deleteSQL = `WITH del AS (
	DELETE FROM lro_operations WHERE name = $2
	RETURNING name, done, cancel_requested)
SELECT ` + notifyExpr("del", true) + ` FROM del`

	// deleteIfExpiredSQL deletes the named record if it expired by $3.
	deleteIfExpiredSQL = `WITH del AS (
	DELETE FROM lro_operations WHERE name = $2 AND done AND expire_time <= $3
	RETURNING name, done, cancel_requested)
SELECT ` + notifyExpr("del", true) + ` FROM del`

	deleteExpiredSQL = `WITH victim AS (
	SELECT name FROM lro_operations
	WHERE done AND expire_time <= $2
	ORDER BY expire_time, name
	LIMIT $3
	FOR UPDATE SKIP LOCKED),
del AS (
	DELETE FROM lro_operations o USING victim v WHERE o.name = v.name
	RETURNING o.name, o.done, o.cancel_requested)
SELECT ` + notifyExpr("del", true) + ` FROM del`
)

// validText reports whether PostgreSQL can store s in a text column.
func validText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// dbTime converts t for storage: UTC, truncated to microseconds, and NULL
// (nil) when zero.
func dbTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC().Truncate(time.Microsecond)
	return &u
}

// utcOrZero is a nullable column's time: zero for NULL.
func utcOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// normTime is t as it reads back after storage.
func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// recordArgs validates rec and returns the statement arguments for it:
// channel, then the columns in insertSQL order, the derived ones (see
// derive) last. It normalises rec's times to what will be stored.
func (s *Store) recordArgs(rec *lro.Record, version int64) ([]any, error) {
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
		if !validText(f.v) {
			return nil, invalid(fmt.Sprintf("the %s is not valid UTF-8 text without NUL bytes", f.what))
		}
	}
	op, req, err := rec.MarshalPayload()
	if err != nil {
		return nil, invalid(fmt.Sprintf("record %q: %v", name, err))
	}
	rec.MapTimes(normTime)
	rec.Version = version
	d := derive(rec.Operation)
	var derivedVersion *int64
	if d.ok {
		derivedVersion = &version
	}
	return []any{
		s.channel,
		name, rec.Parent, rec.CreateTime, rec.UpdateTime, dbTime(rec.ExpireTime), rec.RequestID,
		rec.CancelRequested, rec.Owner, dbTime(rec.LeaseExpireTime), rec.Kind, req, rec.Attempt,
		version, rec.Operation.GetDone(), op,
		d.errorCode, d.metadataType, d.responseType, d.metadataJSON, d.metadataSchema, derivedVersion,
		dbTime(rec.StartTime), dbTime(rec.Deadline), dbTime(rec.RunAfter), rec.TraceParent,
	}, nil
}

// invalid is the error for a record PostgreSQL cannot hold.
func invalid(msg string) error {
	return &Error{Op: "encoding record", Code: codes.InvalidArgument, Err: errors.New(msg)}
}

// scanRecord reads the columns (see columns) of one row, then extra.
func scanRecord(row pgx.Row, extra ...any) (*lro.Record, error) {
	var (
		r           lro.Record
		name        string
		expire      *time.Time
		lease       *time.Time
		request, op []byte
		start       *time.Time
		deadline    *time.Time
		runAfter    *time.Time
	)
	dest := append([]any{&name, &r.Parent, &r.CreateTime, &r.UpdateTime, &expire, &r.RequestID,
		&r.CancelRequested, &r.Owner, &lease, &r.Kind, &request, &r.Attempt, &r.Version, &op,
		&start, &deadline, &runAfter, &r.TraceParent}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	r.StartTime = utcOrZero(start)
	r.Deadline = utcOrZero(deadline)
	r.RunAfter = utcOrZero(runAfter)
	r.CreateTime = r.CreateTime.UTC()
	r.UpdateTime = r.UpdateTime.UTC()
	if expire != nil {
		r.ExpireTime = expire.UTC()
	}
	if lease != nil {
		r.LeaseExpireTime = lease.UTC()
	}
	if err := r.UnmarshalPayload(op, request); err != nil {
		return nil, fmt.Errorf("record %q: %w", name, err)
	}
	return &r, nil
}

// recordRow returns the pgx.RowToFunc that reads a record (see scanRecord)
// from a row of columns, followed by extra.
func recordRow(extra ...any) pgx.RowToFunc[*lro.Record] {
	return func(row pgx.CollectableRow) (*lro.Record, error) {
		return scanRecord(row, extra...)
	}
}

// querier runs statements: the pool, or a transaction.
type querier interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}

// queryRows runs sql and collects its rows with fn.
func queryRows[T any](ctx context.Context, q querier, fn pgx.RowToFunc[T], sql string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, fn)
}

// execCount runs a statement that returns one row per changed record and
// returns how many rows it returned.
func execCount(ctx context.Context, q querier, sql string, args ...any) (int, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return 0, err
	}
	n := 0
	for rows.Next() {
		n++
	}
	rows.Close()
	return n, rows.Err()
}

// isUniqueViolation reports whether err is a unique constraint violation.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// getBy returns the one record matching where, or lro.ErrNotFound.
func (s *Store) getBy(ctx context.Context, where string, args ...any) (*lro.Record, error) {
	rec, err := scanRecord(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM lro_operations WHERE `+where, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, lro.ErrNotFound
	}
	return rec, err
}

// optimisticTries is how often Update tries its optimistic write before it
// takes the row lock instead: a record that others keep changing between
// the read and the write (a hot counter) is better served by waiting in
// line than by retrying.
const optimisticTries = 3

// Update implements lro.Store optimistically: it reads the record, calls fn,
// and writes only if the record's version is still the one it read (one
// statement, committed on its own), or else reads again and calls fn again.
// No row lock is held while fn runs or while the client round-trips, and a
// stale read can never overwrite a newer write such as a lease renewal.
// After optimisticTries conflicts it locks the row and tries once more.
func (s *Store) Update(ctx context.Context, name string, fn func(*lro.Record) error) (*lro.Record, error) {
	if !validText(name) {
		return nil, fmt.Errorf("pgstore: updating %q: %w", name, lro.ErrNotFound)
	}
	for range optimisticTries {
		rec, err := s.Get(ctx, name)
		if err != nil {
			return nil, err
		}
		read := rec.Version
		if err := fn(rec); err != nil {
			return nil, err
		}
		n, err := s.writeVersion(ctx, s.pool, name, rec, read)
		if err != nil {
			return nil, err
		}
		if n == 1 {
			return rec, nil
		}
		// Written or deleted since the read: read again.
	}
	return s.updateLocked(ctx, name, fn)
}

// writeVersion writes rec over the named row if the row is still at
// version read, and returns how many rows it wrote (0 or 1). With q the
// pool, the write joins the batch of concurrent Updates (see
// updateBatch); in a transaction it runs alone.
func (s *Store) writeVersion(ctx context.Context, q querier, name string, rec *lro.Record, read int64) (int, error) {
	if rec.Operation.GetName() != name {
		return 0, &Error{Op: fmt.Sprintf("updating %q", name), Code: codes.Internal,
			Err: fmt.Errorf("the update renamed the operation to %q", rec.Operation.GetName())}
	}
	args, err := s.recordArgs(rec, read+1)
	if err != nil {
		return 0, err
	}
	if q == querier(s.pool) {
		a, err := s.updates.do(ctx, &updateReq{name: name, args: args[1:], read: read})
		switch {
		case errors.Is(err, errBatcherClosed):
			return 0, &Error{Op: fmt.Sprintf("updating %q", name), Code: codes.Unavailable, Err: err}
		case err != nil:
			return 0, storeErr(fmt.Sprintf("updating %q", name), err)
		case !a.alone && a.written:
			return 1, nil
		case !a.alone:
			return 0, nil
		}
	}
	n, err := execCount(ctx, q, updateSQL, append(args, read)...)
	switch {
	case err == nil:
		return n, nil
	case isUniqueViolation(err):
		return 0, fmt.Errorf("pgstore: updating %q: the parent and request id are taken: %w", name, lro.ErrAlreadyExists)
	}
	return 0, storeErr(fmt.Sprintf("updating %q", name), err)
}

// updateLocked is Update holding the row lock from the read to the write.
func (s *Store) updateLocked(ctx context.Context, name string, fn func(*lro.Record) error) (*lro.Record, error) {
	var (
		fnErr error
		out   *lro.Record
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rec, err := scanRecord(tx.QueryRow(ctx, `SELECT `+columns+` FROM lro_operations WHERE name = $1 FOR UPDATE`, name))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("pgstore: updating %q: %w", name, lro.ErrNotFound)
		}
		if err != nil {
			return err
		}
		read := rec.Version
		if fnErr = fn(rec); fnErr != nil {
			return fnErr
		}
		if _, err := s.writeVersion(ctx, tx, name, rec, read); err != nil {
			return err
		}
		out = rec
		return nil
	})
	switch {
	case fnErr != nil:
		return nil, fnErr
	case err != nil:
		var perr *Error
		if errors.Is(err, lro.ErrNotFound) || errors.Is(err, lro.ErrAlreadyExists) || errors.As(err, &perr) {
			return nil, err
		}
		return nil, storeErr(fmt.Sprintf("updating %q", name), err)
	}
	return out, nil
}

// Delete implements lro.Store.
func (s *Store) Delete(ctx context.Context, name string) error {
	if !validText(name) {
		return fmt.Errorf("pgstore: deleting %q: %w", name, lro.ErrNotFound)
	}
	n, err := execCount(ctx, s.pool, deleteSQL, s.channel, name)
	if err != nil {
		return storeErr(fmt.Sprintf("deleting %q", name), err)
	}
	if n == 0 {
		return fmt.Errorf("pgstore: deleting %q: %w", name, lro.ErrNotFound)
	}
	return nil
}

// DeleteExpired implements lro.Store. Concurrent callers (several replicas'
// janitors) skip each other's rows rather than wait.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	n, err := execCount(ctx, s.pool, deleteExpiredSQL, s.channel, now.UTC(), limit)
	if err != nil {
		return 0, storeErr("deleting expired operations", err)
	}
	return n, nil
}
