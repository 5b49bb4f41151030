package filter

import (
	"testing"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/protobuf/reflect/protoregistry"
)

func benchMatch(b *testing.B, filter string, op *longrunningpb.Operation, want bool) {
	f, err := Parse(filter, Options{Resolver: resolver})
	if err != nil {
		b.Fatal(err)
	}
	if got := f.Match(op); got != want {
		b.Fatalf("Match(%s) = %v, want %v", op.GetName(), got, want)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		f.Match(op)
	}
}

func fixtureOp(name string) *longrunningpb.Operation {
	for _, op := range fixture() {
		if op.GetName() == name {
			return op
		}
	}
	panic("no fixture operation " + name)
}

// BenchmarkMatchSimple measures the evaluation of "done = false" on one
// operation.
func BenchmarkMatchSimple(b *testing.B) {
	benchMatch(b, "done = false", fixtureOp(opHowl1), true)
}

// BenchmarkMatchSpanner measures the Spanner documentation filter, which
// unpacks the metadata, on an operation it matches.
func BenchmarkMatchSpanner(b *testing.B) {
	benchMatch(b, spannerFilter, fixtureOp(opHowl2), true)
}

// BenchmarkMatchSpannerOtherType measures the same filter on an operation
// whose metadata type differs: the metadata is not unpacked.
func BenchmarkMatchSpannerOtherType(b *testing.B) {
	benchMatch(b, spannerFilter, fixtureOp(opInstA), false)
}

// BenchmarkMatchInstance measures a filter on map, repeated and enum fields
// of a larger metadata message.
func BenchmarkMatchInstance(b *testing.B) {
	benchMatch(b, "metadata.state = CREATING AND metadata.tags.env = prod AND metadata.labels:team", fixtureOp(opInstA), true)
}

// BenchmarkParse measures parsing the Spanner filter.
func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(spannerFilter, Options{Resolver: resolver}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildIndex measures listing the fields of every message type
// linked into the test binary, which the first Parse of a process does once
// (see knownTypes).
func BenchmarkBuildIndex(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		buildIndex(protoregistry.GlobalTypes, 0)
	}
	b.ReportMetric(float64(protoregistry.GlobalTypes.NumMessages()), "types")
}
