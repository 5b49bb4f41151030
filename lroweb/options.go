package lroweb

import (
	"fmt"
	"net/http"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Defaults of a console.
const (
	DefaultPageSize    = 50
	DefaultWaitTimeout = 15 * time.Second
)

// TypeResolver finds message types by type URL, to decode the metadata,
// responses and error details of operations. *protoregistry.Types and
// lro.TypeResolver values satisfy it. Give the console the same resolver
// as the Manager (lro.WithTypeResolver), so that what a filter can see the
// console can show.
type TypeResolver interface {
	FindMessageByURL(url string) (protoreflect.MessageType, error)
}

// An Option configures a console made by New. An invalid option makes New
// fail.
type Option func(*config) error

type config struct {
	resolver     TypeResolver
	collection   string
	pageSize     int32
	waitTimeout  time.Duration
	queuedFilter string
	csrf         *http.CrossOriginProtection
	title        string
}

// WithResolver sets how Any values are decoded (default
// protoregistry.GlobalTypes). Types it does not know are shown as their
// type URL and base64 bytes.
func WithResolver(r TypeResolver) Option {
	return func(c *config) error {
		if r == nil {
			return fmt.Errorf("lroweb: WithResolver: nil resolver")
		}
		c.resolver = r
		return nil
	}
}

// WithCollection sets the name the list page passes to ListOperations: ""
// (the default: every operation the caller may see), "operations",
// "{parent}/operations" or a parent, as the Operations server accepts.
func WithCollection(name string) Option {
	return func(c *config) error { c.collection = name; return nil }
}

// WithPageSize sets how many operations a list page shows (default 50);
// the server may cap it.
func WithPageSize(n int) Option {
	return func(c *config) error {
		if n <= 0 || n > 1000 {
			return fmt.Errorf("lroweb: WithPageSize(%d): need 1 to 1000", n)
		}
		c.pageSize = int32(n)
		return nil
	}
}

// WithWaitTimeout sets the timeout of each WaitOperation call that drives
// an operation page's live updates when the server is not a Watcher
// (default 15 s). Without a Watcher a metadata change shows up within this
// time; completion shows at once.
func WithWaitTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("lroweb: WithWaitTimeout: %v is not positive", d)
		}
		c.waitTimeout = d
		return nil
	}
}

// WithQueuedFilter enables the "queued" state chip: filter is the AIP-160
// filter that selects the operations still waiting for a slot, in the
// dialect of the Operations server. The "running" chip then selects
// `done = false AND NOT (filter)`. Without it, the queued chip is shown
// disabled and "running" means not done.
func WithQueuedFilter(filter string) Option {
	return func(c *config) error {
		if filter == "" {
			return fmt.Errorf("lroweb: WithQueuedFilter: empty filter")
		}
		c.queuedFilter = filter
		return nil
	}
}

// WithCrossOriginProtection replaces the check that refuses cross-origin
// Cancel and Delete requests (default: http.NewCrossOriginProtection(), which
// trusts only same-origin requests); use it to trust more origins.
func WithCrossOriginProtection(p *http.CrossOriginProtection) Option {
	return func(c *config) error {
		if p == nil {
			return fmt.Errorf("lroweb: WithCrossOriginProtection: nil")
		}
		c.csrf = p
		return nil
	}
}

// WithTitle sets the name shown in the header and the page titles (default
// "Operations").
func WithTitle(title string) Option {
	return func(c *config) error { c.title = title; return nil }
}
