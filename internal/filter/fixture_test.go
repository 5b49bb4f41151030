package filter

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro/internal/testpb"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Type URLs of the fixture. The Spanner ones are the real URLs, mapped to
// the testpb look-alikes by testResolver.
const (
	spannerBackupMetaURL = "type.googleapis.com/google.spanner.admin.database.v1.CreateBackupMetadata"
	spannerBackupURL     = "type.googleapis.com/google.spanner.admin.database.v1.Backup"
	instanceMetaURL      = "type.googleapis.com/lro.internal.testpb.InstanceMetadata"
	instanceURL          = "type.googleapis.com/lro.internal.testpb.Instance"
	unknownURL           = "type.googleapis.com/example.v1.Unknown"
)

// Short names of the fixture operations, as used in the expected sets.
const (
	opHowl1     = "operations/backup-howl-1"
	opHowl2     = "operations/backup-howl-2"
	opNightly   = "operations/backup-nightly"
	opHowl3     = "operations/backup-howl-3"
	opInstA     = "projects/p/instances/inst-a/operations/create"
	opInstB     = "projects/p/instances/inst-b/operations/create"
	opInstC     = "projects/p/instances/inst-c/operations/update"
	opPlain     = "operations/plain"
	opPlainDone = "operations/plain-done"
	opFailed    = "operations/failed"
	opMetaUnk   = "operations/meta-unknown"
	opABC       = "projects/x/operations/abc"
)

// testResolver maps the Spanner type URLs to testpb messages and falls back
// to the global registry.
type testResolver map[string]protoreflect.MessageType

func (r testResolver) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	if mt, ok := r[url]; ok {
		return mt, nil
	}
	return protoregistry.GlobalTypes.FindMessageByURL(url)
}

var resolver = testResolver{
	spannerBackupMetaURL: (&testpb.CreateBackupMetadata{}).ProtoReflect().Type(),
	spannerBackupURL:     (&testpb.Backup{}).ProtoReflect().Type(),
}

func ts(s string) *timestamppb.Timestamp {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return timestamppb.New(t)
}

func pack(url string, m proto.Message) *anypb.Any {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return &anypb.Any{TypeUrl: url, Value: b}
}

func withMeta(op *longrunningpb.Operation, a *anypb.Any) *longrunningpb.Operation {
	op.Metadata = a
	return op
}

func withResponse(a *anypb.Any) *longrunningpb.Operation_Response {
	return &longrunningpb.Operation_Response{Response: a}
}

func withError(code int32, msg string) *longrunningpb.Operation_Error {
	return &longrunningpb.Operation_Error{Error: &statuspb.Status{Code: code, Message: msg}}
}

