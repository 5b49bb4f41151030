package filter

import (
	"bytes"
	"encoding/json"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/lrokit/lro/internal/filter/filtertest"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// TestJSONExact checks Cond.JSON against Match: for every restriction on a
// metadata or response field in the catalog (also under a pinned type),
// and every fixture operation whose message it can be translated for, the
// JSON test on the message's protojson form gives what Match gives.
func TestJSONExact(t *testing.T) {
	var srcs []string
	for _, tc := range filtertest.Cases {
		srcs = append(srcs, tc.Filter,
			"metadata.@type = "+instanceMetaURL+" AND ("+tc.Filter+")",
			"response.@type = "+instanceURL+" AND ("+tc.Filter+")")
	}
	srcs = append(srcs, extraJSONFilters...)
	kinds := map[JSONKind]int{}
	compared := 0
	for _, src := range srcs {
		f, err := Parse(src, Options{Resolver: resolver})
		if err != nil {
			continue // a pinned variant the pinned type refuses
		}
		root, ok := f.Cond()
		if !ok {
			continue
		}
		for _, c := range fieldConds(root) {
			for _, op := range fixture() {
				a := op.GetMetadata()
				if c.Side == Response {
					a = op.GetResponse()
				}
				if a == nil {
					continue
				}
				jt, md, ok := c.JSON(a.GetTypeUrl())
				if !ok {
					continue
				}
				mt, err := resolver.FindMessageByURL(a.GetTypeUrl())
				if err != nil || mt.Descriptor() != md {
					t.Fatalf("%q: JSON gave the descriptor %v for %s", src, md.FullName(), a.GetTypeUrl())
				}
				m := mt.New().Interface()
				if proto.Unmarshal(a.GetValue(), m) != nil {
					continue
				}
				b, err := protojson.Marshal(m)
				if err != nil {
					continue
				}
				ev := evalCtx{f: f, op: op}
				want := ev.eval(&node{kind: nodeDyn, side: c.Side, dyn: c.leaf})
				ev.release()
				if got := evalJSON(t, jt, b); got != want {
					t.Errorf("%q on %s: the JSON test %+v gives %v on %s; Match gives %v", src, op.GetName(), jt, got, b, want)
				}
				kinds[jt.Kind]++
				compared++
			}
		}
	}
	t.Logf("compared %d restriction-operation pairs, by JSON kind %v", compared, kinds)
	for _, k := range []JSONKind{JSONPresent, JSONText, JSONNumber, JSONContains} {
		if kinds[k] == 0 {
			t.Errorf("no restriction of JSON kind %d was compared", k)
		}
	}
	if compared < 200 {
		t.Errorf("only %d restriction-operation pairs compared", compared)
	}
}

// extraJSONFilters cover what the catalog does not: defaults, absent map
// keys, enum lists and numbers of every sign.
var extraJSONFilters = []string{
	"metadata.count = 0", "metadata.count != 0", "metadata.count >= -5", "metadata.bytes_total < 2",
	"metadata.bytes_total = 1099511627776", "metadata.state = STATE_UNSPECIFIED", "metadata.state != CREATING",
	"metadata.dry_run = false", "metadata.dry_run != false", "metadata.tags.nope = x", "metadata.tags.nope != x",
	"metadata.tags.env:pr", "metadata.tags.env > a", "metadata.history:CREATING", "metadata.history:FAILED",
	"metadata.instance_config.name = \"\"", "metadata.instance_config.name != \"\"", "metadata.owner != alice",
	"metadata.owner = \"\"", "metadata.priority = 0", "metadata.priority:*", "metadata.configs:primary",
	"metadata.configs.primary:*", "metadata.configs.primary.display_name = \"\"", "metadata.labels:env-dev",
	"response.node_count = 3", "response.labels:env", "response.config.name:eu", "metadata.instanceConfig.name < q",
}

// fieldConds returns the CondField leaves under c.
func fieldConds(c Cond) []Cond {
	if c.Kind == CondField {
		return []Cond{c}
	}
	var out []Cond
	for _, k := range c.Kids {
		out = append(out, fieldConds(k)...)
	}
	return out
}

// evalJSON evaluates jt on the JSON document b, as a database would.
func evalJSON(t *testing.T, jt JSONTest, b []byte) bool {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	for i, k := range jt.Path {
		obj, _ := v.(map[string]any)
		next, ok := obj[k]
		if !ok {
			if i < jt.Required || jt.Kind == JSONPresent || jt.Kind == JSONContains {
				return false
			}
			v = jt.Default
			break
		}
		v = next
	}
	switch jt.Kind {
	case JSONPresent:
		return true
	case JSONContains:
		switch x := v.(type) {
		case map[string]any:
			_, ok := x[jt.Elem]
			return ok
		case []any:
			for _, e := range x {
				if e == jt.Elem {
					return true
				}
			}
		}
		return false
	}
	var text string
	switch x := v.(type) {
	case string:
		text = x
	case bool:
		if x {
			text = "true"
		} else {
			text = "false"
		}
	case json.Number:
		text = x.String()
	default:
		t.Fatalf("value %v at %v is not a scalar", v, jt.Path)
	}
	if jt.Kind == JSONText {
		p := pattern{parts: jt.Parts, text: strings.Join(jt.Parts, "*")}
		return compareString(jt.Op, &p, text)
	}
	a, ok1 := new(big.Rat).SetString(text)
	n, ok2 := new(big.Rat).SetString(jt.Number)
	if !ok1 || !ok2 {
		t.Fatalf("numbers %q and %q", text, jt.Number)
	}
	return compareOrdered(jt.Op, a.Cmp(n))
}

// TestNames checks the names a filter requires at its top level: a table
// of filters, then every catalog filter against every fixture operation
// (an operation that matches has each required name).
func TestNames(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want []string
	}{
		{"", nil},
		{"name = operations/plain", []string{"operations/plain"}},
		{`name = "operations/plain" AND done = false`, []string{"operations/plain"}},
		{"done = false AND (error:* AND name = 'a/b')", []string{"a/b"}},
		{"name = a AND name = b", []string{"a", "b"}},
		{`name = "operations/plain\*"`, []string{"operations/plain*"}},
		{`name = "operations/*"`, nil},
		{"name:plain", nil},
		{"name:*", nil},
		{"name != operations/plain", nil},
		{"name >= operations/plain", nil},
		{"NOT name = operations/plain", nil},
		{"name = operations/plain OR done = true", nil},
	} {
		f, err := Parse(tc.src, Options{Resolver: resolver})
		if err != nil {
			t.Fatalf("%q: %v", tc.src, err)
		}
		if got := f.Names(); !slices.Equal(got, tc.want) {
			t.Errorf("%q: Names() = %q, want %q", tc.src, got, tc.want)
		}
	}
	checked := 0
	for _, tc := range filtertest.Cases {
		f, err := Parse(tc.Filter, Options{Resolver: resolver})
		if err != nil {
			t.Fatalf("%q: %v", tc.Filter, err)
		}
		names := f.Names()
		if len(names) > 0 {
			checked++
		}
		for _, op := range fixture() {
			for _, n := range names {
				if f.Match(op) && op.GetName() != n {
					t.Errorf("%q matches %s, but Names() requires %q", tc.Filter, op.GetName(), n)
				}
			}
		}
	}
	if checked < 4 {
		t.Errorf("only %d catalog filters require a name", checked)
	}
}
