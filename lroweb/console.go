package lroweb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Watcher is implemented by Operations servers that can report every change
// to an operation, metadata included, as it happens. The console uses it,
// when the server given to New implements it, to push changes to an open
// operation page; otherwise it loops on WaitOperation, which shows
// completion at once but a metadata change only when a wait times out.
//
// WatchOperation authorizes like GetOperation, then calls send with the
// operation's current state and again after each change (changes may be
// coalesced: send sees the latest state). It returns nil after sending a
// done state; NOT_FOUND once the operation is deleted; ctx's status when
// ctx ends; send's error, unchanged, when send fails; and any other error
// as a gRPC status. send is never called concurrently.
type Watcher interface {
	WatchOperation(ctx context.Context, name string, send func(*longrunningpb.Operation) error) error
}

// console is the handler New returns.
type console struct {
	ops    longrunningpb.OperationsServer
	cfg    config
	render renderer
	pages  *template.Template
	assets *assetServer
	mux    *http.ServeMux
}

// New returns the console for ops, to be mounted by the host on its own
// mux, behind its own authentication (see the package documentation). Every
// page and action calls ops with the HTTP request's context. New fails if
// ops is nil or an option is invalid.
func New(ops longrunningpb.OperationsServer, opts ...Option) (http.Handler, error) {
	if ops == nil {
		return nil, errors.New("lroweb: New: nil OperationsServer")
	}
	cfg := config{
		resolver:    protoregistry.GlobalTypes,
		pageSize:    DefaultPageSize,
		waitTimeout: DefaultWaitTimeout,
		title:       "Operations",
	}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.csrf == nil {
		cfg.csrf = http.NewCrossOriginProtection()
	}
	assets, err := newAssetServer()
	if err != nil {
		return nil, err
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	c := &console{ops: ops, cfg: cfg, render: newRenderer(cfg.resolver), pages: pages, assets: assets, mux: http.NewServeMux()}
	cfg.csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.errorPage(w, r, http.StatusForbidden, "CROSS_ORIGIN", "This request came from another site, so it was refused. Use the console's own buttons.")
	}))
	c.mux.HandleFunc("GET /{$}", c.list)
	c.mux.HandleFunc("GET /op/{name...}", c.operation)
	c.mux.HandleFunc("GET /events/{name...}", c.events)
	c.mux.Handle("POST /cancel/{name...}", cfg.csrf.Handler(http.HandlerFunc(c.cancel)))
	c.mux.Handle("POST /delete/{name...}", cfg.csrf.Handler(http.HandlerFunc(c.delete)))
	c.mux.Handle("GET /static/", assets)
	c.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.errorPage(w, r, http.StatusNotFound, "NOT_FOUND", "There is no page here.")
	})
	return c, nil
}

// contentSecurityPolicy allows the console's own script, style and images
// and nothing else: no inline script or style, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// ServeHTTP serves the console. Mounted under a prefix, it expects the
// prefix stripped (http.StripPrefix); it makes every link relative, so it
// needs to know nothing about the prefix.
func (c *console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	if !strings.HasPrefix(r.URL.Path, "/") {
		// StripPrefix("/console/") leaves "op/x": put the slash back.
		r2 := *r
		u := *r.URL
		u.Path = "/" + u.Path
		if u.RawPath != "" {
			u.RawPath = "/" + u.RawPath
		}
		r2.URL = &u
		r = &r2
	}
	c.mux.ServeHTTP(w, r)
}

// base returns the relative URL of the console's root as seen from r's
// page, such as "./" or "../../".
func base(r *http.Request) string {
	depth := strings.Count(r.URL.EscapedPath(), "/") - 1
	if depth <= 0 {
		return "./"
	}
	return strings.Repeat("../", depth)
}

// opPath returns an operation name as a URL path, each segment escaped.
func opPath(name string) string {
	segs := strings.Split(name, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// page is what every page template gets.
type page struct {
	Title string // the page's own title
	Brand string
	Base  string
	CSS   string
	JS    string
	Icon  string
}

func (c *console) page(r *http.Request, title string) page {
	b := base(r)
	return page{
		Title: title, Brand: c.cfg.title, Base: b,
		CSS: b + c.assets.url("console.css"), JS: b + c.assets.url("console.js"), Icon: b + c.assets.url("favicon.svg"),
	}
}

// html renders the template named name with data, as the status code.
func (c *console) html(w http.ResponseWriter, code int, name string, data any) {
	var buf bytes.Buffer
	if err := c.pages.ExecuteTemplate(&buf, name, data); err != nil {
		http.Error(w, fmt.Sprintf("lroweb: rendering %s: %v", name, err), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}
