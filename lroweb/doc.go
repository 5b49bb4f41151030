// Package lroweb is a web console for long-running operations: an
// http.Handler that lists, shows, follows, cancels and deletes the
// operations of any google.longrunning Operations server, such as an
// *lro.Manager.
//
// # Mounting
//
// A host mounts the console on its own mux, behind its own authentication,
// with the prefix stripped:
//
//	console, err := lroweb.New(manager, lroweb.WithResolver(types))
//	if err != nil { ... }
//	mux.Handle("/console/", requireOperator(http.StripPrefix("/console", console)))
//
// Every link the console writes is relative, so it works under any prefix
// (http.StripPrefix("/console") and http.StripPrefix("/console/") both
// work) and behind a reverse proxy that rewrites paths.
//
// # Authorization
//
// The console has no authority of its own: every page and action is a call
// to the Operations server (ListOperations, GetOperation, WaitOperation,
// CancelOperation, DeleteOperation) with the HTTP request's context. An
// lro.Manager's Authorizer therefore decides, as for any other client. To
// tell the Authorizer who is asking, the host's authentication middleware
// puts the caller's identity in the request's context
// (r.WithContext(context.WithValue(...))); the Authorizer reads it back
// from the ctx it is given. A denial is shown as a page with the RPC's
// status: PERMISSION_DENIED answers 403, NOT_FOUND 404, INVALID_ARGUMENT
// 400, and so on as google.rpc.Code documents (lrohttp.HTTPStatus).
//
// # Pages
//
// The list page (the console's root) shows the operations newest first, a
// page at a time through ListOperations' page tokens, with an AIP-160
// filter box and state chips. A chip adds a filter to what the user typed
// (typed AND chip):
//
//	running     done = false
//	succeeded   done = true AND NOT error:*
//	failed      error:* AND error.code != CANCELLED
//	cancelled   error.code = CANCELLED
//	queued      disabled, unless WithQueuedFilter gives its filter
//
// An operation's page (op/{name}) shows its state, the times found in its
// metadata and response (create_time, start_time, update_time, end_time,
// ...), its metadata and its response or error as JSON (Any values decoded
// through the resolver, with proto field names as filters spell them; a
// type the resolver does not know is shown as its type URL and base64
// bytes), and a progress bar when the metadata has a numeric
// progress_percent (or percent_complete, ...) field, at its top level or in
// a "progress" message.
//
// # Live updates
//
// An open operation page follows the operation through server-sent events
// (events/{name}) until it is done; the browser never polls. When the
// Operations server implements Watcher (a *lro.Manager does), every change, metadata included,
// is pushed as it happens. Otherwise the console loops on WaitOperation,
// which returns at completion or deletion at once and shows metadata
// changes each time a wait times out (WithWaitTimeout). The stream ends
// when the client goes away; the console starts no goroutine of its own.
// Under an http.Server with a WriteTimeout, the event stream clears its
// own write deadline.
//
// # Shutting down
//
// An open operation page holds its event stream until the operation is
// done or the page closes, and http.Server.Shutdown waits for open
// requests. End the console's streams at shutdown by cancelling their
// requests' context, for example:
//
//	stop, endStreams := context.WithCancel(context.Background())
//	srv.RegisterOnShutdown(endStreams)
//	mux.Handle("/console/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
//		ctx, cancel := context.WithCancel(r.Context())
//		defer cancel()
//		defer context.AfterFunc(stop, cancel)()
//		console.ServeHTTP(w, r.WithContext(ctx))
//	}))
//
// (with the console wrapped in http.StripPrefix). The browser reconnects
// to another replica, or to this one when it is back.
//
// # Cancel and Delete
//
// Both are POST forms asking for confirmation: the page's script asks in a
// dialog; without script, the server answers an unconfirmed POST with a
// confirmation page. Cross-site requests are refused by
// http.CrossOriginProtection (Sec-Fetch-Site and Origin checks), so no
// CSRF token is needed; WithCrossOriginProtection trusts more origins.
//
// # Security
//
// Pages are server-rendered html/template pages: every string from an
// operation (names, messages, JSON) is escaped, and the script sets live
// values as text only. Every answer carries a Content-Security-Policy that
// allows the console's own script, style and images and nothing else (no
// inline script or style), and forbids framing. The CSS, script and icon
// are embedded in the binary; there is no build step.
package lroweb
