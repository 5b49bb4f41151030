package lrotest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lrokit/lro"
)

// The cases for the calls on one record by name: Get, Update and Delete.

func testGetNotFound(t *testing.T, s lro.Store) {
	wantNotFound(t, s, "operations/unknown")
	create(t, s, NewRecord("projects/p/operations/known", at(0)))
	wantNotFound(t, s, "projects/p/operations/unknown")
	wantNotFound(t, s, "projects/p/operations/know")
	wantNotFound(t, s, "operations/known")
}

func testUpdatePersists(t *testing.T, s lro.Store) {
	const name = "projects/p/operations/upd"
	created := create(t, s, fullRecord(t, name, at(0)))

	steps := []struct {
		desc   string
		change func(r *lro.Record)
	}{
		{"metadata", func(r *lro.Record) {
			r.Operation.Metadata = mustAny(t, wrapperspb.String("progress 50%"))
			r.UpdateTime = at(time.Minute)
		}},
		{"cancel and lease", func(r *lro.Record) {
			r.CancelRequested = true
			r.Owner = "owner-2"
			r.LeaseExpireTime = at(time.Hour)
			r.Attempt = 2
		}},
		{"done", func(r *lro.Record) {
			finish(t, r, at(24*time.Hour))
			r.UpdateTime = at(2 * time.Minute)
		}},
	}
	prev := created
	for _, st := range steps {
		var seen *lro.Record // what the first call of fn saw
		want := prev.Clone()
		st.change(want)
		got, err := s.Update(t.Context(), name, func(r *lro.Record) error {
			if seen == nil {
				seen = r.Clone()
			}
			st.change(r)
			return nil
		})
		if err != nil {
			t.Fatalf("Update (%s): %v", st.desc, err)
		}
		if seen == nil {
			t.Fatalf("Update (%s) did not call its function", st.desc)
		}
		wantSame(t, st.desc+": record passed to the Update function", seen, prev)
		wantRecord(t, "Update result ("+st.desc+")", got, want)
		if got.Version <= prev.Version {
			t.Errorf("Update (%s): Version = %d, want more than the previous %d", st.desc, got.Version, prev.Version)
		}
		wantSame(t, "Get after Update ("+st.desc+")", get(t, s, name), got)
		prev = got
	}

	// An update that changes nothing is still a write.
	got := update(t, s, name, func(*lro.Record) {})
	if got.Version <= prev.Version {
		t.Errorf("Update without changes: Version = %d, want more than %d", got.Version, prev.Version)
	}
}

func testUpdateFnError(t *testing.T, s lro.Store) {
	const name = "projects/p/operations/upd"
	before := create(t, s, fullRecord(t, name, at(0)))
	errBoom := errors.New("boom")
	got, err := s.Update(t.Context(), name, func(r *lro.Record) error {
		scribble(r)
		r.Operation.Name = name
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update with a failing function = %v, %v; want error %v", got, err, errBoom)
	}
	wantSame(t, "Get after a failed Update", get(t, s, name), before)
}

func testUpdateNotFound(t *testing.T, s lro.Store) {
	create(t, s, NewRecord("projects/p/operations/known", at(0)))
	called := false
	got, err := s.Update(t.Context(), "projects/p/operations/unknown", func(*lro.Record) error {
		called = true
		return nil
	})
	if !errors.Is(err, lro.ErrNotFound) {
		t.Fatalf("Update of an unknown name = %v, %v; want error %v", got, err, lro.ErrNotFound)
	}
	if called {
		t.Errorf("Update of an unknown name called its function")
	}
	wantNotFound(t, s, "projects/p/operations/unknown")
}

func testUpdateConcurrent(t *testing.T, s lro.Store) {
	const (
		name       = "projects/p/operations/counter"
		goroutines = 32
		increments = 20
	)
	created := create(t, s, NewRecord(name, at(0)))
	versions := make([][]int64, goroutines)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			<-start
			for range increments {
				got, err := s.Update(t.Context(), name, func(r *lro.Record) error {
					r.Attempt++
					return nil
				})
				if err != nil {
					t.Errorf("Update: %v", err)
					return
				}
				versions[g] = append(versions[g], got.Version)
			}
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}

	final := get(t, s, name)
	if final.Attempt != goroutines*increments {
		t.Errorf("counter after %d concurrent increments = %d; updates were lost", goroutines*increments, final.Attempt)
	}
	seen := map[int64]bool{}
	var maxVersion int64
	for _, vs := range versions {
		for i, v := range vs {
			if seen[v] {
				t.Errorf("two Updates returned Version %d", v)
			}
			seen[v] = true
			if v <= created.Version {
				t.Errorf("Update returned Version %d, want more than the created %d", v, created.Version)
			}
			if i > 0 && v <= vs[i-1] {
				t.Errorf("sequential Updates returned Versions %d then %d, want growth", vs[i-1], v)
			}
			maxVersion = max(maxVersion, v)
		}
	}
	if final.Version != maxVersion {
		t.Errorf("Get after the Updates: Version = %d, want the last one written, %d", final.Version, maxVersion)
	}
}

func testDeleteRemoves(t *testing.T, s lro.Store) {
	const name = "projects/p/operations/del"
	create(t, s, NewRecord(name, at(0)))
	create(t, s, NewRecord("projects/p/operations/keep", at(time.Second)))
	if err := s.Delete(t.Context(), name); err != nil {
		t.Fatalf("Delete(%q): %v", name, err)
	}
	wantNotFound(t, s, name)
	wantNames(t, "List after Delete", list(t, s, lro.ListQuery{AllParents: true, Limit: 10}),
		[]string{"projects/p/operations/keep"})
	if err := s.Delete(t.Context(), name); !errors.Is(err, lro.ErrNotFound) {
		t.Errorf("second Delete(%q) = %v, want %v", name, err, lro.ErrNotFound)
	}
}

func testDeleteNotFound(t *testing.T, s lro.Store) {
	if err := s.Delete(t.Context(), "operations/unknown"); !errors.Is(err, lro.ErrNotFound) {
		t.Errorf("Delete of an unknown name = %v, want %v", err, lro.ErrNotFound)
	}
}