// fixture returns the operations every table test runs against.
func fixture() []*longrunningpb.Operation {
	const db = "projects/p/instances/i/databases/"
	const bk = "projects/p/instances/i/backups/"
	return []*longrunningpb.Operation{
		{
			Name: opHowl1,
			Metadata: pack(spannerBackupMetaURL, &testpb.CreateBackupMetadata{
				Name: bk + "howl-1", Database: db + "prod",
				Progress: &testpb.OperationProgress{ProgressPercent: 40, StartTime: ts("2018-03-28T14:00:00Z")},
			}),
		},
		{
			Name: opHowl2, Done: true, Result: withError(1, "Backup cancelled by user"),
			Metadata: pack(spannerBackupMetaURL, &testpb.CreateBackupMetadata{
				Name: bk + "howl-2", Database: db + "prod",
				Progress: &testpb.OperationProgress{
					ProgressPercent: 100,
					StartTime:       ts("2018-03-28T13:00:00Z"), EndTime: ts("2018-03-28T15:00:00Z"),
				},
				CancelTime: ts("2018-03-28T15:00:00Z"),
			}),
		},
		{
			Name: opNightly, Done: true,
			Result: withResponse(pack(spannerBackupURL, &testpb.Backup{
				Name: bk + "nightly", Database: db + "staging", SizeBytes: 1024,
				CreateTime: ts("2019-01-01T01:00:00Z"), State: testpb.State_READY,
			})),
			Metadata: pack(spannerBackupMetaURL, &testpb.CreateBackupMetadata{
				Name: bk + "nightly", Database: db + "staging",
				Progress: &testpb.OperationProgress{
					ProgressPercent: 100,
					StartTime:       ts("2019-01-01T00:00:00Z"), EndTime: ts("2019-01-01T01:00:00Z"),
				},
			}),
		},
		{
			Name:     opHowl3,
			Metadata: pack(spannerBackupMetaURL, &testpb.CreateBackupMetadata{Name: bk + "howl-3", Database: "prod-db"}),
		},
		{
			Name: opInstA,
			Metadata: pack(instanceMetaURL, &testpb.InstanceMetadata{
				InstanceConfig: &testpb.InstanceConfig{Name: "projects/p/instanceConfigs/custom-config", DisplayName: "Custom"},
				CreateTime:     ts("2023-05-01T00:00:00Z"),
				State:          testpb.State_CREATING,
				Labels:         []string{"env-prod", "team"},
				Tags:           map[string]string{"env": "prod", "tier": "gold"},
				Elapsed:        durationpb.New(20 * time.Second),
				Score:          0.75,
				Count:          3,
				Steps:          []*testpb.Step{{Name: "allocate", Done: true}, {Name: "configure", Tags: []string{"slow"}}},
				Shards:         map[int32]string{1: "a", 2: "b"},
				Configs:        map[string]*testpb.InstanceConfig{"primary": {Name: "regional-us"}},
				BytesTotal:     1 << 40,
				Ratio:          0.5,
				Priority:       proto.Int32(0),
				Ids:            []int64{1, 2, 3},
				Owner:          wrapperspb.String("alice"),
				Token:          []byte("secret"),
				History:        []testpb.State{testpb.State_CREATING},
			}),
		},
		{
			Name: opInstB, Done: true,
			Result: withResponse(pack(instanceURL, &testpb.Instance{
				Name: "projects/p/instances/inst-b", Config: &testpb.InstanceConfig{Name: "regional-eu"},
				Labels: map[string]string{"env": "dev"}, NodeCount: 3,
			})),
			Metadata: pack(instanceMetaURL, &testpb.InstanceMetadata{
				InstanceConfig: &testpb.InstanceConfig{Name: "projects/p/instanceConfigs/regional-eu"},
				CreateTime:     ts("2022-12-31T23:59:59Z"),
				UpdateTime:     ts("2023-01-02T00:00:00Z"),
				State:          testpb.State_READY,
				Labels:         []string{"env-dev"},
				Tags:           map[string]string{"env": "dev"},
				Elapsed:        durationpb.New(1500 * time.Millisecond),
				Score:          1e3,
				DryRun:         true,
				Count:          -5,
				Steps:          []*testpb.Step{{Name: "allocate", Done: true}},
				History:        []testpb.State{testpb.State_CREATING, testpb.State_READY},
			}),
		},
		{
			Name: opInstC, Done: true, Result: withError(9, "instance config not found"),
			Metadata: pack(instanceMetaURL, &testpb.InstanceMetadata{
				InstanceConfig: &testpb.InstanceConfig{Name: "projects/p/instanceConfigs/custom-config-2"},
				CreateTime:     ts("2023-06-01T12:00:00.5Z"),
				State:          testpb.State_FAILED,
				Elapsed:        durationpb.New(time.Hour),
				Score:          math.NaN(),
				Count:          100,
			}),
		},
		{Name: opPlain},
		{Name: opPlainDone, Done: true, Result: withResponse(&anypb.Any{TypeUrl: unknownURL, Value: []byte{0xff, 0xff}})},
		{Name: opFailed, Done: true, Result: withError(13, "boom: disk full")},
		{Name: opMetaUnk, Metadata: &anypb.Any{TypeUrl: unknownURL, Value: []byte("x")}},
		{
			Name: opABC, Done: true,
			Result: withResponse(pack(instanceURL, &testpb.Instance{Name: "projects/x/instances/abc", NodeCount: 1})),
		},
	}
}

// allNames lists the fixture names in order.
func allNames() []string {
	var names []string
	for _, op := range fixture() {
		names = append(names, op.GetName())
	}
	return names
}

// except returns every fixture name except the given ones.
func except(skip ...string) []string {
	var names []string
outer:
	for _, n := range allNames() {
		for _, s := range skip {
			if n == s {
				continue outer
			}
		}
		names = append(names, n)
	}
	return names
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
