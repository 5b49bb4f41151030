// Package filtertest holds the filter catalog: a fixture of operations and
// the AIP-160 filters that table tests run against it, with the exact
// operations each matches. Package filter tests its evaluator with it, and
// package pgstore checks that its SQL translation keeps the same results.
package filtertest

import (
	"math"
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

// Case is a filter of the catalog and the names of the fixture operations
// it matches, in fixture order.
type Case struct {
	Filter string
	Want   []string
}

// Type URLs of the fixture. The Spanner ones are the real URLs, which
// Resolver maps to testpb look-alikes.
const (
	SpannerBackupMetaURL = "type.googleapis.com/google.spanner.admin.database.v1.CreateBackupMetadata"
	SpannerBackupURL     = "type.googleapis.com/google.spanner.admin.database.v1.Backup"
	InstanceMetaURL      = "type.googleapis.com/lro.internal.testpb.InstanceMetadata"
	InstanceURL          = "type.googleapis.com/lro.internal.testpb.Instance"
	UnknownURL           = "type.googleapis.com/example.v1.Unknown"
)

// Names of the fixture operations, as the expected sets use them.
const (
	OpHowl1     = "operations/backup-howl-1"
	OpHowl2     = "operations/backup-howl-2"
	OpNightly   = "operations/backup-nightly"
	OpHowl3     = "operations/backup-howl-3"
	OpInstA     = "projects/p/instances/inst-a/operations/create"
	OpInstB     = "projects/p/instances/inst-b/operations/create"
	OpInstC     = "projects/p/instances/inst-c/operations/update"
	OpPlain     = "operations/plain"
	OpPlainDone = "operations/plain-done"
	OpFailed    = "operations/failed"
	OpMetaUnk   = "operations/meta-unknown"
	OpABC       = "projects/x/operations/abc"
)

// TypeResolver maps the Spanner type URLs to testpb messages and falls back
// to the global registry.
type TypeResolver map[string]protoreflect.MessageType

// FindMessageByURL finds url in r, then in protoregistry.GlobalTypes; it
// fails as GlobalTypes does when neither has it.
func (r TypeResolver) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	if mt, ok := r[url]; ok {
		return mt, nil
	}
	return protoregistry.GlobalTypes.FindMessageByURL(url)
}

