package interop

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// apiCorePython finds a Python that can import Google's api-core with its
// gRPC and REST operations clients, and the environment it needs: the
// interpreter named by LRO_INTEROP_PYTHON (api-core installed from PyPI),
// or else the Python and the api-core that Google Cloud CLI bundles
// (platform/bundledpythonunix with lib/third_party; Debian has no
// api-core package, and this machine reaches no PyPI). The reason is set
// when there is none.
func apiCorePython(t *testing.T) (python string, env []string, reason string) {
	t.Helper()
	probe := "from google.api_core.operations_v1 import OperationsClient, AbstractOperationsClient, OperationsRestTransport; import grpc"
	if p := os.Getenv("LRO_INTEROP_PYTHON"); p != "" {
		if out, err := exec.Command(p, "-c", probe).CombinedOutput(); err != nil {
			return "", nil, "LRO_INTEROP_PYTHON=" + p + " cannot import api-core: " + lastLine(out)
		}
		return p, nil, ""
	}
	sdk := gcloudSDK()
	if sdk == "" {
		return "", nil, "no Google Cloud CLI (its bundled api-core) and no LRO_INTEROP_PYTHON"
	}
	python = filepath.Join(sdk, "platform", "bundledpythonunix", "bin", "python3")
	env = []string{"PYTHONPATH=" + filepath.Join(sdk, "lib", "third_party") + string(os.PathListSeparator) + filepath.Join(sdk, "lib")}
	cmd := exec.Command(python, "-c", probe)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", nil, "Google Cloud CLI at " + sdk + " has no usable api-core: " + lastLine(out)
	}
	return python, env, ""
}

// gcloudSDK is the root of the Google Cloud CLI installation: the gcloud
// on PATH with its symbolic links resolved (bin/gcloud under the root), or
// "" when there is none.
func gcloudSDK() string {
	p, err := exec.LookPath("gcloud")
	if err != nil {
		return ""
	}
	p, err = filepath.EvalSymlinks(p)
	if err != nil {
		return ""
	}
	return filepath.Dir(filepath.Dir(p))
}

// lastLine is the last non-empty line of a command's output, for a
// one-line reason.
func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

// TestPythonAPICore runs Google's Python api-core, unchanged, over gRPC
// (OperationsClient) and over REST (AbstractOperationsClient), each with
// Operation.result(), for operations under a parent and for top-level
// ones (over REST with http_options for the top-level routes, as a
// generated client passes its service's routes).
func TestPythonAPICore(t *testing.T) {
	python, env, reason := apiCorePython(t)
	for _, transport := range []string{"grpc", "rest"} {
		for _, names := range namings {
			t.Run(transport+"/"+names.name, func(t *testing.T) {
				if reason != "" {
					missing(t, reason)
				}
				f := startServer(t, names.parent)
				want := append([]string{"wait-saw-running", "cancel-cancelled"}, operationChecks...)
				runClientEnv(t, f, env, want, python, filepath.Join("python", "apicore.py"), transport)
			})
		}
	}
}

// discoveryPython finds a Python that can import the discovery-based
// client (google-api-python-client, Debian's python3-googleapi): python3 on
// PATH, or Debian's /usr/bin/python3 when PATH has another one (pyenv).
func discoveryPython() (python, reason string) {
	probe := "import googleapiclient.discovery, httplib2"
	var tried []string
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		if err := exec.Command(path, "-c", probe).Run(); err == nil {
			return path, ""
		}
		tried = append(tried, path)
	}
	return "", "no python3 with googleapiclient (apt-get install python3-googleapi); tried " + strings.Join(tried, ", ")
}

// TestPythonDiscovery runs the discovery-based Python client, unchanged:
// build() reads the API's discovery document from the server, then calls
// the REST routes.
func TestPythonDiscovery(t *testing.T) {
	python, reason := discoveryPython()
	if reason != "" {
		missing(t, reason)
	}
	f := startServer(t, googleParent) // the discovery document's routes are under projects/*/locations/*
	want := []string{"get-done", "get-failed", "list-pages", "list-filter", "wait-saw-running", "wait",
		"cancel-empty", "cancel", "not-found", "error-reason", "delete-empty", "delete"}
	runClient(t, f, want, python, filepath.Join("python", "discovery.py"))
	// The client adds alt=json to every call (a system parameter).
	for _, q := range f.restQueries() {
		if !strings.Contains(q, "alt=json") {
			t.Errorf("REST request with query %q: the discovery client sends alt=json", q)
		}
	}
}
