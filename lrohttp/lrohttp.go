// Package lrohttp serves the google.longrunning.Operations service over
// REST/JSON, following the google.api.http bindings of operations.proto:
//
//	GET    /v1/{name=operations}                 ListOperations (filter, pageSize, pageToken)
//	GET    /v1/{name=operations/**}              GetOperation
//	DELETE /v1/{name=operations/**}              DeleteOperation
//	POST   /v1/{name=operations/**}:cancel       CancelOperation
//	POST   /v1/{name=operations/**}:wait         WaitOperation, body {"timeout": "5s"}
//
// GET and DELETE of /v1/operations/{name}, where {name} is one path
// segment holding a whole operation name with its slashes escaped
// (/v1/operations/operations%2Fabc), are read as those of /v1/{name}:
// Google's Node client (google-gax) in REST fallback mode routes
// GetOperation that way unless its service gives it other routes. Any
// other escaped slash in a path is INVALID_ARGUMENT.
//
// Hosts whose operations live under a parent mount the same routes below
// it with WithPattern, for example WithPattern("projects/*/locations/*")
// adds GET /v1/projects/{p}/locations/{l}/operations and the routes of
// projects/{p}/locations/{l}/operations/**. The text after the prefix is
// passed as the request's name, unchanged.
//
// The handler implements no semantics of its own: every request becomes a
// call to the longrunningpb.OperationsServer it was given (a *lro.Manager or
// any other implementation). Bodies are protojson with lowerCamelCase field
// names; Any values are resolved through a type resolver (by default
// protoregistry.GlobalTypes), and an Any whose type cannot be resolved is
// written as {"@type": url, "value": base64 of its bytes} rather than
// failing the request. Errors are written as Google's REST APIs write them:
//
//	{"error": {"code": 404, "message": "...", "status": "NOT_FOUND", "details": [...]}}
//
// with the HTTP status that google.rpc.Code documents for the gRPC code
// (see HTTPStatus).
//
// A request body is read as JSON when its Content-Type is absent or
// application/json (with any parameters), or when it is
// application/x-www-form-urlencoded and the body is JSON, which is what a
// plain curl -d '{"timeout": "30s"}' sends. Other types (text/xml,
// multipart/form-data, a form body that is not JSON...) get 415.
//
// An empty list is written as {}, as Google's servers write it: the proto3
// JSON mapping leaves out empty repeated fields and empty strings, so there
// is no "operations": [] (Google's own APIs answer an empty list so, see
// googleapis/google-cloud-python#1424 and googleapis/google-cloud-datastore#4;
// api-core's REST transport, the Node fallback and the Go REST client parse
// {} as an empty list). $outputDefaults=true asks for the default values.
//
// # Query parameters
//
// Each route takes its request fields as query parameters, in lowerCamelCase
// or snake_case, each at most once: List takes filter, pageSize, pageToken
// and returnPartialSuccess; the others take none. Every route also takes
// Google's system parameters (https://cloud.google.com/apis/docs/system-parameters),
// in the spellings Google gives (with the leading $, without it, or both):
//
//	alt, $alt                  json (also json;enum-encoding=int); media, proto and sse get 400
//	prettyPrint, $prettyPrint  true (the default, as on Google's servers) or false for compact
//	(and pp)                   JSON; 1, 0, t, f... are accepted too (Google's Node client sends
//	                           $prettyPrint=0)
//	$.xgafv ($apiFormat)       the error format: 2 (the default) or 1; other values get 400.
//	                           Format 1 adds to the error object, after "message", the legacy
//	                           "errors": [{"message", "domain": "global", "reason"}] of Google's
//	                           older APIs, with the reason Google's global-domain error list gives
//	                           for the HTTP status (notFound, badRequest...); the rest is the same
//	$outputDefaults            true writes fields that hold their default value, as protojson's
//	                           EmitUnpopulated does ("done": false, "operations": [], ...)
//	$ct                        overrides the Content-Type header of a request body
//	callback, $callback        JSONP is not supported: 400
//	passwd, password           reserved by Google so that passwords stay out of URLs: 400
//
// and ignores, whatever their value: fields and $fields (partial responses
// are not implemented: the whole message is returned), key, $key,
// access_token, oauth_token, bearer_token, quotaUser, $quotaUser, userIp,
// $userIp, upload_protocol, uploadType, $unique and $apiVersion. A host
// that authenticates callers reads key or access_token itself, in
// WithContextFunc. Any other parameter, and a parameter given twice (also
// in two spellings), gets 400 INVALID_ARGUMENT.
package lrohttp

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// DefaultPrefix is the path prefix the routes are served under unless
// WithPrefix says otherwise.
const DefaultPrefix = "/v1"

