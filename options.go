package lro

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Defaults of a Manager.
const (
	DefaultRetention   = 30 * 24 * time.Hour
	DefaultMaxWait     = 5 * time.Minute
	DefaultPageSize    = 50
	DefaultMaxPageSize = 1000
	// DefaultListScanBudget is how many operations one List call may
	// examine unless WithListScanBudget says otherwise.
	DefaultListScanBudget = 10_000
	// DefaultListPageBytes is the most bytes of operations one List page
	// holds unless WithListPageBytes says otherwise: well under the 4 MiB
	// that gRPC clients receive by default.
	DefaultListPageBytes = 3 << 20
	DefaultLease         = 30 * time.Second
	// DefaultMaxPayloadSize caps metadata, responses, error statuses and
	// stored requests (see WithMaxPayloadSize): well under the 4 MiB a
	// gRPC client receives by default, with room for both the metadata
	// and the result of one operation.
	DefaultMaxPayloadSize = 1 << 20
	// DefaultCloseGrace is how long Close waits, once its context has
	// ended, for cancelled work to return (see WithCloseGrace).
	DefaultCloseGrace = 5 * time.Second
	// minMaxPayloadSize is the smallest cap WithMaxPayloadSize accepts:
	// room for the statuses the library writes itself.
	minMaxPayloadSize  = 1 << 10
	defaultSweepPeriod = time.Minute
	sweepBatch         = 1000
)

// The methods an Authorizer is asked about.
const (
	MethodGet    = "google.longrunning.Operations/GetOperation"
	MethodList   = "google.longrunning.Operations/ListOperations"
	MethodWait   = "google.longrunning.Operations/WaitOperation"
	MethodCancel = "google.longrunning.Operations/CancelOperation"
	MethodDelete = "google.longrunning.Operations/DeleteOperation"
)

// Authorizer decides whether the caller in ctx may call method on name:
// an operation name, or for List the collection as the request gave it.
// It returns nil to allow, or an error whose gRPC status (PERMISSION_DENIED,
// or NOT_FOUND to hide that the operation exists) the RPC returns. An error
// without a status counts as PERMISSION_DENIED.
//
// When List is asked for every operation (an empty name), the Authorizer is
// also asked about each operation with MethodGet, and the operations it
// denies are left out. At most WithListScanBudget operations are asked
// about per List call.
//
// The Manager never calls the Authorizer while it or its Store holds a
// lock or a database connection, so an Authorizer may read and write the
// Store and call the Manager's methods (GetOperation for an ownership
// check, say), with ctx or a context of its own. It must be safe for
// concurrent use. The Manager asks it about its own calls too, so an
// Authorizer that calls the Manager must end the recursion itself, for
// example by marking its calls' context. It should return promptly: List
// waits for it.
type Authorizer func(ctx context.Context, method, name string) error

// ErrorMapper turns an error returned by work into the status the
// operation ends with. It returns nil to use the default: the error's own
// gRPC status if it has one, otherwise UNKNOWN with the error's message.
// Whatever status it returns is made fit to store: text that is not valid
// UTF-8 gets U+FFFD in place of the invalid bytes, details whose type URL
// is not valid UTF-8 are dropped, and a status over the payload cap
// (WithMaxPayloadSize) loses its details, then the end of its message.
type ErrorMapper func(error) *status.Status

// TypeResolver finds message types by type URL, to evaluate filters on the
// fields of metadata and responses. *protoregistry.Types satisfies it.
type TypeResolver interface {
	FindMessageByURL(url string) (protoreflect.MessageType, error)
}

// An Option configures a Manager.
type Option func(*config) error

