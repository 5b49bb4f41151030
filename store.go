package lro

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Errors a Store returns. Backends wrap them (fmt.Errorf("...: %w", ErrNotFound))
// or return them as they are; the Manager tests them with errors.Is.
var (
	// ErrNotFound means no record has the given name.
	ErrNotFound = errors.New("lro: operation not found")
	// ErrAlreadyExists means a record with the same name already exists.
	ErrAlreadyExists = errors.New("lro: operation already exists")
	// ErrOwnerTaken means another live Manager holds the owner id: its
	// owner lease has not lapsed (see Store.RegisterOwner).
	ErrOwnerTaken = errors.New("lro: the owner id is held by another live Manager")
	// ErrLeaseLost means a Manager no longer holds a lease it held: its
	// owner lease lapsed (Store.RenewLeases), or another replica took an
	// operation over. It is also the context.Cause of work cancelled for
	// that reason.
	ErrLeaseLost = errors.New("lro: lease lost")
)

// Record is one operation as a Store keeps it: the public Operation message
// and the bookkeeping the Manager needs around it.
//
// Records cross the Store boundary by value: a backend never keeps a pointer
// it was given, and every Record it returns belongs to the caller, who may
// change it (Operation included) without affecting the store.
type Record struct {
	// Operation is the public state. Operation.Name is the record's key.
	Operation *longrunningpb.Operation
	// Parent is the part of the name before "/operations/{id}", or "" for a
	// top-level "operations/{id}".
	Parent string
	// CreateTime is when the operation was created; List orders by it.
	CreateTime time.Time
	// UpdateTime is when the record last changed.
	UpdateTime time.Time
	// ExpireTime is when a done operation may be removed. It is zero while
	// the operation runs.
	ExpireTime time.Time
	// RequestID is the AIP-155 request id the operation was started with, or
	// "". Within one Parent, at most one record has a given non-empty
	// RequestID.
	RequestID string
	// CancelRequested is set by CancelOperation while the work still runs.
	CancelRequested bool
	// Owner identifies the Manager running the work; "" when nothing in this
	// library runs it (operations made with Create). The operation's lease
	// is its owner's (see Store.RegisterOwner): it lapses when the owner
	// stops renewing, for all the owner's operations at once.
	Owner string
	// LeaseExpireTime is not used by the library: leases belong to owners,
	// not to operations (see Owner). Stores keep the value written, judge
	// no lease by it, and ClaimExpired leaves it alone; the Manager leaves
	// it zero, and ending an operation clears it. Records written by older
	// versions carry the per-operation lease they were last renewed to.
	LeaseExpireTime time.Time
	// Kind names registered work (StartKind), or "" for a work function.
	Kind string
	// Request is the stored request of registered work, so another replica
	// can run it again.
	Request *anypb.Any
	// Attempt counts the runs of the work, starting at 1 when it first
	// starts; 0 while it has never started.
	Attempt int32
	// StartTime is when the current run of the work started. It is zero
	// while the operation is queued: waiting for a free slot (WithMaxRunning,
	// KindMaxRunning), for a replica to claim it, or for its next attempt
	// (KindRetry). Operations made with Create start when they are created.
	StartTime time.Time
	// Deadline is when the operation ends with DEADLINE_EXCEEDED if it is
	// still not done (WithTimeout, KindTimeout); zero for none.
	Deadline time.Time
	// RunAfter is the earliest time a queued operation may be claimed (the
	// backoff before a retry, WithStartAfter); zero for at once.
	RunAfter time.Time
	// TraceParent is the trace context of the span in the context given
	// to Start, StartKind, Create or NewKindRecord (pgstore.StartKindTx),
	// as a W3C Trace Context traceparent
	// ("00-{trace id}-{span id}-{flags}", lowercase hex), or "" when that
	// context had no valid span. The Manager writes it when it creates the
	// record and never changes it; every run of the work, wherever it
	// runs (a retry, work claimed from the store's queue, work taken over
	// from another replica), links its span to it. A store keeps it as
	// written, like the other text fields; a store that does not keep it,
	// or gives back a malformed value, costs only that link, never a run.
	TraceParent string
	// Version is assigned by the store and grows with every write.
	Version int64
}

