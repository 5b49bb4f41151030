package filter

import (
	"math"
	"testing"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/go-cmp/cmp"
	"github.com/lrokit/lro/internal/testpb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/anypb"
)

func TestPattern(t *testing.T) {
	tests := []struct {
		pattern       []string
		s             string
		match, within bool
	}{
		{[]string{"abc"}, "abc", true, true},
		{[]string{"abc"}, "xabcx", false, true},
		{[]string{"", "/abc"}, "operations/abc", true, true},
		{[]string{"", "/abc"}, "operations/abcd", false, true},
		{[]string{"a", "c"}, "abc", true, true},
		{[]string{"a", "c"}, "ac", true, true},
		{[]string{"ab", "bc"}, "abc", false, false},
		{[]string{"a", "b", "c"}, "axbyc", true, true},
		{[]string{"a", "b", "c"}, "acb", false, false},
		{[]string{"", ""}, "", true, true},
		{[]string{"x", ""}, "", false, false},
		{[]string{""}, "", true, true},
		{[]string{""}, "a", false, true},
	}
	for _, tc := range tests {
		p := pattern{parts: tc.pattern}
		if got := p.match(tc.s); got != tc.match {
			t.Errorf("%q.match(%q) = %v", tc.pattern, tc.s, got)
		}
		if got := p.contains(tc.s); got != tc.within {
			t.Errorf("%q.contains(%q) = %v", tc.pattern, tc.s, got)
		}
	}
}

