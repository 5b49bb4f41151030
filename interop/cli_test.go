package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tool runs a command-line client and returns its standard output, its
// standard error and its exit code (-1 when it could not run).
func tool(t *testing.T, name string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

// decode reads a JSON object the tool printed.
func decode(t *testing.T, what, s string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%s: %v in %q", what, err, s)
	}
	return v
}

// field walks a decoded JSON value by keys and array indexes ("0").
func field(v any, path ...string) any {
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			i := int(p[0] - '0')
			if len(p) != 1 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// grpcurlPath finds grpcurl on PATH or where go install puts it.
func grpcurlPath() (string, string) {
	if p, err := exec.LookPath("grpcurl"); err == nil {
		return p, ""
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "grpcurl")
		if _, err := os.Stat(p); err == nil {
			return p, ""
		}
	}
	return "", "no grpcurl on PATH or in $(go env GOPATH)/bin (go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4)"
}

// TestGrpcurl drives the Manager's gRPC service with grpcurl, which knows
// the service only through server reflection.
func TestGrpcurl(t *testing.T) {
	grpcurl, reason := grpcurlPath()
	if reason != "" {
		missing(t, reason)
	}
	f := startServer(t, googleParent)
	call := func(method, body string) (map[string]any, int) {
		t.Helper()
		out, errOut, code := tool(t, grpcurl, "-plaintext", "-format-error", "-max-time", "60", "-d", body, f.GRPCAddr, "google.longrunning.Operations/"+method)
		if code != 0 {
			// -format-error prints the status as JSON on stderr.
			out = errOut
		}
		return decode(t, "grpcurl "+method+" "+body, out), code
	}
	name := func(n string) string { return `{"name":"` + n + `"}` }

	out, errOut, code := tool(t, grpcurl, "-plaintext", f.GRPCAddr, "list")
	if code != 0 || !strings.Contains(out, "google.longrunning.Operations") {
		t.Fatalf("grpcurl list: exit %d, %q %q", code, out, errOut)
	}

	op, code := call("GetOperation", name(f.Done))
	if code != 0 || op["done"] != true || field(op, "response", "@type") != "type.googleapis.com/google.protobuf.Duration" || field(op, "response", "value") != "42s" {
		t.Errorf("GetOperation(done) = %v (exit %d)", op, code)
	}
	op, _ = call("GetOperation", name(f.Failed))
	if field(op, "error", "code") != 9.0 || field(op, "error", "message") != failedMessage {
		t.Errorf("GetOperation(failed) = %v", op)
	}

	seen := map[string]bool{}
	token := ""
	for pages := 1; ; pages++ {
		list, code := call("ListOperations", `{"name":"`+f.ListName+`","pageSize":2,"pageToken":"`+token+`"}`)
		if code != 0 || pages > 4 {
			t.Fatalf("ListOperations page %d: %v (exit %d)", pages, list, code)
		}
		for _, o := range field(list, "operations").([]any) {
			seen[field(o, "name").(string)] = true
		}
		token, _ = list["nextPageToken"].(string)
		if token == "" {
			break
		}
	}
	for _, n := range []string{f.Done, f.Failed, f.Slow, f.Block} {
		if !seen[n] {
			t.Errorf("ListOperations in pages of 2 missed %s (saw %v)", n, seen)
		}
	}
	list, _ := call("ListOperations", `{"name":"`+f.ListName+`","filter":"done = true"}`)
	if ops, _ := field(list, "operations").([]any); len(ops) != 2 {
		t.Errorf("ListOperations(done = true) = %v, want the 2 done operations", list)
	}

	// Reading the slow operation lets it finish; WaitOperation then returns it done.
	if op, _ := call("GetOperation", name(f.Slow)); op["done"] == true {
		t.Errorf("the slow operation was done before it was read: %v", op)
	}
	op, code = call("WaitOperation", `{"name":"`+f.Slow+`","timeout":"30s"}`)
	if code != 0 || op["done"] != true || field(op, "response", "value") != "42s" {
		t.Errorf("WaitOperation(slow) = %v (exit %d)", op, code)
	}

	if _, code := call("CancelOperation", name(f.Block)); code != 0 {
		t.Errorf("CancelOperation: exit %d", code)
	}
	op, _ = call("WaitOperation", `{"name":"`+f.Block+`","timeout":"30s"}`)
	if field(op, "error", "code") != 1.0 || field(op, "error", "details", "0", "reason") != "OPERATION_CANCELLED" || field(op, "error", "details", "0", "domain") != errorDomain {
		t.Errorf("the cancelled operation = %v, want CANCELLED with ErrorInfo OPERATION_CANCELLED", op)
	}

	st, code := call("GetOperation", name(f.Missing))
	if code == 0 || st["code"] != 5.0 || field(st, "details", "0", "reason") != "OPERATION_NOT_FOUND" ||
		field(st, "details", "0", "metadata", "operation") != f.Missing {
		t.Errorf("GetOperation(missing) = %v (exit %d), want NOT_FOUND with ErrorInfo OPERATION_NOT_FOUND", st, code)
	}

	if _, code := call("DeleteOperation", name(f.Failed)); code != 0 {
		t.Errorf("DeleteOperation: exit %d", code)
	}
	if st, _ := call("GetOperation", name(f.Failed)); st["code"] != 5.0 {
		t.Errorf("GetOperation after DeleteOperation = %v, want NOT_FOUND", st)
	}
}

