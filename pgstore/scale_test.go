package pgstore

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/jackc/pgx/v5"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/internal/testpb"
	"github.com/lrokit/lro/lrotest"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The List scale report: synthetic operations loaded with COPY, and the
// first page of each query shape of issue 11 timed through a Manager and
// explained. It is a test, skipped unless LRO_SCALE_ROWS lists the sizes
// to reach, such as "10000,100000,1000000":
//
//	LRO_SCALE_ROWS=10000,100000,1000000 go test -run TestScaleReport -v -timeout 30m ./pgstore

// scaleParents is how many parents the synthetic operations spread over.
const scaleParents = 100

// scaleOp returns synthetic operation i: under projects/p{i%100}, one in a
// thousand still running, one in twenty failed with INTERNAL, the others
// done with a response; metadata an InstanceMetadata whose config name is
// "cfg-rare" for one in a thousand.
func scaleOp(i int) (*longrunningpb.Operation, string) {
	parent := fmt.Sprintf("projects/p%03d", i%scaleParents)
	op := &longrunningpb.Operation{Name: fmt.Sprintf("%s/operations/op%08d", parent, i)}
	cfg := "cfg-common"
	if i%1000 == 500 {
		cfg = "cfg-rare"
	}
	md, _ := anypb.New(&testpb.InstanceMetadata{
		InstanceConfig: &testpb.InstanceConfig{Name: cfg, DisplayName: "Synthetic"},
		State:          testpb.State_READY, Count: int64(i % 100), Labels: []string{"env-prod"},
	})
	op.Metadata = md
	switch {
	case i%1000 == 7:
	case i%20 == 3:
		op.Done = true
		op.Result = &longrunningpb.Operation_Error{Error: &statuspb.Status{Code: 13, Message: "disk full"}}
	default:
		op.Done = true
		resp, _ := anypb.New(wrapperspb.String("ok"))
		op.Result = &longrunningpb.Operation_Response{Response: resp}
	}
	return op, parent
}

// farFuture is the expire time of the synthetic done operations: none
// expires while the report runs.
var farFuture = time.Now().Add(365 * 24 * time.Hour).UTC().Truncate(time.Microsecond)

// scaleLoad copies operations from..to-1 into s's table, with their
// derived columns, created a millisecond apart.
func scaleLoad(t testing.TB, s *Store, from, to int) {
	t.Helper()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const batch = 50_000
	for lo := from; lo < to; lo += batch {
		hi := min(lo+batch, to)
		rows := make([][]any, 0, hi-lo)
		for i := lo; i < hi; i++ {
			op, parent := scaleOp(i)
			b, err := proto.Marshal(op)
			if err != nil {
				t.Fatal(err)
			}
			d := derive(op)
			ct := base.Add(time.Duration(i) * time.Millisecond)
			var expire *time.Time
			if op.GetDone() {
				expire = &farFuture
			}
			rows = append(rows, []any{op.GetName(), parent, ct, ct, expire, int64(1), op.GetDone(), b,
				d.errorCode, d.metadataType, d.responseType, d.metadataJSON, d.metadataSchema, int64(1)})
		}
		_, err := s.pool.CopyFrom(context.Background(), pgx.Identifier{"lro_operations"},
			[]string{"name", "parent", "create_time", "update_time", "expire_time", "version", "done", "operation",
				"error_code", "metadata_type", "response_type", "metadata_json", "metadata_schema", "derived_version"},
			pgx.CopyFromRows(rows))
		if err != nil {
			t.Fatalf("COPY: %v", err)
		}
	}
	if _, err := s.pool.Exec(context.Background(), "ANALYZE lro_operations"); err != nil {
		t.Fatal(err)
	}
}

// scaleShapes are the query shapes of issue 11, and two more.
var scaleShapes = []struct{ name, collection, filter string }{
	{"no filter", "", ""},
	{"one parent", "projects/p007/operations", ""},
	{"wildcard parent", "projects/-/operations", ""},
	{"done=false", "", "done = false"},
	{"rare metadata field", "", "metadata.@type = type.googleapis.com/lro.internal.testpb.InstanceMetadata AND metadata.instance_config.name = cfg-rare"},
	{"rare metadata field, unpinned (Go)", "", "metadata.instance_config.name = cfg-rare"},
	{"no-match error filter", "", "error.code = NOT_FOUND"},
	{"error:* one parent", "projects/p003/operations", "error:*"},
	{"no-match name filter", "", "name:nomatch"},
}

