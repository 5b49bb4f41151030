// Package lrohttp serves the google.longrunning.Operations service over
// REST/JSON, following the google.api.http bindings of operations.proto:
//
//	GET    /v1/{name=operations}                 ListOperations (filter, pageSize, pageToken)
//	GET    /v1/{name=operations/**}              GetOperation
//	DELETE /v1/{name=operations/**}              DeleteOperation
//	POST   /v1/{name=operations/**}:cancel       CancelOperation
//	POST   /v1/{name=operations/**}:wait         WaitOperation, body {"timeout": "5s"}
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
package lrohttp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
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
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler { //nolint:errorlint // sentinel compared as net/http does
				panic(v)
			}
			h.writeError(w, status.Errorf(codes.Internal, "lrohttp: internal error serving %s %s", r.Method, r.URL.Path))
		}
	}()

	rt, err := h.parsePath(r.URL)
	if err != nil {
		h.writeError(w, err)
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
		h.writeHTTPError(w, http.StatusMethodNotAllowed, codes.Unimplemented,
			fmt.Sprintf("method %s is not allowed on %s; allowed: %s", method, r.URL.Path, allow))
		return
	}
	ctx := r.Context()
	if h.cfg.ctxFunc != nil {
		if c := h.cfg.ctxFunc(r); c != nil {
			ctx = c
		}
	}
	switch {
	case rt.collection:
		h.list(ctx, w, r, rt)
	case rt.verb == "cancel":
		h.cancel(ctx, w, r, rt)
	case rt.verb == "wait":
		h.wait(ctx, w, r, rt)
	case method == http.MethodGet:
		h.get(ctx, w, r, rt)
	default:
		h.delete(ctx, w, r, rt)
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
			return route{}, status.Errorf(codes.InvalidArgument, "path segment %q holds an escaped slash", s)
		}
		segs[i] = d
	}
	var rt route
	last := segs[len(segs)-1]
	if i := strings.LastIndexByte(last, ':'); i >= 0 {
		switch v := last[i+1:]; v {
		case "cancel", "wait":
			rt.verb = v
			last = last[:i]
			if last == "" {
				return route{}, notFound
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
				return route{}, notFound
			}
			rt.collection = true
		}
		return rt, nil
	}
	return route{}, notFound
}

func matchSegments(pat, segs []string) bool {
	for i, p := range pat {
		if p != "*" && p != segs[i] {
			return false
		}
	}
	return true
}

// query reads the query string, allowing only the given parameters (each
// at most once, in lowerCamelCase or snake_case) plus the system parameter
// alt=json.
func query(r *http.Request, allowed ...string) (map[string]string, error) {
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "malformed query string: %v", err)
	}
	out := make(map[string]string, len(vals))
	for k, vs := range vals {
		if len(vs) != 1 {
			return nil, status.Errorf(codes.InvalidArgument, "query parameter %q given %d times", k, len(vs))
		}
		if k == "alt" || k == "$alt" {
			// Google's REST clients send "$alt=json;enum-encoding=int";
			// the Operations messages have no enums, so both forms match.
			if v, _, _ := strings.Cut(vs[0], ";"); v != "json" {
				return nil, status.Errorf(codes.InvalidArgument, "unsupported %s=%q: only json is served", k, vs[0])
			}
			continue
		}
		canon := ""
		for _, a := range allowed {
			if k == a || k == snake(a) {
				canon = a
			}
		}
		if canon == "" {
			return nil, status.Errorf(codes.InvalidArgument, "unknown query parameter %q", k)
		}
		if _, dup := out[canon]; dup {
			return nil, status.Errorf(codes.InvalidArgument, "query parameter %q given twice", canon)
		}
		out[canon] = vs[0]
	}
	return out, nil
}

// snake turns a lowerCamelCase parameter name into its proto (snake_case)
// spelling, which is accepted too.
func snake(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c >= 'A' && c <= 'Z' {
			b.WriteByte('_')
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (h *handler) list(ctx context.Context, w http.ResponseWriter, r *http.Request, rt route) {
	q, err := query(r, "filter", "pageSize", "pageToken", "returnPartialSuccess")
	if err != nil {
		h.writeError(w, err)
		return
	}
	req := &longrunningpb.ListOperationsRequest{Name: rt.name, Filter: q["filter"], PageToken: q["pageToken"]}
	if s, ok := q["pageSize"]; ok {
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			h.writeError(w, status.Errorf(codes.InvalidArgument, "pageSize %q is not a 32-bit integer", s))
			return
		}
		req.PageSize = int32(n)
	}
	if s, ok := q["returnPartialSuccess"]; ok {
		b, err := strconv.ParseBool(s)
		if err != nil {
			h.writeError(w, status.Errorf(codes.InvalidArgument, "returnPartialSuccess %q is not a boolean", s))
			return
		}
		req.ReturnPartialSuccess = b
	}
	resp, err := h.srv.ListOperations(ctx, req)
	if err != nil {
		h.writeError(w, err)
		return
	}
	out := listJSON{NextPageToken: resp.GetNextPageToken(), Unreachable: resp.GetUnreachable()}
	out.Operations = make([]*operationJSON, 0, len(resp.GetOperations()))
	for _, op := range resp.GetOperations() {
		out.Operations = append(out.Operations, h.operation(op))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) get(ctx context.Context, w http.ResponseWriter, r *http.Request, rt route) {
	if _, err := query(r); err != nil {
		h.writeError(w, err)
		return
	}
	op, err := h.srv.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: rt.name})
	if err != nil {
		h.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, h.operation(op))
}