// Clone returns a deep copy of r: the Operation and Request messages are
// cloned too, so changing the copy never changes r. Clone of nil is nil.
func (r *Record) Clone() *Record {
	if r == nil {
		return nil
	}
	c := *r
	if r.Operation != nil {
		c.Operation = proto.Clone(r.Operation).(*longrunningpb.Operation)
	}
	if r.Request != nil {
		c.Request = proto.Clone(r.Request).(*anypb.Any)
	}
	return &c
}

// MarshalPayload returns the proto encodings of r.Operation (deterministic,
// never nil) and of r.Request (nil when r has none; empty, not nil, for an
// empty Any), as UnmarshalPayload reads them back, for backends that store
// them as bytes. It fails, saying which of the two, when either cannot be
// encoded (a message that is not valid UTF-8, say).
func (r *Record) MarshalPayload() (op, request []byte, err error) {
	op, err = proto.MarshalOptions{Deterministic: true}.Marshal(r.Operation)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the operation: %w", err)
	}
	if op == nil {
		op = []byte{}
	}
	if r.Request != nil {
		if request, err = proto.Marshal(r.Request); err != nil {
			return nil, nil, fmt.Errorf("encoding the request: %w", err)
		}
		if request == nil {
			request = []byte{} // an empty Any, not none
		}
	}
	return op, request, nil
}

// MapTimes replaces each time r holds (create, update, expire, lease
// expiry, start, deadline, run after) with f of it, for backends that
// normalise times to what they store.
func (r *Record) MapTimes(f func(time.Time) time.Time) {
	for _, t := range []*time.Time{&r.CreateTime, &r.UpdateTime, &r.ExpireTime, &r.LeaseExpireTime, &r.StartTime, &r.Deadline, &r.RunAfter} {
		*t = f(*t)
	}
}

// UnmarshalPayload sets r.Operation and r.Request from their proto
// encodings, for backends that store them as bytes: op must hold a
// google.longrunning.Operation, and a nil request leaves r.Request nil. It
// fails, saying which of the two did not decode, when either is malformed.
func (r *Record) UnmarshalPayload(op, request []byte) error {
	r.Operation = new(longrunningpb.Operation)
	if err := proto.Unmarshal(op, r.Operation); err != nil {
		return fmt.Errorf("decoding the operation: %w", err)
	}
	r.Request = nil
	if request != nil {
		r.Request = new(anypb.Any)
		if err := proto.Unmarshal(request, r.Request); err != nil {
			return fmt.Errorf("decoding the request: %w", err)
		}
	}
	return nil
}

// Done reports whether the operation has finished.
func (r *Record) Done() bool { return r != nil && r.Operation.GetDone() }

// Event tells a watcher that a record changed.
type Event struct {
	// Name is the operation that changed.
	Name string
	// Done reports whether the operation is done after the change.
	Done bool
	// CancelRequested reports whether a cancellation is pending.
	CancelRequested bool
	// Deleted reports that the record is gone.
	Deleted bool
	// Owner is the record's Owner after the change; "" after a deletion,
	// for a record without one, or when the store cannot tell (pgstore
	// leaves out owners longer than 512 bytes). A Manager running the
	// operation's work cancels it when Owner names another replica.
	Owner string
}

// Cursor is a position in the List order: newest CreateTime first, ties
// broken by ascending Name.
type Cursor struct {
	CreateTime time.Time
	Name       string
}

// Precedes reports whether c comes strictly before a record at (t, name) in
// List order, that is whether a listing after c includes that record.
func (c Cursor) Precedes(t time.Time, name string) bool {
	if !t.Equal(c.CreateTime) {
		return t.Before(c.CreateTime)
	}
	return name > c.Name
}