type config struct {
	store       Store
	retention   time.Duration
	maxWait     time.Duration
	pageSize    int
	maxPageSize int
	authorize   Authorizer
	mapError    ErrorMapper
	logger      *slog.Logger
	clock       Clock
	resolver    TypeResolver
	owner       string
	lease       time.Duration
	sweepPeriod time.Duration
	tokenKey    []byte
	errorDomain string
	stdMeta     bool
	maxRunning  int // -1: no limit
	maxPayload  int
	closeGrace  time.Duration

	meterProvider  metric.MeterProvider // nil: the global one
	tracerProvider trace.TracerProvider // nil: the global one
	noTelemetry    bool                 // tests only: no observer at all
	scanBudget     int                  // 0: DefaultListScanBudget
	pageBytes      int                  // 0: DefaultListPageBytes
}

// WithStore sets where operations are kept. The default is a new
// MemoryStore. The Manager does not close the store. New fails if s is nil.
func WithStore(s Store) Option {
	return func(c *config) error {
		if s == nil {
			return fmt.Errorf("lro: WithStore: nil store")
		}
		c.store = s
		return nil
	}
}

// WithRetention sets how long done operations are kept before they are
// removed (default 30 days). New fails unless d is positive.
func WithRetention(d time.Duration) Option {
	return positive("WithRetention", d, func(c *config) *time.Duration { return &c.retention })
}

// WithMaxWait caps how long one WaitOperation call blocks (default 5
// minutes), whatever timeout the client asks for. New fails unless d is
// positive.
func WithMaxWait(d time.Duration) Option {
	return positive("WithMaxWait", d, func(c *config) *time.Duration { return &c.maxWait })
}

// positive is an option that sets the duration field picks out to d, and
// fails, naming the option, unless d is positive.
func positive(option string, d time.Duration, field func(*config) *time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("lro: %s: %v is not positive", option, d)
		}
		*field(c) = d
		return nil
	}
}

// WithPageSize sets List's default page size (used when the request asks
// for 0; DefaultPageSize unless set) and its maximum (larger requests are
// capped to it; DefaultMaxPageSize unless set). It fails unless
// 0 < defaultSize <= maxSize.
func WithPageSize(defaultSize, maxSize int) Option {
	return func(c *config) error {
		if defaultSize <= 0 || maxSize < defaultSize {
			return fmt.Errorf("lro: WithPageSize(%d, %d): need 0 < default <= max", defaultSize, maxSize)
		}
		c.pageSize, c.maxPageSize = defaultSize, maxSize
		return nil
	}
}

// WithListScanBudget bounds the work of one ListOperations call: it
// examines at most n operations of the listed collection, matching or not,
// and then returns the page it has, with a next_page_token where the next
// call resumes. A page may therefore hold fewer operations than page_size,
// or none, before the listing ends (AIP-158 allows it); only the last page
// has no token. The default is DefaultListScanBudget. New fails unless n is
// positive.
func WithListScanBudget(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("lro: WithListScanBudget: %d is not positive", n)
		}
		c.scanBudget = n
		return nil
	}
}

// WithListPageBytes bounds the size of one ListOperations page: a page
// ends early, with a next_page_token, before its operations would exceed
// n bytes of wire encoding. A page always holds at least one operation, so
// keep payloads capped well below the clients' receive limit (4 MiB by
// default for gRPC). The default is DefaultListPageBytes. New fails unless
// n is positive.
func WithListPageBytes(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("lro: WithListPageBytes: %d is not positive", n)
		}
		c.pageBytes = n
		return nil
	}
}

// WithAuthorizer checks every RPC with a (see Authorizer).
func WithAuthorizer(a Authorizer) Option {
	return func(c *config) error { c.authorize = a; return nil }
}

// WithErrorMapper sets how errors returned by work become statuses.
func WithErrorMapper(f ErrorMapper) Option {
	return func(c *config) error { c.mapError = f; return nil }
}

// WithLogger sets the logger for failures the Manager cannot return to a
// caller, such as a lost completion. The default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error { c.logger = l; return nil }
}

// WithClock replaces the system clock, so that a host's tests can drive
// leases, sweeps and waits with a fake clock such as lrotest.Clock. A nil
// clock means the system clock.
func WithClock(clk Clock) Option {
	return func(c *config) error { c.clock = clk; return nil }
}

