package lro

import (
	"context"

	"google.golang.org/protobuf/proto"
)

// Starting registered work in a transaction of the host's. The root
// package imports no database driver, so a Store that can insert a record
// in the host's own transaction does it (pgstore.StartKindTx); the Manager
// only builds the record, with the same rules as StartKind.

// NewKindRecord returns the record that StartKind would store for a new
// operation of a registered kind queued for a replica to claim, without
// storing it: unowned, never started (StartTime zero, Attempt 0), named
// under the parent WithParent gives, with the request id, metadata and
// creation time of a start made now, the deadline of WithTimeout or else
// KindTimeout counted from now, and the RunAfter of WithStartAfter. It is for a store that inserts the
// record itself, in a transaction of the host's (see pgstore.StartKindTx),
// and must then tell the replicas that queued work waits (QueueWatcher):
// any Manager on the same store that registered the kind claims and runs
// it as it runs a queued StartKind. An accept-only Manager (WithMaxRunning(0))
// builds it too.
//
// It fails as StartKind does, without running anything: with
// INVALID_ARGUMENT for a nil ctx, a kind that is not registered, a nil req,
// a req of another type than the kind's Handler takes, a req or metadata
// larger than the payload cap, an invalid parent, a StartOption that
// refuses its value or a WithStartAfter time not before the deadline; and
// with UNAVAILABLE once Close has begun.
func (m *Manager) NewKindRecord(ctx context.Context, kind string, req proto.Message, opts ...StartOption) (*Record, error) {
	k, a, err := m.kindRequest("NewKindRecord", kind, req)
	if err != nil {
		return nil, err
	}
	rec, err := m.newRecord(ctx, k, a, opts)
	if err != nil {
		return nil, err
	}
	if m.isClosing() {
		return nil, m.errManagerClosed()
	}
	if !rec.RunAfter.IsZero() {
		// Once the record is stored, this Manager claims it on time if it
		// can; if it never is, the claim finds nothing.
		m.claimAt(kind, rec.RunAfter)
	}
	return rec, nil
}

// Store returns the Store the Manager keeps its operations in: the one
// WithStore gave, or the MemoryStore New made. It never fails. Writes made
// to it directly bypass the Manager's checks; it is there for backends
// that extend the Manager, such as pgstore.StartKindTx.
func (m *Manager) Store() Store { return m.store }