// ListQuery selects records for List: the listing of a collection, in List
// order, from a position on.
type ListQuery struct {
	// AllParents lists every record, whatever its parent.
	AllParents bool
	// Parent is the parent whose operations are listed when AllParents is
	// false. Segments equal to "-" match any single segment; "" is the
	// top-level collection "operations".
	Parent string
	// After, when set, starts the listing strictly after this position.
	After *Cursor
	// Limit is the most records to return. It must be positive.
	Limit int
	// Budget is the most records of the listing List may examine: the
	// records it returns and those it passes over because they fail Done,
	// Filter or a "-" segment of Parent. Zero or negative means no bound.
	// The Manager sets it from WithListScanBudget, so that one List call
	// does bounded work however few records match.
	Budget int
	// Done, when set, keeps only records whose done flag equals it.
	Done *bool
	// Filter, when set, is the request's filter. It is a hint: a Store may
	// ignore it, or use it to leave out records that cannot match (package
	// pgstore turns parts of it into SQL), but it never leaves out a record
	// that matches. The Manager matches every record List returns against
	// the filter itself.
	Filter *Filter
}

// ListResult is what Store.List returns.
type ListResult struct {
	// Records are the records found, in List order: at most Limit of them.
	Records []*Record
	// Examined is how many records of the listing List examined (see
	// ListQuery.Budget); it is at least len(Records), and at most Budget
	// when Budget is positive.
	Examined int
	// Resume is nil when no record of the listing follows the last one
	// List examined: the listing has ended. Otherwise List stopped because
	// it found Limit records or spent its Budget, and Resume is the
	// position of the last record it examined, where a later List with
	// After set to it continues.
	Resume *Cursor
}