func (h *handler) delete(ctx context.Context, w http.ResponseWriter, r *http.Request, rt route) {
	if _, err := query(r); err != nil {
		h.writeError(w, err)
		return
	}
	if _, err := h.srv.DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: rt.name}); err != nil {
		h.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// namedRequest is a request body that may repeat the name in the path.
type namedRequest interface {
	proto.Message
	GetName() string
}

// readNamedBody reads the body into req and checks that a name it gives
// is the one in the path.
func (h *handler) readNamedBody(r *http.Request, rt route, req namedRequest) error {
	if err := h.readBody(r, req); err != nil {
		return err
	}
	if n := req.GetName(); n != "" && n != rt.name {
		return status.Errorf(codes.InvalidArgument, "body name %q differs from the name in the path %q", n, rt.name)
	}
	return nil
}

func (h *handler) cancel(ctx context.Context, w http.ResponseWriter, r *http.Request, rt route) {
	req := &longrunningpb.CancelOperationRequest{}
	if err := h.readNamedBody(r, rt, req); err != nil {
		h.writeError(w, err)
		return
	}
	req.Name = rt.name
	if _, err := h.srv.CancelOperation(ctx, req); err != nil {
		h.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (h *handler) wait(ctx context.Context, w http.ResponseWriter, r *http.Request, rt route) {
	req := &longrunningpb.WaitOperationRequest{}
	if err := h.readNamedBody(r, rt, req); err != nil {
		h.writeError(w, err)
		return
	}
	req.Name = rt.name
	op, err := h.srv.WaitOperation(ctx, req)
	if err != nil {
		h.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, h.operation(op))
}

// readBody decodes a JSON request body into m. An empty body leaves m as it
// is. Query parameters are refused: the bindings put everything in the body.
//
// The body is read as JSON when its Content-Type is missing or is
// application/json (whatever its parameters), and also when it is
// application/x-www-form-urlencoded but the body is JSON: that is what
// "curl -d '{...}'" sends. Any other type, and a form body that is not
// JSON, is refused with 415 Unsupported Media Type.
func (h *handler) readBody(r *http.Request, m proto.Message) error {
	if _, err := query(r); err != nil {
		return err
	}
	ct := r.Header.Get("Content-Type")
	form := false
	if ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		switch {
		case err != nil:
			return unsupportedType(ct)
		case mt == "application/json":
		case mt == "application/x-www-form-urlencoded":
			form = true
		default:
			return unsupportedType(ct)
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "reading request body: %v", err)
	}
	if len(body) > maxBodyBytes {
		return httpError{http.StatusRequestEntityTooLarge, status.Newf(codes.InvalidArgument, "request body larger than %d bytes", maxBodyBytes)}
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	if form && !json.Valid(body) {
		return httpError{http.StatusUnsupportedMediaType, status.Newf(codes.InvalidArgument,
			"unsupported Content-Type %q: the body is not JSON; send JSON, with Content-Type application/json", ct)}
	}
	if err := h.uo.Unmarshal(body, m); err != nil {
		return status.Errorf(codes.InvalidArgument, "malformed request body: %v", err)
	}
	return nil
}

// unsupportedType is the 415 error for a request body of a type other than
// JSON.
func unsupportedType(ct string) error {
	return httpError{http.StatusUnsupportedMediaType, status.Newf(codes.InvalidArgument, "unsupported Content-Type %q: want application/json", ct)}
}

// operationJSON is the JSON form of longrunningpb.Operation. It is built by
// hand, rather than by protojson alone, so that an Any of an unknown type
// degrades to its type URL and bytes instead of failing the whole answer.
type operationJSON struct {
	Name     string          `json:"name,omitempty"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
	Done     bool            `json:"done,omitempty"`
	Error    *statusJSON     `json:"error,omitempty"`
	Response json.RawMessage `json:"response,omitempty"`
}

// statusJSON is the JSON form of google.rpc.Status.
type statusJSON struct {
	Code    int32             `json:"code,omitempty"`
	Message string            `json:"message,omitempty"`
	Details []json.RawMessage `json:"details,omitempty"`
}

type listJSON struct {
	Operations    []*operationJSON `json:"operations,omitempty"`
	NextPageToken string           `json:"nextPageToken,omitempty"`
	Unreachable   []string         `json:"unreachable,omitempty"`
}

func (h *handler) operation(op *longrunningpb.Operation) *operationJSON {
	out := &operationJSON{Name: op.GetName(), Done: op.GetDone()}
	if md := op.GetMetadata(); md != nil {
		out.Metadata = h.any(md)
	}
	switch res := op.GetResult().(type) {
	case *longrunningpb.Operation_Error:
		out.Error = h.status(res.Error)
	case *longrunningpb.Operation_Response:
		out.Response = h.any(res.Response)
	}
	return out
}

func (h *handler) status(s *spb.Status) *statusJSON {
	out := &statusJSON{Code: s.GetCode(), Message: s.GetMessage()}
	for _, d := range s.GetDetails() {
		out.Details = append(out.Details, h.any(d))
	}
	return out
}

// any writes a as protojson does, or, when its type is unknown to the
// resolver (or its bytes do not parse), as its type URL and base64 bytes.
func (h *handler) any(a *anypb.Any) json.RawMessage {
	if b, err := h.mo.Marshal(a); err == nil {
		return b
	}
	b, err := json.Marshal(struct {
		Type  string `json:"@type"`
		Value string `json:"value"`
	}{a.GetTypeUrl(), base64.StdEncoding.EncodeToString(a.GetValue())})
	if err != nil { // cannot happen for two strings
		return json.RawMessage(`{}`)
	}
	return b
}