// Resolver is the resolver the catalog's filters are parsed with.
var Resolver = TypeResolver{
	SpannerBackupMetaURL: (&testpb.CreateBackupMetadata{}).ProtoReflect().Type(),
	SpannerBackupURL:     (&testpb.Backup{}).ProtoReflect().Type(),
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

func withResponse(a *anypb.Any) *longrunningpb.Operation_Response {
	return &longrunningpb.Operation_Response{Response: a}
}

func withError(code int32, msg string) *longrunningpb.Operation_Error {
	return &longrunningpb.Operation_Error{Error: &statuspb.Status{Code: code, Message: msg}}
}

// Operations returns the operations every table test runs against, in
// the order the expected sets list them.
func Operations() []*longrunningpb.Operation {
	const db = "projects/p/instances/i/databases/"
	const bk = "projects/p/instances/i/backups/"
	return []*longrunningpb.Operation{
		{
			Name: OpHowl1,
			Metadata: pack(SpannerBackupMetaURL, &testpb.CreateBackupMetadata{
				Name: bk + "howl-1", Database: db + "prod",
				Progress: &testpb.OperationProgress{ProgressPercent: 40, StartTime: ts("2018-03-28T14:00:00Z")},
			}),
		},
		{
			Name: OpHowl2, Done: true, Result: withError(1, "Backup cancelled by user"),
			Metadata: pack(SpannerBackupMetaURL, &testpb.CreateBackupMetadata{
				Name: bk + "howl-2", Database: db + "prod",
				Progress: &testpb.OperationProgress{
					ProgressPercent: 100,
					StartTime:       ts("2018-03-28T13:00:00Z"), EndTime: ts("2018-03-28T15:00:00Z"),
				},
				CancelTime: ts("2018-03-28T15:00:00Z"),
			}),
		},
		{
			Name: OpNightly, Done: true,
			Result: withResponse(pack(SpannerBackupURL, &testpb.Backup{
				Name: bk + "nightly", Database: db + "staging", SizeBytes: 1024,
				CreateTime: ts("2019-01-01T01:00:00Z"), State: testpb.State_READY,
			})),
			Metadata: pack(SpannerBackupMetaURL, &testpb.CreateBackupMetadata{
				Name: bk + "nightly", Database: db + "staging",
				Progress: &testpb.OperationProgress{
					ProgressPercent: 100,
					StartTime:       ts("2019-01-01T00:00:00Z"), EndTime: ts("2019-01-01T01:00:00Z"),
				},
			}),
		},
		{
			Name:     OpHowl3,
			Metadata: pack(SpannerBackupMetaURL, &testpb.CreateBackupMetadata{Name: bk + "howl-3", Database: "prod-db"}),
		},
		{
			Name: OpInstA,
			Metadata: pack(InstanceMetaURL, &testpb.InstanceMetadata{
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
			Name: OpInstB, Done: true,
			Result: withResponse(pack(InstanceURL, &testpb.Instance{
				Name: "projects/p/instances/inst-b", Config: &testpb.InstanceConfig{Name: "regional-eu"},
				Labels: map[string]string{"env": "dev"}, NodeCount: 3,
			})),
			Metadata: pack(InstanceMetaURL, &testpb.InstanceMetadata{
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
			Name: OpInstC, Done: true, Result: withError(9, "instance config not found"),
			Metadata: pack(InstanceMetaURL, &testpb.InstanceMetadata{
				InstanceConfig: &testpb.InstanceConfig{Name: "projects/p/instanceConfigs/custom-config-2"},
				CreateTime:     ts("2023-06-01T12:00:00.5Z"),
				State:          testpb.State_FAILED,
				Elapsed:        durationpb.New(time.Hour),
				Score:          math.NaN(),
				Count:          100,
			}),
		},
		{Name: OpPlain},
		{Name: OpPlainDone, Done: true, Result: withResponse(&anypb.Any{TypeUrl: UnknownURL, Value: []byte{0xff, 0xff}})},
		{Name: OpFailed, Done: true, Result: withError(13, "boom: disk full")},
		{Name: OpMetaUnk, Metadata: &anypb.Any{TypeUrl: UnknownURL, Value: []byte("x")}},
		{
			Name: OpABC, Done: true,
			Result: withResponse(pack(InstanceURL, &testpb.Instance{Name: "projects/x/instances/abc", NodeCount: 1})),
		},
	}
}

// AllNames lists the fixture names in order.
func AllNames() []string {
	var names []string
	for _, op := range Operations() {
		names = append(names, op.GetName())
	}
	return names
}

// Except returns every fixture name Except the given ones.
func Except(skip ...string) []string {
	var names []string
outer:
	for _, n := range AllNames() {
		for _, s := range skip {
			if n == s {
				continue outer
			}
		}
		names = append(names, n)
	}
	return names
}

var (
	doneTrue  = []string{OpHowl2, OpNightly, OpInstB, OpInstC, OpPlainDone, OpFailed, OpABC}
	doneFalse = []string{OpHowl1, OpHowl3, OpInstA, OpPlain, OpMetaUnk}
	withErr   = []string{OpHowl2, OpInstC, OpFailed}
	backups   = []string{OpHowl1, OpHowl2, OpNightly, OpHowl3}
	instances = []string{OpInstA, OpInstB, OpInstC}
)

// SpannerFilter is a filter from Spanner's documentation.
const SpannerFilter = `(metadata.@type=type.googleapis.com/google.spanner.admin.database.v1.CreateBackupMetadata) AND (metadata.name:howl) AND (metadata.progress.start_time < "2018-03-28T14:50:00Z") AND (error:*)`

// Cases are filters with the exact fixture operations each matches,
// in fixture order.
var Cases = []Case{
	// The filters of the issue, as users copy them from Google's documentation.
	{"done:true", doneTrue},
	{"done = false", doneFalse},
	{"done!=true", doneFalse},
	{"error:*", withErr},
	{"NOT error:*", Except(withErr...)},
	{"error.code = 1", []string{OpHowl2}},
	{SpannerFilter, []string{OpHowl2}},
	{"metadata.instance_config.name:custom-config", []string{OpInstA, OpInstC}},
	{`(done = true AND metadata.create_time >= "2023-01-01T00:00:00Z") OR error.code = 1`, []string{OpHowl2, OpInstC}},
	{"(metadata.@type=type.googleapis.com/google.spanner.admin.database.v1.CreateBackupMetadata) AND metadata.database:prod", []string{OpHowl1, OpHowl2, OpHowl3}},

	// Empty filters match everything.
	{"", AllNames()},
	{" \t\n ", AllNames()},

	// Boolean structure and precedence: OR binds tighter than AND.
	{"done = true AND error.code = 1 OR error.code = 9", []string{OpHowl2, OpInstC}},
	{"error.code = 9 OR error.code = 1 AND done = false", nil},
	{"done = false metadata:*", []string{OpHowl1, OpHowl3, OpInstA, OpMetaUnk}},
	{"-error:*", Except(withErr...)},
	{"NOT (done = true OR metadata:*)", []string{OpPlain}},
	{"NOT(done = true OR metadata:*)", []string{OpPlain}},
	{"((done = true) AND ((error.code = 9) OR (error.code = 13)))", []string{OpInstC, OpFailed}},
	{"done = true AND NOT response:* AND NOT error:*", nil},
	{"done = true response.@type:Instance -error:*", []string{OpInstB, OpABC}},
	{"  done   =\tfalse\n", doneFalse},
	{"done = TRUE", doneTrue},
	{"NOT NOT done = true", doneTrue},
	{"done = true AND done = false", nil},
	{"error.code < 10 AND error.code > 0", []string{OpHowl2, OpInstC}},

	// Composite values distribute the field and comparator.
	{"error.code:(1 OR 9)", []string{OpHowl2, OpInstC}},
	{"error.code = (CANCELLED OR INTERNAL)", []string{OpHowl2, OpFailed}},
	{"metadata.state = (READY OR FAILED)", []string{OpInstB, OpInstC}},
	{`name:(howl AND "-2")`, []string{OpHowl2}},
	{"name:(howl -2)", []string{OpHowl1, OpHowl3}},
	{"metadata.labels:(team OR env-dev) AND done = false", []string{OpInstA}},

	// name: exact, wildcards, contains.
	{`name = "*/abc"`, []string{OpABC}},
	{"name = operations/plain", []string{OpPlain}},
	{"name = 'operations/plain'", []string{OpPlain}},
	{"name = operations/plain AND done = false", []string{OpPlain}},
	{"done = true AND name = operations/plain", nil},
	{"name = operations/failed AND error.code = INTERNAL AND NOT metadata:*", []string{OpFailed}},
	{"name = operations/failed AND error.code = CANCELLED", nil},
	{"name = operations/plain AND name = operations/failed", nil},
	{"name = operations/plain AND name = 'operations/plain'", []string{OpPlain}},
	{"name = operations/missing", nil},
	{"name = operations/plain OR name = operations/failed", []string{OpPlain, OpFailed}},
	{`name = "operations/*"`, []string{OpHowl1, OpHowl2, OpNightly, OpHowl3, OpPlain, OpPlainDone, OpFailed, OpMetaUnk}},
	{"name = projects/*/instances/*/operations/create", []string{OpInstA, OpInstB}},
	{"name:inst-", instances},
	{"name:backup-*-2", []string{OpHowl2}},
	{"name != operations/plain", Except(OpPlain)},
	{"name:*", AllNames()},
	{`name = "operations/plain\*"`, nil},
	{`name > "projects/p"`, []string{OpInstA, OpInstB, OpInstC, OpABC}},

	// error.
	{"error.code = CANCELLED", []string{OpHowl2}},
	{"error.code = cancelled", []string{OpHowl2}},
	{"error.code:CANCELLED", []string{OpHowl2}},
	{"error.code != 1", []string{OpInstC, OpFailed}},
	{"NOT error.code = 1", Except(OpHowl2)},
	{"error.code > 5", []string{OpInstC, OpFailed}},
	{"error.code >= FAILED_PRECONDITION", []string{OpInstC, OpFailed}},
	{"error.code:*", withErr},
	{"error.message:cancelled", []string{OpHowl2}},
	{`error.message = "boom*"`, []string{OpFailed}},
	{`error.message = "boom: disk full"`, []string{OpFailed}},

	// metadata and response as a whole, and their types.
	{"metadata:*", []string{OpHowl1, OpHowl2, OpNightly, OpHowl3, OpInstA, OpInstB, OpInstC, OpMetaUnk}},
	{"NOT metadata:*", []string{OpPlain, OpPlainDone, OpFailed, OpABC}},
	{"response:*", []string{OpNightly, OpInstB, OpPlainDone, OpABC}},
	{"response.@type = type.googleapis.com/lro.internal.testpb.Instance", []string{OpInstB, OpABC}},
	{"metadata.@type:InstanceMetadata", instances},
	{`metadata.@type = "*CreateBackupMetadata"`, backups},
	{"metadata.@type:*", []string{OpHowl1, OpHowl2, OpNightly, OpHowl3, OpInstA, OpInstB, OpInstC, OpMetaUnk}},

	// Fields of the unpacked metadata: strings.
	{"metadata.database = projects/p/instances/i/databases/prod", []string{OpHowl1, OpHowl2}},
	{"metadata.database:prod", []string{OpHowl1, OpHowl2, OpHowl3}},
	{"metadata.database != prod-db", []string{OpHowl1, OpHowl2, OpNightly}},
	{"metadata.instance_config.display_name = Custom", []string{OpInstA}},
	{"metadata.instanceConfig.displayName = Custom", []string{OpInstA}},

	// Numbers, across kinds.
	{"metadata.progress.progress_percent >= 100", []string{OpHowl2, OpNightly}},
	{"metadata.progress.progress_percent < 50", []string{OpHowl1}},
	{"metadata.progress.progress_percent != 40", []string{OpHowl2, OpNightly}},
	{"metadata.progress.progressPercent = 40", []string{OpHowl1}},
	{"metadata.score > 0.5", []string{OpInstA, OpInstB}},
	{"metadata.score >= 1e3", []string{OpInstB}},
	{"metadata.score != 0.75", []string{OpInstB, OpInstC}},
	{"metadata.count < 0", []string{OpInstB}},
	{"metadata.count > 2.5", []string{OpInstA, OpInstC}},
	{"metadata.count = 3.0", []string{OpInstA}},
	{"metadata.count = -5", []string{OpInstB}},
	{"metadata.count = abc", nil},
	{"metadata.ratio = 0.5", []string{OpInstA}},
	{"metadata.bytes_total > 1000000000", []string{OpInstA}},
	{"metadata.bytes_total > -1", instances},
	{"metadata.bytes_total = 1.099511627776e12", []string{OpInstA}},
	{"metadata.priority:*", []string{OpInstA}},
	{"metadata.priority = 0", []string{OpInstA, OpInstB, OpInstC}},

	// Bools and enums.
	{"metadata.dry_run = true", []string{OpInstB}},
	{"metadata.dry_run:false", []string{OpInstA, OpInstC}},
	{"metadata.state = READY", []string{OpInstB}},
	{"metadata.state != READY", []string{OpInstA, OpInstC}},
	{"metadata.state = 2", []string{OpInstB}},
	{"metadata.state = NOPE", nil},

	// Presence of messages.
	{"metadata.progress:*", []string{OpHowl1, OpHowl2, OpNightly}},
	{"metadata.progress.end_time:*", []string{OpHowl2, OpNightly}},
	{"metadata.update_time:*", []string{OpInstB}},

	// Timestamps and durations.
	{"metadata.progress.end_time > 2018-03-28T14:00:00Z", []string{OpHowl2, OpNightly}},
	{`metadata.progress.start_time != "2018-03-28T14:00:00Z"`, []string{OpHowl2, OpNightly}},
	{`metadata.cancel_time = "2018-03-28T15:00:00Z"`, []string{OpHowl2}},
	{`metadata.cancel_time = "2018-03-28T17:00:00+02:00"`, []string{OpHowl2}},
	{`metadata.create_time < "2023-01-01T00:00:00Z"`, []string{OpInstB}},
	{"metadata.create_time > 2023-06-01T12:00:00Z", []string{OpInstC}},
	{"metadata.create_time = 2023-05-01T00:00:00Z", []string{OpInstA}},
	{"metadata.elapsed > 10s", []string{OpInstA, OpInstC}},
	{"metadata.elapsed <= 1.5s", []string{OpInstB}},
	{"metadata.elapsed = 1h", []string{OpInstC}},
	{"metadata.elapsed = 1500ms", []string{OpInstB}},

	// Repeated fields, maps, wrappers, bytes.
	{"metadata.labels:team", []string{OpInstA}},
	{`metadata.labels:"env-*"`, []string{OpInstA, OpInstB}},
	{"metadata.labels:env", nil},
	{"metadata.labels:*", []string{OpInstA, OpInstB}},
	{"metadata.labels = team", nil},
	{"metadata.ids:2", []string{OpInstA}},
	{"metadata.history:READY", []string{OpInstB}},
	{"metadata.steps:*", []string{OpInstA, OpInstB}},
	{"metadata.steps.name:configure", []string{OpInstA}},
	{"metadata.steps.done = true", []string{OpInstA, OpInstB}},
	{"metadata.steps.tags:slow", []string{OpInstA}},
	{"metadata.tags:tier", []string{OpInstA}},
	{"metadata.tags:*", []string{OpInstA, OpInstB}},
	{"metadata.tags.env = prod", []string{OpInstA}},
	{"metadata.tags.env != prod", []string{OpInstB}},
	{"metadata.tags.env:*", []string{OpInstA, OpInstB}},
	{`metadata.tags."env" = dev`, []string{OpInstB}},
	{"metadata.shards:2", []string{OpInstA}},
	{"metadata.shards.1 = a", []string{OpInstA}},
	{"metadata.configs.primary.name = regional-us", []string{OpInstA}},
	{"metadata.owner = alice", []string{OpInstA}},
	{"metadata.owner:*", []string{OpInstA}},
	{"metadata.owner:lic", []string{OpInstA}},
	{"metadata.token = secret", []string{OpInstA}},

	// Fields that the operation's own type lacks never match, for != too
	// (node_count is a field of the Instance response, of no metadata type).
	{"metadata.node_count = 1", nil},
	{"metadata.node_count != 1", nil},
	{"NOT metadata.node_count = 1", AllNames()},
	{"metadata.name:howl", []string{OpHowl1, OpHowl2, OpHowl3}},
	{"metadata.name != x", backups},

	// Fields of the unpacked response.
	{"response.state = READY", []string{OpNightly}},
	{"response.size_bytes > 1000", []string{OpNightly}},
	{"response.name:inst-b", []string{OpInstB}},
	{"response.node_count >= 1", []string{OpInstB, OpABC}},
	{"response.labels.env = dev", []string{OpInstB}},
	{"response.config.name = regional-eu", []string{OpInstB}},
}
