package filter

import (
	"fmt"
	"strings"
	"testing"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro/internal/filter/filtertest"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// The fixture and the filter catalog live in package filtertest, so that
// the stores can test their translations against them; these are their
// short names here.
const (
	spannerBackupMetaURL = filtertest.SpannerBackupMetaURL
	spannerBackupURL     = filtertest.SpannerBackupURL
	instanceMetaURL      = filtertest.InstanceMetaURL
	instanceURL          = filtertest.InstanceURL
	unknownURL           = filtertest.UnknownURL
	spannerFilter        = filtertest.SpannerFilter

	opHowl1     = filtertest.OpHowl1
	opHowl2     = filtertest.OpHowl2
	opNightly   = filtertest.OpNightly
	opHowl3     = filtertest.OpHowl3
	opInstA     = filtertest.OpInstA
	opInstB     = filtertest.OpInstB
	opInstC     = filtertest.OpInstC
	opPlain     = filtertest.OpPlain
	opPlainDone = filtertest.OpPlainDone
	opFailed    = filtertest.OpFailed
	opMetaUnk   = filtertest.OpMetaUnk
	opABC       = filtertest.OpABC
)

var resolver = filtertest.Resolver

func fixture() []*longrunningpb.Operation { return filtertest.Operations() }

func allNames() []string { return filtertest.AllNames() }

func except(skip ...string) []string { return filtertest.Except(skip...) }

func pack(url string, m proto.Message) *anypb.Any {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return &anypb.Any{TypeUrl: url, Value: b}
}

// matching returns the names of the fixture operations f matches, in
// fixture order.
func matching(f *Filter, ops []*longrunningpb.Operation) []string {
	var names []string
	for _, op := range ops {
		if f.Match(op) {
			names = append(names, op.GetName())
		}
	}
	return names
}

func TestFixtureSanity(t *testing.T) {
	names := allNames()
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Fatalf("duplicate fixture name %s", n)
		}
		seen[n] = true
	}
	if got := fmt.Sprint(len(names)); got != "12" {
		t.Fatalf("fixture has %s operations", got)
	}
	if strings.Contains(fmt.Sprint(except(opPlain)), opPlain+" ") {
		t.Fatal("except does not drop")
	}
}
