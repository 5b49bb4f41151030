package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestSpannerFlag: a malformed --spanner path is refused before anything
// is served. (A run against the Cloud Spanner emulator is in
// spannerstore's tests and the report; this module does not start it.)
func TestSpannerFlag(t *testing.T) {
	for _, path := range []string{"db", "projects/p/instances/i", "projects/p/instances/i/databases/d/extra"} {
		var out bytes.Buffer
		err := run(context.Background(), []string{"--grpc", "127.0.0.1:0", "--http", "", "--spanner", path}, &out)
		if err == nil || !strings.Contains(err.Error(), "want projects/P/instances/I/databases/D") {
			t.Errorf("--spanner %q: run = %v; want the path refused", path, err)
		}
		if strings.Contains(out.String(), "msg=serving") {
			t.Errorf("--spanner %q: served anyway", path)
		}
	}
}
