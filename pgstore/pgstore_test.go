package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// TestConformance runs the lro.Store conformance suite; every case gets a
// schema of its own.
func TestConformance(t *testing.T) {
	t.Parallel()
	testURL(t)
	lrotest.TestStore(t, func(t *testing.T) lro.Store {
		return newStore(t, freshSchema(t))
	})
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	schema := freshSchema(t)
	pool := newPool(t, schema, 10)
	ctx := context.Background()
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = Migrate(ctx, pool) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate #%d: %v", i, err)
		}
	}
	if err := Migrate(ctx, pool); err != nil {
		t.Errorf("Migrate again: %v", err)
	}
	var count, maxVersion int64
	if err := pool.QueryRow(ctx, `SELECT count(*), max(version) FROM lro_schema_migrations`).Scan(&count, &maxVersion); err != nil {
		t.Fatal(err)
	}
	want, _ := loadMigrations()
	if count != int64(len(want)) || maxVersion != SchemaVersion() {
		t.Errorf("lro_schema_migrations has %d rows up to version %d; want %d up to %d", count, maxVersion, len(want), SchemaVersion())
	}
}

func TestNewNeedsMigration(t *testing.T) {
	t.Parallel()
	pool := newPool(t, freshSchema(t), 2)
	ctx := context.Background()
	if _, err := New(ctx, pool); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("New before Migrate: %v; want FAILED_PRECONDITION", err)
	}
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	s, err := New(ctx, pool)
	if err != nil {
		t.Fatalf("New after Migrate: %v", err)
	}
	s.Close()
	s.Close() // idempotent
	// A migration missing below the newest applied one (merged in after a
	// later one ran) is missing too.
	if _, err := pool.Exec(ctx, `DELETE FROM lro_schema_migrations WHERE version = 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := New(ctx, pool); status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "0001_operations.sql") {
		t.Errorf("New with migration 1 missing: %v; want FAILED_PRECONDITION naming it", err)
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	ctx := context.Background()
	req, err := anypb.New(durationpb.New(3 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	md, _ := anypb.New(durationpb.New(time.Second))
	in := &lro.Record{
		Operation:       &longrunningpb.Operation{Name: "projects/p/operations/x", Metadata: md},
		Parent:          "projects/p",
		CreateTime:      time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", 3600)),
		UpdateTime:      time.Date(2026, 1, 2, 3, 4, 6, 999, time.UTC),
		RequestID:       "req-1",
		CancelRequested: true,
		Owner:           "replica-a",
		LeaseExpireTime: time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC),
		Kind:            "export",
		Request:         req,
		Attempt:         2,
		Version:         99,
	}
	orig := in.Clone()
	stored := mustCreate(t, s, in)
	if diff := cmp.Diff(orig, in, protocmp.Transform()); diff != "" {
		t.Errorf("Create changed its argument (-before +after):\n%s", diff)
	}
	want := orig.Clone()
	want.CreateTime = time.Date(2026, 1, 2, 2, 4, 5, 123456000, time.UTC) // truncated to µs, in UTC
	want.UpdateTime = time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC)
	want.Version = 1
	if diff := cmp.Diff(want, stored, protocmp.Transform()); diff != "" {
		t.Errorf("Create returned (-want +got):\n%s", diff)
	}
	got, err := s.Get(ctx, "projects/p/operations/x")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("Get returned (-want +got):\n%s", diff)
	}
	// The returned record is the caller's: changing it changes nothing.
	got.Operation.Name = "changed"
	got.Request.TypeUrl = "changed"
	again, _ := s.Get(ctx, "projects/p/operations/x")
	if diff := cmp.Diff(want, again, protocmp.Transform()); diff != "" {
		t.Errorf("Get after changing a returned record (-want +got):\n%s", diff)
	}
}

func TestCreateConflicts(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	ctx := context.Background()
	a := rec("p", "a", 0)
	a.RequestID = "r1"
	mustCreate(t, s, a)

	tests := []struct {
		name        string
		rec         *lro.Record
		wantCreated bool
		wantName    string
		wantErr     error
	}{
		{"same name", rec("p", "a", 1), false, "", lro.ErrAlreadyExists},
		{"same request id, same parent", func() *lro.Record { r := rec("p", "b", 1); r.RequestID = "r1"; return r }(), false, "p/operations/a", nil},
		{"same name and request id", func() *lro.Record { r := rec("p", "a", 1); r.RequestID = "r1"; return r }(), false, "p/operations/a", nil},
		{"same request id, other parent", func() *lro.Record { r := rec("q", "b", 1); r.RequestID = "r1"; return r }(), true, "q/operations/b", nil},
		{"other request id", func() *lro.Record { r := rec("p", "c", 1); r.RequestID = "r2"; return r }(), true, "p/operations/c", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, created, err := s.Create(ctx, tt.rec)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Create: err %v; want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if created != tt.wantCreated || got.Operation.GetName() != tt.wantName {
				t.Errorf("Create = %q, created %v; want %q, created %v", got.Operation.GetName(), created, tt.wantName, tt.wantCreated)
			}
		})
	}
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	ctx := context.Background()
	mustCreate(t, s, rec("", "u", 0))

	boom := errors.New("boom")
	if _, err := s.Update(ctx, "operations/u", func(r *lro.Record) error { r.Owner = "x"; return boom }); err != boom {
		t.Errorf("Update with failing fn: %v; want the fn's error unchanged", err)
	}
	if _, err := s.Update(ctx, "operations/missing", func(*lro.Record) error { return nil }); !errors.Is(err, lro.ErrNotFound) {
		t.Errorf("Update of a missing record: %v; want ErrNotFound", err)
	}
	if _, err := s.Update(ctx, "operations/u", func(r *lro.Record) error { r.Operation.Name = "operations/v"; return nil }); err == nil {
		t.Errorf("Update renaming the operation: no error")
	}
	got, err := s.Update(ctx, "operations/u", func(r *lro.Record) error {
		r.Operation.Done = true
		r.Operation.Result = &longrunningpb.Operation_Error{Error: status.New(codes.Canceled, "x").Proto()}
		r.ExpireTime = baseTime.Add(time.Hour)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Done() || got.Version != 2 || !got.ExpireTime.Equal(baseTime.Add(time.Hour)) {
		t.Errorf("Update returned done %v version %d expire %v", got.Done(), got.Version, got.ExpireTime)
	}
	// Concurrent updates serialise: none is lost.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := s.Update(ctx, "operations/u", func(r *lro.Record) error { r.Attempt++; return nil }); err != nil {
				t.Errorf("Update: %v", err)
			}
		})
	}
	wg.Wait()
	final, err := s.Get(ctx, "operations/u")
	if err != nil {
		t.Fatal(err)
	}
	if final.Attempt != 20 || final.Version != 22 {
		t.Errorf("after 20 concurrent increments: attempt %d version %d; want 20 and 22", final.Attempt, final.Version)
	}
}

func TestDeleteExpired(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	ctx := context.Background()
	for i := range 5 {
		r := rec("", fmt.Sprint(i), i)
		r.Operation.Done = true
		r.ExpireTime = baseTime.Add(time.Duration(i) * time.Minute)
		mustCreate(t, s, r)
	}
	noExpiry := rec("", "noexpiry", 0)
	noExpiry.Operation.Done = true
	mustCreate(t, s, noExpiry)
	running := rec("", "running", 0)
	running.ExpireTime = baseTime
	mustCreate(t, s, running)

	if n, err := s.DeleteExpired(ctx, baseTime.Add(3*time.Minute), 2); err != nil || n != 2 {
		t.Errorf("DeleteExpired(limit 2) = %d, %v; want 2", n, err)
	}
	if n, err := s.DeleteExpired(ctx, baseTime.Add(3*time.Minute), 100); err != nil || n != 2 {
		t.Errorf("DeleteExpired = %d, %v; want 2", n, err)
	}
	for _, name := range []string{"operations/4", "operations/noexpiry", "operations/running"} {
		if _, err := s.Get(ctx, name); err != nil {
			t.Errorf("Get(%q) after DeleteExpired: %v", name, err)
		}
	}
}

// listNames lists with q and returns the names.
func listNames(t *testing.T, s *Store, q lro.ListQuery) []string {
	t.Helper()
	res, err := s.List(context.Background(), q)
	if err != nil {
		t.Fatalf("List(%+v): %v", q, err)
	}
	var names []string
	for _, r := range res.Records {
		names = append(names, r.Operation.GetName())
	}
	return names
}

func TestListPaging(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	ctx := context.Background()
	// 30 records over 5 instants, so ties on create_time are common, and
	// names whose byte order differs from most collations' order.
	var want []*lro.Record
	ids := []string{"B", "a", "_x", "-y", "Z", "é"}
	for i := range 30 {
		r := rec("p", fmt.Sprintf("%s%d", ids[i%len(ids)], i), i%5)
		r.Operation.Done = i%3 == 0
		want = append(want, mustCreate(t, s, r))
	}
	sort.Slice(want, func(i, j int) bool {
		c := lro.Cursor{CreateTime: want[i].CreateTime, Name: want[i].Operation.GetName()}
		return c.Precedes(want[j].CreateTime, want[j].Operation.GetName())
	})
	var wantNames []string
	for _, r := range want {
		wantNames = append(wantNames, r.Operation.GetName())
	}
	tests := []struct {
		name   string
		limit  int
		budget int
		filter string
		done   *bool
		keep   func(*lro.Record) bool
	}{
		{"all, pages of 7", 7, 0, "", nil, func(*lro.Record) bool { return true }},
		{"all, pages of 1", 1, 0, "", nil, func(*lro.Record) bool { return true }},
		{"done hint", 4, 0, "", ptr(true), (*lro.Record).Done},
		{"filter", 3, 0, "name:a", nil,
			func(r *lro.Record) bool { return strings.Contains(r.Operation.GetName(), "a") }},
		{"filter and done", 2, 0, `name = "*0"`, ptr(false),
			func(r *lro.Record) bool { return !r.Done() && strings.HasSuffix(r.Operation.GetName(), "0") }},
		{"filter, budget 4", 3, 4, "name:a", nil,
			func(r *lro.Record) bool { return strings.Contains(r.Operation.GetName(), "a") }},
		{"done hint, budget 1", 100, 1, "", ptr(true), (*lro.Record).Done},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var expect []string
			for _, r := range want {
				if tt.keep(r) {
					expect = append(expect, r.Operation.GetName())
				}
			}
			f, err := lro.ParseFilter(tt.filter, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			q := lro.ListQuery{Parent: "p", Limit: tt.limit, Budget: tt.budget, Filter: f, Done: tt.done}
			for page := 0; ; page++ {
				if page > 100 {
					t.Fatal("too many pages")
				}
				res, err := s.List(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				// The name filters are pushed down exactly: every record
				// returned matches.
				for _, r := range res.Records {
					if !f.Match(r.Operation) {
						t.Errorf("List returned %q, which the filter %q rejects", r.Operation.GetName(), tt.filter)
					}
					got = append(got, r.Operation.GetName())
				}
				if res.Resume == nil {
					break
				}
				q.After = res.Resume
			}
			if diff := cmp.Diff(expect, got); diff != "" {
				t.Errorf("paged listing (-want +got):\n%s", diff)
			}
		})
	}
	if got := listNames(t, s, lro.ListQuery{AllParents: true, Limit: 1000}); !cmp.Equal(got, wantNames) {
		t.Errorf("AllParents listing = %v; want %v", got, wantNames)
	}
	if got := listNames(t, s, lro.ListQuery{Parent: "other", Limit: 10}); len(got) != 0 {
		t.Errorf("listing another parent = %v; want none", got)
	}
	if got, err := s.List(ctx, lro.ListQuery{AllParents: true, Limit: 0}); err == nil || len(got.Records) != 0 {
		t.Errorf("Limit 0 = %+v, %v; want an error", got, err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestTokenSecretShared(t *testing.T) {
	t.Parallel()
	schema := freshSchema(t)
	a, b := newStore(t, schema), newStore(t, schema)
	ctx := context.Background()
	var wg sync.WaitGroup
	var sa, sb []byte
	var ea, eb error
	wg.Go(func() { sa, ea = a.TokenSecret(ctx) })
	wg.Go(func() { sb, eb = b.TokenSecret(ctx) })
	wg.Wait()
	if ea != nil || eb != nil {
		t.Fatalf("TokenSecret: %v, %v", ea, eb)
	}
	if len(sa) != secretLen || !cmp.Equal(sa, sb) {
		t.Errorf("secrets %x and %x; want one shared %d-byte secret", sa, sb, secretLen)
	}
	sa[0]++
	if again, _ := a.TokenSecret(ctx); !cmp.Equal(again, sb) {
		t.Errorf("changing a returned secret changed the store's")
	}
}

func TestPollInterval(t *testing.T) {
	t.Parallel()
	schema := freshSchema(t)
	if got := newStore(t, schema).PollInterval(); got != DefaultPollInterval {
		t.Errorf("default PollInterval = %v; want %v", got, DefaultPollInterval)
	}
	if got := newStore(t, schema, WithPollInterval(3*time.Second)).PollInterval(); got != 3*time.Second {
		t.Errorf("PollInterval = %v; want 3s", got)
	}
	pool := newPool(t, schema, 1)
	if _, err := New(context.Background(), pool, WithPollInterval(0)); err == nil {
		t.Errorf("New with a zero poll interval: no error")
	}
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	schema := freshSchema(t)
	ctx := context.Background()

	// Nothing listens on port 1.
	cfg, err := pgxpool.ParseConfig("postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=5")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := New(ctx, pool, WithChannel("x")); status.Code(err) != codes.Unavailable {
		t.Errorf("New on an unreachable server: %v (code %v); want UNAVAILABLE", err, status.Code(err))
	}

	// A store whose pool is closed under it.
	pool2 := newPool(t, schema, 2)
	s, err := New(ctx, pool2, WithAutoMigrate())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pool2.Close()
	_, err = s.Get(ctx, "operations/x")
	if status.Code(err) != codes.Unavailable || errors.Is(err, lro.ErrNotFound) {
		t.Errorf("Get on a closed pool: %v (code %v); want UNAVAILABLE", err, status.Code(err))
	}
}

func TestChannelFor(t *testing.T) {
	tests := []struct{ schema, want string }{
		{"public", "lro_changes"},
		{"tenant_a", "lro_changes.tenant_a"},
		{strings.Repeat("s", 60), "lro_changes#"},
	}
	for _, tt := range tests {
		got := channelFor(tt.schema)
		if !strings.HasPrefix(got, tt.want) || len(got) > maxChannelLen {
			t.Errorf("channelFor(%q) = %q; want prefix %q and at most %d bytes", tt.schema, got, tt.want, maxChannelLen)
		}
	}
	if channelFor(strings.Repeat("s", 60)) == channelFor(strings.Repeat("s", 61)) {
		t.Errorf("long schemas share a channel")
	}
}