// TestCurl drives the REST routes (lrohttp) with curl, as the README shows.
func TestCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		missing(t, "no curl on PATH")
	}
	f := startServer(t, googleParent)
	// do runs curl and returns the body and the HTTP status.
	do := func(args ...string) (string, int) {
		t.Helper()
		out, errOut, code := tool(t, curl, append([]string{"-sS", "-w", "\n%{http_code}"}, args...)...)
		if code != 0 {
			t.Fatalf("curl %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		i := strings.LastIndexByte(out, '\n')
		var status int
		for _, c := range out[i+1:] {
			status = status*10 + int(c-'0')
		}
		return out[:i], status
	}
	getJSON := func(args ...string) (map[string]any, int) {
		t.Helper()
		body, status := do(args...)
		return decode(t, "curl "+strings.Join(args, " "), body), status
	}
	url := func(name string) string { return f.HTTPURL + "/v1/" + name }

	op, status := getJSON(url(f.Done))
	if status != 200 || op["done"] != true || field(op, "response", "value") != "42s" {
		t.Errorf("GET done = %d %v", status, op)
	}
	op, _ = getJSON(url(f.Failed))
	if field(op, "error", "code") != 9.0 || field(op, "error", "message") != failedMessage {
		t.Errorf("GET failed = %v", op)
	}

	seen := map[string]bool{}
	token := ""
	for pages := 1; ; pages++ {
		list, status := getJSON("-G", url(f.Parent+"/operations"), "--data-urlencode", "pageSize=2", "--data-urlencode", "pageToken="+token)
		if status != 200 || pages > 4 {
			t.Fatalf("list page %d = %d %v", pages, status, list)
		}
		for _, o := range field(list, "operations").([]any) {
			seen[field(o, "name").(string)] = true
		}
		token, _ = list["nextPageToken"].(string)
		if token == "" {
			break
		}
	}
	if len(seen) != 4 {
		t.Errorf("list in pages of 2 saw %v, want the 4 operations", seen)
	}
	list, _ := getJSON("-G", url(f.Parent+"/operations"), "--data-urlencode", "filter=done = true")
	if ops, _ := field(list, "operations").([]any); len(ops) != 2 {
		t.Errorf("list filter done = true = %v, want 2 operations", list)
	}
	if body, status := do("-G", url(f.Parent+"/operations"), "--data-urlencode", `filter=name = "nothing"`); status != 200 || strings.TrimSpace(body) != "{}" {
		t.Errorf("empty list = %d %q, want 200 {}", status, body)
	}

	if op, _ := getJSON(url(f.Slow)); op["done"] == true {
		t.Errorf("the slow operation was done before it was read: %v", op)
	}
	// A plain curl -d sends a form content type with a JSON body.
	op, status = getJSON(url(f.Slow)+":wait", "-d", `{"timeout": "30s"}`)
	if status != 200 || op["done"] != true || field(op, "response", "value") != "42s" {
		t.Errorf("POST :wait (slow) = %d %v", status, op)
	}

	if body, status := do("-X", "POST", url(f.Block)+":cancel"); status != 200 || strings.TrimSpace(body) != "{}" {
		t.Errorf("POST :cancel = %d %q, want 200 {}", status, body)
	}
	op, _ = getJSON(url(f.Block)+":wait", "-d", `{"timeout": "30s"}`)
	if field(op, "error", "code") != 1.0 || field(op, "error", "details", "0", "reason") != "OPERATION_CANCELLED" {
		t.Errorf("the cancelled operation = %v, want CANCELLED with ErrorInfo OPERATION_CANCELLED", op)
	}

	e, status := getJSON(url(f.Missing))
	if status != 404 || field(e, "error", "status") != "NOT_FOUND" || field(e, "error", "details", "0", "@type") != "type.googleapis.com/google.rpc.ErrorInfo" ||
		field(e, "error", "details", "0", "reason") != "OPERATION_NOT_FOUND" || field(e, "error", "details", "0", "domain") != errorDomain {
		t.Errorf("GET missing = %d %v", status, e)
	}
	// Google's system parameters: the legacy error format and compact output.
	e, _ = getJSON(url(f.Missing) + "?$.xgafv=1")
	if field(e, "error", "errors", "0", "reason") != "notFound" {
		t.Errorf("GET missing with $.xgafv=1 = %v, want errors[0].reason notFound", e)
	}
	if body, _ := do(url(f.Done) + "?prettyPrint=false"); strings.Contains(strings.TrimSpace(body), "\n") {
		t.Errorf("prettyPrint=false: body %q is not compact", body)
	}

	if body, status := do("-X", "DELETE", url(f.Failed)); status != 200 || strings.TrimSpace(body) != "{}" {
		t.Errorf("DELETE = %d %q, want 200 {}", status, body)
	}
	if _, status := do(url(f.Failed)); status != 404 {
		t.Errorf("GET after DELETE = %d, want 404", status)
	}
}
