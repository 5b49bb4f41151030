package lrohttp_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrohttp"
)

// TestManagerEndToEnd drives the real Manager through the REST mapping:
// start, get, wait (timed out and done), cancel, delete and a paginated
// list, under the top-level collection and under a parent.
func TestManagerEndToEnd(t *testing.T) {
	ctx := context.Background()
	m := newManager(t)
	ts := httptest.NewServer(lrohttp.NewHandler(m, lrohttp.WithPattern("projects/*/locations/*")))
	defer ts.Close()

	release := make(chan struct{})
	op, err := m.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		if err := op.SetMetadata(ctx, wrapperspb.Int32(50)); err != nil {
			return nil, err
		}
		<-release
		return wrapperspb.String("finished"), nil
	}, lro.WithMetadata(wrapperspb.Int32(0)))
	if err != nil {
		t.Fatal(err)
	}
	path := "/v1/" + op.GetName()

	got := do(t, ts.URL, "GET", path, "", "")
	if got.code != 200 || got.body["name"] != op.GetName() || got.body["done"] != nil {
		t.Fatalf("GET: HTTP %d %v", got.code, got.body)
	}

	// A wait that times out returns the running operation, not an error.
	got = do(t, ts.URL, "POST", path+":wait", "application/json", `{"timeout":"0.01s"}`)
	if got.code != 200 || got.body["done"] != nil {
		t.Fatalf("short wait: HTTP %d %v", got.code, got.body)
	}
	close(release)
	got = do(t, ts.URL, "POST", path+":wait", "application/json", `{"timeout":"60s"}`)
	want := map[string]any{"@type": "type.googleapis.com/google.protobuf.StringValue", "value": "finished"}
	if got.code != 200 || got.body["done"] != true || !equalJSON(got.body["response"], want) {
		t.Fatalf("wait: HTTP %d %v", got.code, got.body)
	}

	// Cancel an operation made with Create: done at once with CANCELLED.
	created, err := m.Create(ctx, lro.WithParent("projects/p/locations/l"))
	if err != nil {
		t.Fatal(err)
	}
	cpath := "/v1/" + created.GetName()
	if got := do(t, ts.URL, "POST", cpath+":cancel", "", ""); got.code != 200 {
		t.Fatalf("cancel: HTTP %d %v", got.code, got.body)
	}
	got = do(t, ts.URL, "GET", cpath, "", "")
	errObj, _ := got.body["error"].(map[string]any)
	if got.body["done"] != true || errObj["code"] != float64(codes.Canceled) {
		t.Fatalf("after cancel: %v", got.body)
	}

	// Delete, then the operation is gone.
	if got := do(t, ts.URL, "DELETE", cpath, "", ""); got.code != 200 {
		t.Fatalf("delete: HTTP %d %v", got.code, got.body)
	}
	if got := do(t, ts.URL, "GET", cpath, "", ""); got.code != 404 || got.body["error"].(map[string]any)["status"] != "NOT_FOUND" {
		t.Fatalf("get after delete: HTTP %d %v", got.code, got.body)
	}

	// List five top-level operations two at a time.
	names := map[string]bool{op.GetName(): true}
	for range 4 {
		o, err := m.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		names[o.GetName()] = true
	}
	seen := map[string]bool{}
	token, pages := "", 0
	for {
		got := do(t, ts.URL, "GET", "/v1/operations?pageSize=2&pageToken="+token, "", "")
		if got.code != 200 {
			t.Fatalf("list: HTTP %d %v", got.code, got.body)
		}
		pages++
		for _, o := range got.body["operations"].([]any) {
			n := o.(map[string]any)["name"].(string)
			if seen[n] {
				t.Errorf("%s listed twice", n)
			}
			seen[n] = true
		}
		next, _ := got.body["nextPageToken"].(string)
		if next == "" {
			break
		}
		token = next
	}
	if len(seen) != len(names) || pages != 3 {
		t.Errorf("listed %d operations in %d pages, want %d in 3", len(seen), pages, len(names))
	}
	// The filter reaches the Manager; a bad one is a 400 with its message.
	got = do(t, ts.URL, "GET", "/v1/operations?filter=done%3Dtrue", "", "")
	if ops, _ := got.body["operations"].([]any); got.code != 200 || len(ops) != 1 {
		t.Errorf("filtered list: HTTP %d %v, want the one done operation", got.code, got.body)
	}
	got = do(t, ts.URL, "GET", "/v1/operations?filter=%28%28", "", "")
	if got.code != 400 || got.body["error"].(map[string]any)["status"] != "INVALID_ARGUMENT" {
		t.Errorf("bad filter: HTTP %d %v", got.code, got.body)
	}
	// return_partial_success is not supported: 501 UNIMPLEMENTED, as
	// operations.proto says.
	got = do(t, ts.URL, "GET", "/v1/operations?returnPartialSuccess=true", "", "")
	if msg, _ := got.body["error"].(map[string]any)["message"].(string); got.code != 501 ||
		got.body["error"].(map[string]any)["status"] != "UNIMPLEMENTED" || !strings.Contains(msg, "return_partial_success") {
		t.Errorf("returnPartialSuccess=true: HTTP %d %v, want 501 UNIMPLEMENTED", got.code, got.body)
	}
	// A filter on a field that no known message type has is refused, naming
	// the field and its column.
	got = do(t, ts.URL, "GET", "/v1/operations?filter=metadata.nope%3D1", "", "")
	if msg, _ := got.body["error"].(map[string]any)["message"].(string); got.code != 400 ||
		!strings.Contains(msg, "unknown field metadata.nope") || !strings.Contains(msg, "column 10") {
		t.Errorf("unknown filter field: HTTP %d %v", got.code, got.body)
	}
	// An unknown operation under a mounted parent is NOT_FOUND from the Manager.
	if got := do(t, ts.URL, "GET", "/v1/projects/p/locations/l/operations/nope", "", ""); got.code != 404 {
		t.Errorf("unknown: HTTP %d %v", got.code, got.body)
	}
}

func equalJSON(a, b any) bool {
	am, ok1 := a.(map[string]any)
	bm, ok2 := b.(map[string]any)
	if !ok1 || !ok2 || len(am) != len(bm) {
		return false
	}
	for k, v := range am {
		if bm[k] != v {
			return false
		}
	}
	return true
}

// newManager returns a Manager closed when the test ends.
func newManager(t *testing.T) *lro.Manager {
	t.Helper()
	m, err := lro.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}
