package interop

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// nodeClient finds node and the installed google-gax (npm ci in
// interop/node), or says what is missing.
func nodeClient() (node, reason string) {
	node, err := exec.LookPath("node")
	if err != nil {
		return "", "no node on PATH"
	}
	if _, err := os.Stat(filepath.Join("node", "node_modules", "google-gax", "package.json")); err != nil {
		return "", "google-gax is not installed (run npm ci in interop/node)"
	}
	return node, ""
}

// TestNodeGax runs Google's Node client google-gax, unchanged, over gRPC and
// over REST in fallback mode, with LROperation.promise(), for operations
// under a parent (over REST with the routes a generated client passes) and
// for top-level ones (the routes of operations.proto, gax's defaults).
func TestNodeGax(t *testing.T) {
	node, reason := nodeClient()
	for _, mode := range []string{"grpc", "rest"} {
		for _, names := range namings {
			t.Run(mode+"/"+names.name, func(t *testing.T) {
				if reason != "" {
					missing(t, reason)
				}
				f := startServer(t, names.parent)
				want := append([]string{"wait-saw-running"}, operationChecks...)
				runClient(t, f, want, node, filepath.Join("node", "operations.js"), mode)
				if mode == "rest" {
					// The client's own system parameters were accepted (issue 13).
					qs := f.restQueries()
					if len(qs) == 0 {
						t.Error("the REST client made no request")
					}
					for _, q := range qs {
						if !strings.Contains(q, "$prettyPrint=0") || !strings.Contains(q, "$alt=json%3Benum-encoding=int") {
							t.Errorf("REST request with query %q: want $prettyPrint=0 and $alt=json;enum-encoding=int, as the client was set up", q)
						}
					}
				}
			})
		}
	}
}