// WithTypeResolver sets how filters find metadata and response types
// (default protoregistry.GlobalTypes).
func WithTypeResolver(r TypeResolver) Option {
	return func(c *config) error { c.resolver = r; return nil }
}

// WithOwner names this Manager among the replicas sharing a Store; the
// default is a random id. Operations it runs carry the name as their owner,
// and share its owner lease (see WithLease).
//
// An id belongs to one live Manager per store at a time: New fails with an
// error naming the id (wrapping ErrOwnerTaken) while another Manager holds
// it, that is until that Manager closes, or, if it died, until its lease
// lapses. A Manager that takes over the id of one that died also takes
// back the operations it left: registered work runs again, the rest ends
// with UNAVAILABLE. A stable id (a pod name) therefore lets a restarted
// replica resume its own work. New fails if id is empty.
func WithOwner(id string) Option {
	return func(c *config) error {
		if id == "" {
			return fmt.Errorf("lro: WithOwner: empty id")
		}
		c.owner = id
		return nil
	}
}

// WithLease sets how long a replica's owner lease, its claim on all the
// work it runs, lasts without renewal (default 30 s). It renews every
// third of that, with one write to the store however much work it runs; a
// shared store judges the lease by its own clock. Another replica takes
// over the operations of an owner whose lease lapsed. A replica that
// cannot renew before its lease runs out cancels all its work (see
// WorkFunc), then registers again. New fails unless d is positive.
func WithLease(d time.Duration) Option {
	return positive("WithLease", d, func(c *config) *time.Duration { return &c.lease })
}

// WithSweepPeriod sets how often expired operations are removed from the
// store (default one minute). Expired operations are NOT_FOUND at once,
// whether or not a sweep has removed them yet. New fails unless d is
// positive.
func WithSweepPeriod(d time.Duration) Option {
	return positive("WithSweepPeriod", d, func(c *config) *time.Duration { return &c.sweepPeriod })
}

// WithPageTokenKey sets the key that signs page tokens. Replicas that
// share a store must share the key unless the store provides one
// (TokenSecreter); the default is a random key per Manager. New fails if
// key is shorter than 16 bytes.
func WithPageTokenKey(key []byte) Option {
	return func(c *config) error {
		if len(key) < 16 {
			return fmt.Errorf("lro: WithPageTokenKey: key shorter than 16 bytes")
		}
		c.tokenKey = append([]byte(nil), key...)
		return nil
	}
}

// WithErrorDomain sets the domain of the google.rpc.ErrorInfo that every
// error status the library makes carries (AIP-193; see the Reason
// constants): the name of the host's service, such as
// "library.example.com". The default is DefaultErrorDomain. New fails if
// domain is empty.
func WithErrorDomain(domain string) Option {
	return func(c *config) error {
		if domain == "" {
			return fmt.Errorf("lro: WithErrorDomain: empty domain")
		}
		c.errorDomain = domain
		return nil
	}
}

// WithMaxRunning runs at most n work functions at once in this Manager.
// Starts beyond the limit are recorded at once (done=false) and wait, FIFO,
// until a slot frees; they are visible to Get, List, Wait, Cancel and
// Delete meanwhile. WithMaxRunning(0) makes an accept-only replica: it
// records operations of registered kinds for the replicas sharing its
// store to run, and refuses Start with FAILED_PRECONDITION, since a work
// function cannot move to another replica. The limit holds for work taken
// over from a replica whose lease lapsed too: without a free slot, that
// work waits in the queue. The default is no limit. New fails if n is
// negative.
func WithMaxRunning(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("lro: WithMaxRunning: %d is negative", n)
		}
		c.maxRunning = n
		return nil
	}
}

