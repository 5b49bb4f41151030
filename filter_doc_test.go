package lro

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoregistry"

	// The examples name fields of these types; an unknown field is refused.
	_ "github.com/lrokit/lro/internal/testpb"
)

// TestFilteringDocExamples keeps docs/FILTERING.md true: every line of its
// "filter" blocks is accepted, and every line of its "filter-invalid"
// blocks is refused with INVALID_ARGUMENT.
func TestFilteringDocExamples(t *testing.T) {
	f, err := os.Open("docs/FILTERING.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var block string
	valid, invalid := 0, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```"):
			if block == "" {
				block = strings.TrimPrefix(line, "```")
				if block == "" {
					block = "other"
				}
			} else {
				block = ""
			}
			continue
		case strings.TrimSpace(line) == "":
			continue
		}
		switch block {
		case "filter":
			valid++
			if _, err := ParseFilter(line, protoregistry.GlobalTypes); err != nil {
				t.Errorf("documented filter %q: %v", line, err)
			}
		case "filter-invalid":
			invalid++
			_, err := ParseFilter(line, protoregistry.GlobalTypes)
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("documented invalid filter %q: got %v, want INVALID_ARGUMENT", line, err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if valid == 0 || invalid == 0 {
		t.Fatalf("found %d valid and %d invalid examples in docs/FILTERING.md; want some of each", valid, invalid)
	}
}