// maxBodyBytes bounds request bodies; the largest legitimate body is a
// WaitOperationRequest of a few dozen bytes.
const maxBodyBytes = 1 << 20

// Resolver finds message and extension types for Any values, as
// protoregistry.GlobalTypes does.
type Resolver interface {
	protoregistry.MessageTypeResolver
	protoregistry.ExtensionTypeResolver
}

// Option configures a handler made by NewHandler.
type Option func(*config)

type config struct {
	prefix   string
	patterns []string
	resolver Resolver
	ctxFunc  func(*http.Request) context.Context
}

// WithPattern mounts the routes for operations named under parents that
// match pattern: slash-separated segments, each a literal or "*" (any one
// segment, including the "-" wildcard of List). For example
// "projects/*/locations/*" serves projects/{p}/locations/{l}/operations
// (List) and projects/{p}/locations/{l}/operations/** (Get, Delete, :cancel,
// :wait). The top-level "operations" collection is always served.
// NewHandler panics if pattern is empty or has an empty segment.
func WithPattern(pattern string) Option {
	return func(c *config) { c.patterns = append(c.patterns, pattern) }
}

// WithResolver sets the resolver used to read and write Any values (the
// metadata and response of operations, the details of errors). The default
// is protoregistry.GlobalTypes.
func WithResolver(r Resolver) Option {
	return func(c *config) { c.resolver = r }
}

// WithPrefix serves the routes under prefix instead of DefaultPrefix ("/v1").
// The prefix must start with "/" and must not end with one; "" serves them
// at the root.
func WithPrefix(prefix string) Option {
	return func(c *config) { c.prefix = prefix }
}

// WithContextFunc sets how the context of each call to the Operations
// server is made from the HTTP request, so a host can attach the caller's
// identity (for an authorizer) or outgoing metadata. The function must
// derive the context from r.Context(), so that a client that goes away
// cancels the call (WaitOperation in particular). The default is
// r.Context().
func WithContextFunc(f func(r *http.Request) context.Context) Option {
	return func(c *config) { c.ctxFunc = f }
}

// NewHandler returns an http.Handler that serves srv over REST/JSON as the
// package documentation describes. It panics if an option is invalid (an
// empty pattern or segment, a prefix without a leading slash), as
// regexp.MustCompile does: those are programming errors, not request errors.
func NewHandler(srv longrunningpb.OperationsServer, opts ...Option) http.Handler {
	if srv == nil {
		panic("lrohttp: NewHandler with a nil OperationsServer")
	}
	c := config{prefix: DefaultPrefix, resolver: protoregistry.GlobalTypes}
	for _, o := range opts {
		o(&c)
	}
	h := &handler{srv: srv, cfg: c}
	if c.prefix != "" && (!strings.HasPrefix(c.prefix, "/") || strings.HasSuffix(c.prefix, "/")) {
		panic(fmt.Sprintf("lrohttp: invalid prefix %q: want a leading slash and no trailing one", c.prefix))
	}
	h.patterns = append(h.patterns, nil) // the top-level "operations" collection
	for _, p := range c.patterns {
		segs := strings.Split(strings.Trim(p, "/"), "/")
		for _, s := range segs {
			if s == "" {
				panic(fmt.Sprintf("lrohttp: invalid pattern %q: empty segment", p))
			}
		}
		h.patterns = append(h.patterns, segs)
	}
	h.mo = protojson.MarshalOptions{Resolver: c.resolver}
	h.uo = protojson.UnmarshalOptions{Resolver: c.resolver}
	return h
}

type handler struct {
	srv      longrunningpb.OperationsServer
	cfg      config
	patterns [][]string
	mo       protojson.MarshalOptions
	uo       protojson.UnmarshalOptions
}

// route is what a request path designates.
type route struct {
	name       string // the request's name field
	collection bool   // a List route
	verb       string // "cancel", "wait", or "" for the resource itself
}

