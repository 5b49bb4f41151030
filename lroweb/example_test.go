package lroweb_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lroweb"
)

// operatorKey carries the caller's identity from the host's middleware to
// the Manager's Authorizer.
type operatorKey struct{}

// Mount the console under /console/ on the host's mux, behind the host's
// authentication. The Authorizer sees the identity the middleware put in
// the request's context.
func ExampleNew() {
	m, err := lro.New(
		lro.WithTypeResolver(protoregistry.GlobalTypes),
		lro.WithAuthorizer(func(ctx context.Context, method, name string) error {
			if ctx.Value(operatorKey{}) == nil {
				return status.Error(codes.PermissionDenied, "operators only")
			}
			return nil
		}),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close(context.Background())

	console, err := lroweb.New(m, lroweb.WithResolver(protoregistry.GlobalTypes), lroweb.WithTitle("exportsvc"))
	if err != nil {
		log.Fatal(err)
	}
	// The host's authentication: here, a header stands for a real login.
	requireOperator := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if user := r.Header.Get("X-Operator"); user != "" {
				r = r.WithContext(context.WithValue(r.Context(), operatorKey{}, user))
			}
			h.ServeHTTP(w, r)
		})
	}
	mux := http.NewServeMux()
	mux.Handle("/console/", requireOperator(http.StripPrefix("/console", console)))

	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, user := range []string{"", "ada"} {
		req, _ := http.NewRequest("GET", srv.URL+"/console/", nil)
		req.Header.Set("X-Operator", user)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Printf("%q: %d %s\n", user, resp.StatusCode, strings.Split(resp.Header.Get("Content-Type"), ";")[0])
	}
	// Output:
	// "": 403 text/html
	// "ada": 200 text/html
}