// Store keeps operations. The in-memory store (NewMemoryStore) is the
// default; package pgstore keeps them in PostgreSQL so that several
// replicas share them. Every method is safe for concurrent use, and
// lrotest.TestStore checks a Store against this contract.
//
// Errors other than ErrNotFound and ErrAlreadyExists are infrastructure
// failures; the Manager reports them as UNAVAILABLE unless they carry a gRPC
// status of their own. A failure that retrying cannot cure (a value the
// store cannot hold) must carry INVALID_ARGUMENT, FAILED_PRECONDITION,
// OUT_OF_RANGE or UNIMPLEMENTED: the Manager retries the end of work
// through any other failure until it passes, but for these it ends the
// operation with INTERNAL instead.
//
// A method whose arguments include two of one type, which a caller could
// swap and still compile, takes them in a params struct (ClaimParams,
// FinishParams).
//
// A Store may also implement these optional interfaces; the Manager checks
// for each with a type assertion and does without it as described:
//
//   - Finisher: the Manager ends the work it runs with one write and no
//     read. Without it, the Manager ends work with Update, a read and a
//     write.
//   - Poller: the store's notifications can be lost, so the Manager also
//     re-reads every PollInterval the records it waits on and checks the
//     work it runs for cancellation. Without it, the Manager trusts Watch
//     alone and never re-reads on a timer.
//   - NotifyHealth: a Poller that knows when its notifications flow. While
//     they do, the Manager does not re-read the records it waits on, so
//     idle waiters cost the store nothing.
//   - StateReader: the Manager's re-read of the records it waits on (made
//     only for a Poller) costs one query per PollInterval. Without it,
//     the re-read is one Get per record waited on.
//   - CancelRequestLister: the Manager's periodic cancellation check (made
//     only for a Poller) costs one query. Without it, the check reads every
//     running operation with Get.
//   - TokenSecreter: page tokens are signed with a key the store keeps, so
//     that a token made by one replica is accepted by another. Without it
//     (and without WithPageTokenKey), each Manager signs with a random key
//     of its own and rejects the page tokens of other Managers.
type Store interface {
	// Create inserts rec. When rec.RequestID is not empty and a record with
	// the same Parent and RequestID exists, Create writes nothing and returns
	// that record with created false, unless that record has expired: it
	// is done and its ExpireTime is not after rec.CreateTime. An expired
	// record holds its request id no more: Create removes it (watchers see
	// it deleted) and inserts rec. A name already taken gives
	// ErrAlreadyExists.
	Create(ctx context.Context, rec *Record) (stored *Record, created bool, err error)
	// Get returns the record with the given name, or ErrNotFound.
	Get(ctx context.Context, name string) (*Record, error)
	// Update atomically reads the named record, calls fn with a copy it may
	// change, and writes the result. If fn returns an error nothing is
	// written and Update returns that error unchanged. fn may be called more
	// than once (optimistic backends retry on conflict).
	Update(ctx context.Context, name string, fn func(*Record) error) (*Record, error)
	// Delete removes the named record, or returns ErrNotFound.
	Delete(ctx context.Context, name string) error
	// List returns records selected by q, in List order. It stops when it
	// has q.Limit records, when it has examined q.Budget records, or at the
	// end of the listing, and says which in ListResult.Resume. Records that
	// changed between two calls are seen as they are at the second: a
	// listing continued with After never skips or repeats a record that
	// existed throughout. List must not call host code (the Authorizer,
	// the filter's type resolver) while it holds a lock or a connection
	// that writers need; the Manager applies the filter and the Authorizer
	// to what List returns, after List has returned. A q.Limit that is not
	// positive is an error.
	List(ctx context.Context, q ListQuery) (ListResult, error)
	// DeleteExpired removes up to limit done records whose ExpireTime is not
	// after now and returns how many it removed.
	DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error)
	// RegisterOwner starts p.Owner's lease under p.Token, to run out
	// p.Lease from now (see LeaseParams for whose clock). An owner holds
	// its lease until it runs out or is released; while it holds it, its
	// records are not claimed (ClaimExpired). If another token holds an
	// unexpired lease for p.Owner, RegisterOwner changes nothing and
	// returns an error wrapping ErrOwnerTaken; a lapsed or released lease
	// is taken over. The records p.Owner held before stay its own: the
	// caller, which runs none of them yet, finds them with ListOwned.
	RegisterOwner(ctx context.Context, p LeaseParams) error
	// RenewLeases extends p.Owner's lease, held under p.Token, to run out
	// p.Lease from now: every record p.Owner holds stays its own, at the
	// cost of one write however many there are. It returns an error
	// wrapping ErrLeaseLost, and changes nothing, when the lease has
	// lapsed, was released, or is held under another token: the caller
	// must then assume every record it held was claimed by another.
	RenewLeases(ctx context.Context, p LeaseParams) error
	// ReleaseOwner ends p.Owner's lease at once if p.Token holds it, so
	// that the records it still holds may be claimed and the id
	// registered again at once; otherwise it does nothing. p.Now and
	// p.Lease are unused.
	ReleaseOwner(ctx context.Context, p LeaseParams) error
	// ClaimExpired gives p.Owner up to p.Limit records that are not done
	// and whose non-empty Owner holds no lease (it lapsed, was released,
	// or was never registered), judged at now (see LeaseParams): it sets
	// their Owner to p.Owner, leaving every other field but Version as it
	// was, and returns the claimed records. No record is given to two
	// concurrent callers.
	ClaimExpired(ctx context.Context, p ClaimParams) ([]*Record, error)
	// ClaimQueued gives p.Owner queued records to run, oldest CreateTime
	// first (ties by name); see QueueClaimParams. No record is given to two
	// concurrent callers, and a kind's GlobalLimits is never exceeded, even
	// by concurrent callers.
	ClaimQueued(ctx context.Context, p QueueClaimParams) ([]*Record, error)
	// ListOwned returns up to q.Limit records that are not done and whose
	// Owner is q.Owner, with names after q.After, in ascending name order.
	// A Manager that has just registered (RegisterOwner) pages through the
	// records it held before with it, to run them again or end them.
	ListOwned(ctx context.Context, q OwnedQuery) ([]*Record, error)
	// Watch calls fn after every committed change to the named record,
	// including its deletion, until stop is called (stop may be called more
	// than once; once it returns, fn is not called again). fn must be quick and
	// must not call the Store; it may be called from any goroutine. Events
	// may be coalesced but a change is never missed, except by a shared
	// backend whose notifications are lost (see Poller).
	Watch(name string, fn func(Event)) (stop func())
}