// ServeHTTP implements http.Handler.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var sys sysParams
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler { //nolint:errorlint // sentinel compared as net/http does
				panic(v)
			}
			h.writeError(w, sys, status.Errorf(codes.Internal, "lrohttp: internal error serving %s %s", r.Method, r.URL.Path))
		}
	}()

	sys, q, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		h.writeError(w, sys, err)
		return
	}
	rt, err := h.parsePath(r.URL)
	if err != nil {
		h.writeError(w, sys, err)
		return
	}
	allow := "DELETE, GET"
	switch {
	case rt.collection:
		allow = "GET"
	case rt.verb != "":
		allow = "POST"
	}
	method := r.Method
	if !strings.Contains(", "+allow+",", ", "+method+",") {
		w.Header().Set("Allow", allow)
		h.writeError(w, sys, httpError{http.StatusMethodNotAllowed, status.Newf(codes.Unimplemented,
			"method %s is not allowed on %s; allowed: %s", method, r.URL.Path, allow)})
		return
	}
	c := &call{ctx: r.Context(), w: w, r: r, rt: rt, sys: sys, q: q}
	if h.cfg.ctxFunc != nil {
		if ctx := h.cfg.ctxFunc(r); ctx != nil {
			c.ctx = ctx
		}
	}
	switch {
	case rt.collection:
		h.list(c)
	case rt.verb == "cancel":
		h.cancel(c)
	case rt.verb == "wait":
		h.wait(c)
	case method == http.MethodGet:
		h.get(c)
	default:
		h.delete(c)
	}
}

// parsePath maps a URL path to a route, or returns a NOT_FOUND or
// INVALID_ARGUMENT status.
func (h *handler) parsePath(u *url.URL) (route, error) {
	p := u.EscapedPath()
	notFound := status.Errorf(codes.NotFound, "no route for path %q", u.Path)
	if !strings.HasPrefix(p, h.cfg.prefix+"/") {
		return route{}, notFound
	}
	raw := strings.Split(p[len(h.cfg.prefix)+1:], "/")
	segs := make([]string, len(raw))
	for i, s := range raw {
		d, err := url.PathUnescape(s)
		if err != nil {
			return route{}, status.Errorf(codes.InvalidArgument, "invalid escape in path segment %q", s)
		}
		if d == "" {
			return route{}, notFound
		}
		if strings.Contains(d, "/") {
			if rt, ok := h.wholeName(segs[:i], raw[i+1:], d); ok {
				return rt, nil
			}
			return route{}, status.Errorf(codes.InvalidArgument, "path segment %q holds an escaped slash", s)
		}
		segs[i] = d
	}
	rt, ok := h.match(segs)
	if !ok {
		return route{}, notFound
	}
	return rt, nil
}

// wholeName reads the path operations/{name} whose second segment is a
// whole operation name, slashes escaped: Google's Node client (google-gax)
// in REST fallback mode routes GetOperation so by default
// (GET /v1/operations/operations%2Fabc). before are the segments ahead of
// the escaped one, after those behind it, and name the escaped one
// unescaped. It reports whether the path is such a route: the name of an
// operation (not a collection, no verb) that a route serves.
func (h *handler) wholeName(before, after []string, name string) (route, bool) {
	if len(before) != 1 || before[0] != "operations" || len(after) != 0 {
		return route{}, false
	}
	segs := strings.Split(name, "/")
	if slices.Contains(segs, "") {
		return route{}, false
	}
	rt, ok := h.match(segs)
	if !ok || rt.collection || rt.verb != "" {
		return route{}, false
	}
	return rt, true
}

// match maps the unescaped segments of a path below the prefix to a
// route, and reports whether any route has them.
func (h *handler) match(segs []string) (route, bool) {
	var rt route
	last := segs[len(segs)-1]
	if i := strings.LastIndexByte(last, ':'); i >= 0 {
		switch v := last[i+1:]; v {
		case "cancel", "wait":
			rt.verb = v
			last = last[:i]
			if last == "" {
				return route{}, false
			}
			segs[len(segs)-1] = last
		}
	}
	for _, pat := range h.patterns {
		if len(segs) <= len(pat) || segs[len(pat)] != "operations" || !matchSegments(pat, segs[:len(pat)]) {
			continue
		}
		rt.name = strings.Join(segs, "/")
		if len(segs) == len(pat)+1 {
			if rt.verb != "" {
				return route{}, false
			}
			rt.collection = true
		}
		return rt, true
	}
	return route{}, false
}

func matchSegments(pat, segs []string) bool {
	for i, p := range pat {
		if p != "*" && p != segs[i] {
			return false
		}
	}
	return true
}

// HTTPStatus returns the HTTP status code that google.rpc.Code documents
// for the gRPC code c (NOT_FOUND → 404, INVALID_ARGUMENT → 400, ...).
// Unknown codes give 500.
func HTTPStatus(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.Canceled:
		return 499 // Client Closed Request
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	default: // Unknown, Internal, DataLoss and anything newer
		return http.StatusInternalServerError
	}
}