func TestScaleReport(t *testing.T) {
	sizes := os.Getenv("LRO_SCALE_ROWS")
	if sizes == "" {
		t.Skip("set LRO_SCALE_ROWS (such as 10000,100000,1000000) to run the List scale report")
	}
	ctx := context.Background()
	schema := os.Getenv("LRO_SCALE_SCHEMA") // kept, and reused, when set
	if schema == "" {
		schema = freshSchema(t)
	} else if _, err := newPool(t, "public", 1).Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, schema)
	m := lrotest.NewManager(t, s)
	var loaded int
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM lro_operations").Scan(&loaded); err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		if n > loaded {
			scaleLoad(t, s, loaded, n)
			loaded = n
		}
		t.Logf("=== %d operations (loaded in %v)", n, time.Since(t0).Round(time.Millisecond))
		for _, sh := range scaleShapes {
			req := &longrunningpb.ListOperationsRequest{Name: sh.collection, Filter: sh.filter, PageSize: 50}
			var lat []time.Duration
			var resp *longrunningpb.ListOperationsResponse
			for range 7 {
				t1 := time.Now()
				resp, err = m.ListOperations(ctx, req)
				lat = append(lat, time.Since(t1))
				if err != nil {
					t.Fatalf("%s: %v", sh.name, err)
				}
			}
			slices.Sort(lat)
			t.Logf("%-36s first page %8.2f ms (median of 7), %2d operations, token %v, SQL %s",
				sh.name, float64(lat[3].Microseconds())/1000, len(resp.GetOperations()), resp.GetNextPageToken() != "",
				explainTime(t, s, sh.collection, sh.filter))
		}
	}
}

// TestScaleBudgets times a no-match List call, decided in SQL and in Go,
// for each scan budget in LRO_SCALE_BUDGETS (such as 1000,5000,10000),
// over the operations TestScaleReport left in LRO_SCALE_SCHEMA.
func TestScaleBudgets(t *testing.T) {
	budgets, schema := os.Getenv("LRO_SCALE_BUDGETS"), os.Getenv("LRO_SCALE_SCHEMA")
	if budgets == "" || schema == "" {
		t.Skip("set LRO_SCALE_BUDGETS and LRO_SCALE_SCHEMA to time scan budgets")
	}
	s := newStore(t, schema)
	for _, f := range strings.Split(budgets, ",") {
		b, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			t.Fatal(err)
		}
		m := lrotest.NewManager(t, s, lro.WithListScanBudget(b))
		for _, filter := range []string{"error.code = NOT_FOUND", "error.message:nomatch"} {
			var lat []time.Duration
			for range 7 {
				t0 := time.Now()
				if _, err := m.ListOperations(context.Background(), &longrunningpb.ListOperationsRequest{Filter: filter}); err != nil {
					t.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			slices.Sort(lat)
			t.Logf("budget %6d  %-24q  %8.2f ms (median of 7)", b, filter, float64(lat[3].Microseconds())/1000)
		}
	}
}

// explainTime runs EXPLAIN ANALYZE on the first statement List runs for
// the first page of a shape and returns its execution time and the first
// scan of its plan.
func explainTime(t *testing.T, s *Store, collection, filter string) string {
	t.Helper()
	f, err := lro.ParseFilter(filter, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := lro.ListQuery{AllParents: collection == "", Limit: 51, Budget: lro.DefaultListScanBudget, Done: f.DoneHint(), Filter: f}
	if filter != "" {
		q.Limit = 102
	}
	if collection != "" {
		q.Parent = strings.TrimSuffix(collection, "/operations")
	}
	p, ok := planList(q)
	if !ok {
		return "none"
	}
	window := min(q.Limit, p.budget) // the first statement List runs
	if p.pass != "" {
		window = min(max(4*q.Limit, minWindow), maxWindow, p.budget)
	}
	sql, args := p.statement(nil, window, q.Limit)
	rows, err := s.pool.Query(context.Background(), "EXPLAIN (ANALYZE) "+sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var exec, scan string
	for _, l := range lines {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "Execution Time"):
			exec = strings.TrimPrefix(l, "Execution Time: ")
		case scan == "" && strings.Contains(l, "Scan"):
			scan = strings.TrimPrefix(l, "->  ")
			if i := strings.Index(scan, "  (cost"); i > 0 {
				scan = scan[:i]
			}
		}
		if os.Getenv("LRO_SCALE_PLANS") != "" {
			t.Log("    " + l)
		}
	}
	return exec + " [" + scan + "]"
}