// LeaseParams are the arguments of the owner lease methods of a Store:
// RegisterOwner, RenewLeases and ReleaseOwner.
//
// A lease is judged by one clock. A store used by one process (the memory
// store) takes now to be Now, the Manager's clock, so a fake clock drives
// it in tests. A store shared between processes ignores Now and uses its
// own clock (pgstore: the database's now()), so that a replica whose clock
// is wrong can neither keep a lease too long nor end another's early.
type LeaseParams struct {
	// Owner is the Manager's owner id (WithOwner).
	Owner string
	// Token identifies one registration of Owner: RegisterOwner stores it,
	// and RenewLeases and ReleaseOwner act only while it is the stored one,
	// so a Manager that lost its lease cannot renew or release the lease
	// of a newer registration under the same id.
	Token string
	// Now is the Manager's time; see LeaseParams for when a store uses it.
	Now time.Time
	// Lease is how long the lease lasts from now. A lease that is not
	// positive has run out at once.
	Lease time.Duration
}

// ClaimParams are the arguments of Store.ClaimExpired.
type ClaimParams struct {
	// Owner is the replica that takes the records over.
	Owner string
	// Now is the Manager's time, at which a store used by one process
	// judges whether a lease has lapsed; a shared store uses its own clock
	// (see LeaseParams).
	Now time.Time
	// Limit is the most records to claim; ClaimExpired claims none when it
	// is not positive.
	Limit int
}

// QueueClaimParams are the arguments of Store.ClaimQueued.
//
// A record is queued when it is not done, has a non-empty Kind, an empty
// Owner and a zero StartTime. Without Overdue, ClaimQueued claims queued
// records whose RunAfter is not after Now and whose Kind has a positive
// count in Kinds, at most Kinds[kind] of each and Limit in all, and no more
// of a kind than keep the records of that kind that run (not done, with an
// Owner and a StartTime) within GlobalLimits[kind] when it is set. It sets
// their Owner to Owner, StartTime to Now, adds one to Attempt, and returns
// them; they are then held under Owner's lease (see RegisterOwner).
//
// With Overdue, it claims instead up to Limit records that nobody holds
// (not done, Owner empty: queued records of a kind, and operations made
// with Create) whose Deadline is set and not after Now, so that the caller
// ends them: it sets their Owner only.
type QueueClaimParams struct {
	// Owner is the replica that takes the records.
	Owner string
	// Now is the current time, by the caller's clock.
	Now time.Time
	// Kinds is how many records of each kind the caller can run now.
	Kinds map[string]int
	// GlobalLimits caps, per kind, how many records of the kind run at
	// once across every owner, those claimed now included.
	GlobalLimits map[string]int
	// Limit is the most records to claim in all; none when not positive.
	Limit int
	// Overdue claims unheld records past their Deadline instead.
	Overdue bool
}

// Queued reports whether r is queued: not done and not started. Its work
// runs when a slot frees, a replica claims it or its retry is due.
func (r *Record) Queued() bool {
	return r != nil && !r.Done() && r.StartTime.IsZero()
}

// QueueWatcher is implemented by stores that tell the Manager when queued
// work may be waiting: a queued record was created or put back, or a record
// of a kind ended (freeing a slot under a global limit). Without it the
// Manager looks for queued work only when it queues some itself, when its
// own work ends, and on its periodic maintenance tick.
type QueueWatcher interface {
	// WatchQueue calls fn after such a change, until stop is called. fn
	// must be quick and must not call the Store.
	WatchQueue(fn func()) (stop func())
	// NotifyQueue calls the WatchQueue callbacks of every Store sharing
	// this one's data, as after such a change: the Manager calls it when
	// work of a kind with a global limit ends, freeing a slot for any
	// replica. It fails only when the notification cannot be sent.
	NotifyQueue(ctx context.Context) error
}

