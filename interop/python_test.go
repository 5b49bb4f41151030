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
// Operation.result().
func TestPythonAPICore(t *testing.T) {
	python, env, reason := apiCorePython(t)
	for _, transport := range []string{"grpc", "rest"} {
		t.Run(transport, func(t *testing.T) {
			if reason != "" {
				missing(t, reason)
			}
			f := startServer(t)
			want := append([]string{"wait-saw-running", "cancel-cancelled"}, operationChecks...)
			runClientEnv(t, f, env, want, python, filepath.Join("python", "apicore.py"), transport)
		})
	}
}