func TestParseNumber(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		want number
	}{
		{"0", true, number{kind: numInt}},
		{"-12", true, number{kind: numInt, i: -12}},
		{"+7", true, number{kind: numInt, i: 7}},
		{"18446744073709551615", true, number{kind: numUint, u: math.MaxUint64}},
		{"1e400", false, number{}},
		{"99999999999999999999999", true, number{kind: numFloat, f: 1e23}},
		{"1.5", true, number{kind: numFloat, f: 1.5}},
		{".5", true, number{kind: numFloat, f: .5}},
		{"5.", true, number{kind: numFloat, f: 5}},
		{"2E-3", true, number{kind: numFloat, f: 0.002}},
		{"1e+3", true, number{kind: numFloat, f: 1000}},
		{"", false, number{}},
		{"-", false, number{}},
		{".", false, number{}},
		{"1e", false, number{}},
		{"0x10", false, number{}},
		{"NaN", false, number{}},
		{"Inf", false, number{}},
		{"1_000", false, number{}},
		{"1.2.3", false, number{}},
	}
	for _, tc := range tests {
		got, ok := parseNumber(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseNumber(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestCompareNumbers(t *testing.T) {
	num := func(s string) number {
		n, ok := parseNumber(s)
		if !ok {
			t.Fatalf("parseNumber(%q) failed", s)
		}
		return n
	}
	tests := []struct {
		name string
		got  int
		want int
	}{
		{"int 3 vs 3", pt(num("3")).cmpInt(3), 0},
		{"int 3 vs 2.5", pt(num("2.5")).cmpInt(3), 1},
		{"int max vs uint max", pt(num("18446744073709551615")).cmpInt(math.MaxInt64), -1},
		{"uint 5 vs -1", pt(num("-1")).cmpUint(5), 1},
		{"uint 5 vs 6", pt(num("6")).cmpUint(5), -1},
		{"uint max vs uint max", pt(num("18446744073709551615")).cmpUint(math.MaxUint64), 0},
		{"uint 4 vs 4.5", pt(num("4.5")).cmpUint(4), -1},
		{"float 0.5 vs 1", pt(num("1")).cmpFloat(0.5), -1},
		{"float 2e19 vs uint max", pt(num("18446744073709551615")).cmpFloat(2e19), 1},
		{"float NaN vs 1", pt(num("1")).cmpFloat(math.NaN()), unordered},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
	if !compareNumber(opNe, unordered) || compareNumber(opEq, unordered) || compareNumber(opGt, unordered) {
		t.Error("NaN compares as ordered")
	}
}

func pt(n number) *number { return &n }

// TestPartialUnmarshal checks that decoding only the fields a filter reads
// gives them the values a full decoding gives, when records repeat and
// messages are split over several records (both legal on the wire).
func TestPartialUnmarshal(t *testing.T) {
	first := &testpb.InstanceMetadata{
		InstanceConfig: &testpb.InstanceConfig{Name: "a"},
		Labels:         []string{"x"},
		Tags:           map[string]string{"k": "1"},
		Count:          1,
		Ids:            []int64{1, 2},
	}
	second := &testpb.InstanceMetadata{
		InstanceConfig: &testpb.InstanceConfig{DisplayName: "b"},
		Labels:         []string{"y"},
		Tags:           map[string]string{"k": "2", "j": "3"},
		Count:          2,
		Ids:            []int64{3},
		Score:          1.5,
	}
	b1, _ := proto.Marshal(first)
	b2, _ := proto.Marshal(second)
	wire := append(append([]byte{}, b1...), b2...)

	full := &testpb.InstanceMetadata{}
	if err := proto.Unmarshal(wire, full); err != nil {
		t.Fatal(err)
	}
	f, err := Parse("metadata.instance_config:* metadata.labels:* metadata.tags:* metadata.count:* metadata.ids:*", Options{})
	if err != nil {
		t.Fatal(err)
	}
	ti := f.typeInfo(instanceMetaURL)
	got := &testpb.InstanceMetadata{Score: 9}
	if err := ti.unmarshal(wire, got); err != nil {
		t.Fatal(err)
	}
	want := proto.Clone(full).(*testpb.InstanceMetadata)
	want.Score = 0 // not read by the filter: not decoded, and the old value is gone
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("partial decoding (-want +got):\n%s", diff)
	}
	for _, bad := range [][]byte{{0xff}, {0x08}, {0x0a, 0x05, 'a'}} {
		if err := ti.unmarshal(bad, &testpb.InstanceMetadata{}); err == nil {
			t.Errorf("unmarshal(%x) succeeded", bad)
		}
	}
	// Invalid bytes make the metadata unreadable: the operation does not match.
	op := &longrunningpb.Operation{Name: "operations/x", Metadata: &anypb.Any{TypeUrl: instanceMetaURL, Value: []byte{0x48, 0xff}}}
	if f.Match(op) {
		t.Error("matched an operation whose metadata does not decode")
	}
}

// TestMapKeys checks map traversal with keys of every kind.
func TestMapKeys(t *testing.T) {
	fd := (&testpb.InstanceMetadata{}).ProtoReflect().Descriptor().Fields().ByName("shards").MapKey()
	if _, ok := mapKey(fd, "12"); !ok {
		t.Error("int32 key 12 rejected")
	}
	for _, bad := range []string{"x", "99999999999", "1.5"} {
		if _, ok := mapKey(fd, bad); ok {
			t.Errorf("int32 key %q accepted", bad)
		}
	}
	ops := fixture()
	tests := []struct {
		filter string
		want   []string
	}{
		{"metadata.shards.2 = b", []string{opInstA}},
		{"metadata.shards.2:*", []string{opInstA}},
		{"metadata.shards.3:*", nil},
		{"metadata.shards:x", nil},
		{"metadata.configs.primary:*", []string{opInstA}},
		{"metadata.configs.primary.name:regional", []string{opInstA}},
		{"metadata.configs.missing.name:regional", nil},
		{`metadata.tags:"t*"`, nil},
		{"metadata.tags = x", nil},
	}
	for _, tc := range tests {
		f, err := Parse(tc.filter, Options{Resolver: resolver})
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.filter, err)
		}
		if diff := cmp.Diff(tc.want, matching(f, ops)); diff != "" {
			t.Errorf("Parse(%q) matches (-want +got):\n%s", tc.filter, diff)
		}
	}
}