// OwnedQuery selects records for Store.ListOwned.
type OwnedQuery struct {
	// Owner is the owner whose records are listed.
	Owner string
	// After, when not empty, starts the listing strictly after this name.
	After string
	// Limit is the most records to return; ListOwned returns none when it
	// is not positive.
	Limit int
}

// Poller is implemented by stores whose notifications can be lost, such as
// those that deliver them over a network. The Manager then also re-reads
// records every PollInterval while it waits on them or runs their work:
// the records waited on in one pass for the whole Manager, and, when the
// store is a NotifyHealth, only while its notifications do not flow.
type Poller interface {
	// PollInterval is how often to re-read as a fallback.
	PollInterval() time.Duration
}

// NotifyHealth is implemented by Pollers that know whether their
// notifications flow, so that waiters cost nothing while they do.
type NotifyHealth interface {
	// Notifying reports whether Watch delivers every change now: the store
	// is listening, and the changes it may have missed while it was not
	// have been reported to the watchers since. While it reports true, the
	// Manager does not re-read the records it waits on; a store should
	// report false from the moment it knows its notifications may be lost
	// until it has caught up.
	Notifying() bool
}

// StateReader is implemented by Pollers that read the state of many
// records in one query, for the Manager's fallback re-read of the records
// it waits on.
type StateReader interface {
	// ReadStates returns an Event (Name, Done, CancelRequested) with the
	// current state of each named record that exists; names without a
	// record are left out.
	ReadStates(ctx context.Context, names []string) ([]Event, error)
}

// TokenSecreter is implemented by stores shared between processes, so that
// a page token made by one replica is accepted by another.
type TokenSecreter interface {
	// TokenSecret returns the key that signs page tokens.
	TokenSecret(ctx context.Context) ([]byte, error)
}

// ErrNotOwner means a write meant for running work was refused: the record
// is done already, another replica owns it now, or it was run again since
// (see FinishParams.Attempt).
var ErrNotOwner = errors.New("lro: operation is done or owned by another replica")

// Finisher is implemented by stores that can record the end of work in one
// step, with no read: the Manager then uses it, instead of Update, to finish
// the work it runs. Only the owner writes the Operation message of work it
// runs, so the Manager's copy is current and needs no read-modify-write.
type Finisher interface {
	// Finish stores p.Operation (done, with its result) as the Operation of
	// the record it names, sets UpdateTime to p.UpdateTime and ExpireTime
	// to p.ExpireTime, clears CancelRequested and LeaseExpireTime, and
	// bumps Version, but only if the record is not done, its Owner is
	// p.Owner and its Attempt is p.Attempt. It returns ErrNotFound when no
	// record has the name and ErrNotOwner when the record is done, owned
	// by another, or run again since. Watchers see the change as after
	// Update.
	Finish(ctx context.Context, p FinishParams) error
}

// FinishParams are the arguments of Finisher.Finish.
type FinishParams struct {
	// Owner is the replica that ran the work; Finish writes only while the
	// record is still its own.
	Owner string
	// Attempt is the run of the work that ended (Record.Attempt when it
	// began); Finish writes only while the record is still at that run, so
	// a run that another registration of the same owner id took over and
	// started again cannot finish it.
	Attempt int32
	// Operation is the final Operation message, done and with its result.
	// Its Name is the key of the record to finish.
	Operation *longrunningpb.Operation
	// UpdateTime is the record's new UpdateTime: when the work ended.
	UpdateTime time.Time
	// ExpireTime is when the finished record may be removed.
	ExpireTime time.Time
}

// CancelRequestLister is implemented by stores whose notifications can be
// lost (see Poller), so the Manager's fallback check for cancellations
// costs one query rather than one read per running operation.
type CancelRequestLister interface {
	// ListCancelRequests returns the names of the records that are not
	// done, are owned by owner, and have CancelRequested set.
	ListCancelRequests(ctx context.Context, owner string) ([]string, error)
}