// WithMaxPayloadSize caps, at n bytes of encoding each, the metadata, the
// response or error and the stored request of an operation (default
// DefaultMaxPayloadSize, 1 MiB), so that an operation always fits in a
// gRPC client's 4 MiB default receive limit. Start, StartKind, Create,
// SetMetadata, Op.SetMetadata and Complete fail with INVALID_ARGUMENT
// beyond it (reason PAYLOAD_TOO_LARGE). Work whose response is larger ends its operation with
// INTERNAL saying so: the client did nothing wrong and retrying will not
// help, so RESOURCE_EXHAUSTED, which invites a retry later, would
// mislead. An error status larger than the cap (from the work, Fail or an
// ErrorMapper) keeps its code and loses its details, then the end of its
// message. New fails unless n is at least 1024.
func WithMaxPayloadSize(n int) Option {
	return func(c *config) error {
		if n < minMaxPayloadSize {
			return fmt.Errorf("lro: WithMaxPayloadSize: %d is less than %d bytes", n, minMaxPayloadSize)
		}
		c.maxPayload = n
		return nil
	}
}

// WithStandardMetadata makes the Manager keep the standard fields of
// Google's OperationMetadata current in the host's metadata messages
// (AIP-151), when the message has them, matched by name and type:
//
//	field                    type                       kept as
//	create_time              google.protobuf.Timestamp  the operation's creation time, when unset: at Start/StartKind/Create, and on every SetMetadata
//	end_time                 google.protobuf.Timestamp  when the operation ended, when unset: success, failure, cancellation, shutdown, abandonment
//	requested_cancellation   bool                       true once CancelOperation was called (also on later SetMetadata)
//	cancel_requested         bool                       the same, under the name some APIs use
//
// A time the host set itself is kept. target, verb, status_message,
// status_detail and api_version stay the host's to fill: only it knows
// them. The metadata's type is found with the Manager's TypeResolver
// (WithTypeResolver); metadata whose type it cannot resolve or decode is
// left as it is. Without this option metadata is stored exactly as given.
// The option costs a decode and an encode of the metadata per write.
func WithStandardMetadata() Option {
	return func(c *config) error { c.stdMeta = true; return nil }
}

// WithCloseGrace sets how long Close waits, once its context has ended and
// the work's contexts are cancelled, for the work to return and record its
// end (default DefaultCloseGrace, 5 s); see Close for what happens to work
// still running then. New fails unless d is positive.
func WithCloseGrace(d time.Duration) Option {
	return positive("WithCloseGrace", d, func(c *config) *time.Duration { return &c.closeGrace })
}

// A StartOption configures one operation made by Start, StartKind or
// Create.
type StartOption func(*startConfig)

type startConfig struct {
	metadata   proto.Message
	parent     string
	requestID  string
	timeout    time.Duration
	startAfter time.Time // WithStartAfter
	err        error     // the first option that refused its value
}

// WithTimeout ends the operation with DEADLINE_EXCEEDED d after it was
// created, time spent queued included, if it is not done by then: the
// work's context is cancelled at that moment and a result it returns later
// is dropped. It overrides the kind's KindTimeout. Start fails with
// INVALID_ARGUMENT unless d is positive.
func WithTimeout(d time.Duration) StartOption {
	return func(c *startConfig) {
		if d <= 0 && c.err == nil {
			c.err = fmt.Errorf("WithTimeout: %v is not positive", d)
		}
		c.timeout = d
	}
}

// WithMetadata sets the operation's initial metadata.
func WithMetadata(md proto.Message) StartOption {
	return func(c *startConfig) { c.metadata = md }
}

// WithParent places the operation under parent, naming it
// "{parent}/operations/{id}". Without it the name is "operations/{id}".
func WithParent(parent string) StartOption {
	return func(c *startConfig) { c.parent = parent }
}

// WithRequestID makes the start idempotent (AIP-155): a second start with
// the same request id under the same parent returns the first operation
// and does not run the work again, even when both calls race.
func WithRequestID(id string) StartOption {
	return func(c *startConfig) { c.requestID = id }
}
