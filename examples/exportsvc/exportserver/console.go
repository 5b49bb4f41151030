package exportserver

import (
	"context"
	"fmt"
	"net/http"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"

	"github.com/lrokit/lro/lroweb"
)

// consolePrefix is where the REST server serves the web console.
const consolePrefix = "/console"

// newConsole returns the web console of ops (package lroweb), to be
// mounted at consolePrefix+"/". The example listens on loopback and has no
// login; a real host puts its authentication in front of the console, and
// the Manager's Authorizer sees the identity it puts in the request's
// context.
//
// An open operation page holds an event stream, which http.Server.Shutdown
// would wait for: the streams end when stop is done.
func newConsole(ops longrunningpb.OperationsServer, stop context.Context) (http.Handler, error) {
	console, err := lroweb.New(ops, lroweb.WithTitle("exportsvc"))
	if err != nil {
		return nil, fmt.Errorf("creating the web console: %w", err)
	}
	h := http.StripPrefix(consolePrefix, console)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		defer context.AfterFunc(stop, cancel)()
		h.ServeHTTP(w, r.WithContext(ctx))
	}), nil
}
