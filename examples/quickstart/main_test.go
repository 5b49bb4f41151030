package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	// Progress lines before the last may be skipped on a slow machine, and
	// names and addresses vary; everything else must be there.
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`export server: gRPC on 127\.0\.0\.1:\d+, REST on 127\.0\.0\.1:\d+`),
		regexp.MustCompile(`started operations/\w+ \(done: false\)`),
		regexp.MustCompile(`progress 100%  120 of 120 books`),
		regexp.MustCompile(`response: 120 books from shelves/fiction as CSV, \d+ bytes, sha256 [0-9a-f]{12}…`),
		regexp.MustCompile(`cancelled: done with error code 1 \(CANCELLED\): operation cancelled`),
		regexp.MustCompile(`operations/\w+  shelves/fiction +100%  succeeded`),
		regexp.MustCompile(`operations/\w+  shelves/poetry +\d+%  failed with code 1 \(CANCELLED\)`),
		regexp.MustCompile(`GET http://127\.0\.0\.1:\d+/v1/operations/\w+`),
		regexp.MustCompile(`"@type": "type\.googleapis\.com/lro\.examples\.export\.v1\.ExportBooksResponse"`),
		regexp.MustCompile(`go run \./examples/exportsvc `),
		regexp.MustCompile(`go run \./cmd/lroctl --addr 127\.0\.0\.1:8080 --plaintext wait `),
	} {
		if !want.MatchString(out.String()) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Count(out.String(), "failed with code") != 1 || strings.Count(out.String(), "succeeded") != 1 {
		t.Errorf("done = true should list exactly the two exports:\n%s", out.String())
	}
}
