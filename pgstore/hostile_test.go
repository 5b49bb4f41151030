package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lrokit/lro"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// hostile are strings that break naive SQL building.
var hostile = []string{
	`it's`,
	`a;b`,
	`'; DROP TABLE lro_operations;--`,
	`"; DROP TABLE lro_operations;--`,
	`x' OR '1'='1`,
	`100%`,
	`%`,
	`_`,
	`a_c`,
	`back\slash`,
	`\`,
	`\%`,
	`$1`,
	`?`,
	`/* c */`,
	`日本語`,
}

func TestHostileValues(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	ctx := context.Background()
	for i, h := range hostile {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			parent := "projects/" + h
			r := rec(parent, h, i)
			r.RequestID = h
			r.Owner = h
			r.Kind = h
			mustCreate(t, s, r)
			name := r.Operation.GetName()
			got, err := s.Get(ctx, name)
			if err != nil {
				t.Fatalf("Get(%q): %v", name, err)
			}
			if got.Parent != parent || got.RequestID != h || got.Owner != h || got.Kind != h {
				t.Errorf("Get(%q) = parent %q request %q owner %q kind %q", name, got.Parent, got.RequestID, got.Owner, got.Kind)
			}
			// The request id dedupes only within its own parent.
			dup := rec(parent, h+"-dup", i)
			dup.RequestID = h
			if prev, created, err := s.Create(ctx, dup); err != nil || created || prev.Operation.GetName() != name {
				t.Errorf("Create with the same request id = %v, created %v, %v; want %q", prev, created, err, name)
			}
			if names := listNames(t, s, lro.ListQuery{Parent: parent, Limit: 100}); !cmp.Equal(names, []string{name}) {
				t.Errorf("List(parent %q) = %q; want just %q", parent, names, name)
			}
			if _, err := s.Update(ctx, name, func(r *lro.Record) error { r.Owner = h + h; return nil }); err != nil {
				t.Errorf("Update(%q): %v", name, err)
			}
			lease := lro.LeaseParams{Owner: h + h, Token: h, Lease: time.Minute}
			if err := s.RegisterOwner(ctx, lease); err != nil {
				t.Errorf("RegisterOwner(%q): %v", h+h, err)
			}
			if err := s.RenewLeases(ctx, lease); err != nil {
				t.Errorf("RenewLeases(%q): %v", h+h, err)
			}
			if held, err := s.ListOwned(ctx, lro.OwnedQuery{Owner: h + h, Limit: 10}); err != nil || len(held) != 1 || held[0].Operation.GetName() != name {
				t.Errorf("ListOwned(%q) = %v, %v; want just %q", h+h, held, err, name)
			}
		})
	}
	// Every record is still there: nothing was dropped or widened.
	all := listNames(t, s, lro.ListQuery{AllParents: true, Limit: 1000})
	if len(all) != len(hostile) {
		t.Errorf("after the hostile values there are %d records; want %d", len(all), len(hostile))
	}
}

func TestParentPatterns(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	parents := []string{
		"", "a", "a%", "a_", "ab", `a\`, `a\b`,
		"a%/x", "ab/x", "a_/x", "aX/x", `a\/x`, `a\\/x`,
		"a%/x/y", "a%/y", "b/x", "a%/-", "a%/",
		"projects/p1/locations/l1", "projects/p2/locations/l1", "projects/p1/locations/l2",
		"projects/p%/locations/l1", "projects/p_/locations/l1", "projects//locations/l1",
	}
	for i, p := range parents {
		mustCreate(t, s, rec(p, fmt.Sprint("op", i), i))
	}
	tests := []string{
		"", "a", "a%", "a_", `a\`, `a\b`, "%", "_", "-",
		"a%/-", "a_/-", `a\/-`, "-/x", "-/-", "-/x/-", "-/-/-",
		"a%/x", "a%/", `a\\/-`,
		"projects/-/locations/l1", "projects/p1/locations/-", "projects/-/locations/-",
		"projects/p%/locations/-", "projects/p_/locations/-", "projects/%/locations/-",
		"-/p1/-/l1", "projects/-/locations/l%",
	}
	for _, pattern := range tests {
		t.Run(pattern, func(t *testing.T) {
			var want []string
			for i := len(parents) - 1; i >= 0; i-- { // newest first
				if goParentMatch(pattern, parents[i]) {
					want = append(want, rec(parents[i], fmt.Sprint("op", i), i).Operation.GetName())
				}
			}
			got := listNames(t, s, lro.ListQuery{Parent: pattern, Limit: 100})
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("List(parent %q) (-want +got):\n%s", pattern, diff)
			}
		})
	}
}

// goParentMatch is the reference: "-" segments match one non-empty segment,
// other segments match themselves.
func goParentMatch(pattern, parent string) bool {
	if !strings.Contains("/"+pattern+"/", "/-/") {
		return pattern == parent
	}
	ps, gs := strings.Split(pattern, "/"), strings.Split(parent, "/")
	if len(ps) != len(gs) {
		return false
	}
	for i := range ps {
		if ps[i] == "-" {
			if gs[i] == "" {
				return false
			}
		} else if ps[i] != gs[i] {
			return false
		}
	}
	return true
}

func TestUnstorableText(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	ctx := context.Background()
	for _, bad := range []string{"nul\x00byte", "bad\xffutf8"} {
		r := rec("p", bad, 0)
		if _, _, err := s.Create(ctx, r); status.Code(err) != codes.InvalidArgument {
			t.Errorf("Create(%q): %v; want INVALID_ARGUMENT", bad, err)
		}
		r = rec(bad, "x", 0)
		if _, _, err := s.Create(ctx, r); status.Code(err) != codes.InvalidArgument {
			t.Errorf("Create(parent %q): %v; want INVALID_ARGUMENT", bad, err)
		}
		if _, err := s.Get(ctx, bad); !errors.Is(err, lro.ErrNotFound) {
			t.Errorf("Get(%q): %v; want ErrNotFound", bad, err)
		}
		if err := s.Delete(ctx, bad); !errors.Is(err, lro.ErrNotFound) {
			t.Errorf("Delete(%q): %v; want ErrNotFound", bad, err)
		}
		if _, err := s.Update(ctx, bad, func(*lro.Record) error { return nil }); !errors.Is(err, lro.ErrNotFound) {
			t.Errorf("Update(%q): %v; want ErrNotFound", bad, err)
		}
		if got, err := s.List(ctx, lro.ListQuery{Parent: bad, Limit: 10}); err != nil || len(got.Records) != 0 || got.Resume != nil {
			t.Errorf("List(parent %q) = %+v, %v; want nothing", bad, got, err)
		}
		stop := s.Watch(bad, func(lro.Event) {})
		stop()
	}
	// Names far beyond the Manager's limit, too large for a btree index.
	huge := make([]byte, 12000)
	_, _ = rand.Read(huge)
	if _, _, err := s.Create(ctx, rec("p", base64.RawURLEncoding.EncodeToString(huge), 0)); status.Code(err) != codes.InvalidArgument {
		t.Errorf("Create with an unindexable name: %v; want INVALID_ARGUMENT", err)
	}
	mustCreate(t, s, rec("p", "ok", 0))
	_, err := s.Update(ctx, "p/operations/ok", func(r *lro.Record) error { r.Owner = "\x00"; return nil })
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("Update storing a NUL byte: %v; want INVALID_ARGUMENT", err)
	}
}

// FuzzParentPattern checks List's parent matching, built from bound
// parameters, against the Go reference for arbitrary patterns.
func FuzzParentPattern(f *testing.F) {
	for _, p := range []string{"a%/-", "-/x", `a\/-`, "-", "", "a_/-/c", "%/-"} {
		f.Add(p)
	}
	s := newStore(f, freshSchema(f))
	parents := []string{"", "a", "a%/x", "ab/x", "a_/x", `a\/x`, "a%/x/c", "ab/y/c", "a_/z/c", "%/x", "-/x"}
	for i, p := range parents {
		mustCreate(f, s, rec(p, fmt.Sprint("op", i), i))
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, pattern string) {
		res, err := s.List(ctx, lro.ListQuery{Parent: pattern, Limit: 100})
		if err != nil {
			t.Fatalf("List(%q): %v", pattern, err)
		}
		got := map[string]bool{}
		for _, r := range res.Records {
			got[r.Parent] = true
		}
		for _, p := range parents {
			if want := validText(pattern) && goParentMatch(pattern, p); got[p] != want {
				t.Errorf("List(%q) includes parent %q: %v; want %v", pattern, p, got[p], want)
			}
		}
	})
}
