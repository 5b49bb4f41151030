package filter

import (
	"errors"
	"strings"
	"testing"

	"github.com/lrokit/lro/internal/filter/filtertest"
)

// FuzzParseMatch checks that no input makes Parse or Match panic, that bad
// input gives an *Error inside the input, and that the canonical form of a
// valid filter parses to itself and matches the same operations. Run it
// with: go test -run XXX -fuzz FuzzParseMatch -fuzztime 10s ./internal/filter
func FuzzParseMatch(f *testing.F) {
	for _, tc := range filtertest.Cases {
		f.Add(tc.Filter)
	}
	for _, s := range []string{
		"done = 5", `error.code = "x"`, "(done = true", "done = true AND", `name = "a\*b"`,
		`metadata.tags."k" = 'v'`, "NOT NOT -done:*", "metadata.@type = " + instanceMetaURL + " AND metadata.state = NOPE",
		"metadata.nope = 1", "metadata.progress.nope:*", "response.config.@type:x", "metadata.shards.x = a",
	} {
		f.Add(s)
	}
	ops := fixture()
	f.Fuzz(func(t *testing.T, src string) {
		flt, err := Parse(src, Options{Resolver: resolver})
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("Parse(%q) error %T, want *Error", src, err)
			}
			if fe.Pos < 0 || fe.Pos > len(src) {
				t.Fatalf("Parse(%q) error position %d outside the input", src, fe.Pos)
			}
			return
		}
		got := matching(flt, ops)
		canon := flt.String()
		if strings.TrimSpace(src) != "" && canon == "" {
			t.Fatalf("Parse(%q).String() is empty", src)
		}
		g, err := Parse(canon, Options{Resolver: resolver, MaxLength: 1 << 20})
		if err != nil {
			t.Fatalf("Parse(%q) canonical form %q does not parse: %v", src, canon, err)
		}
		if g.String() != canon {
			t.Fatalf("canonical form of %q is not stable: %q then %q", src, canon, g.String())
		}
		if again := matching(g, ops); strings.Join(again, ",") != strings.Join(got, ",") {
			t.Fatalf("Parse(%q) matches %v, its canonical form %q matches %v", src, got, canon, again)
		}
		if h := flt.DoneHint(); h != nil {
			for _, op := range ops {
				if flt.Match(op) && op.GetDone() != *h {
					t.Fatalf("Parse(%q) matches %s with done=%v against its hint", src, op.GetName(), op.GetDone())
				}
			}
		}
	})
}
