package spannerstore

import (
	"testing"

	"cloud.google.com/go/spanner"
	"github.com/lrokit/lro"
)

// TestChangeEventsQueued: a change tells of queued work when a record of a
// kind is written queued (no owner, no start time, not done) or done, and
// not otherwise, nor for changes written before schema version 4 (no kind
// or start time in the stream).
func TestChangeEventsQueued(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mod    string
		values map[string]any
		want   bool
	}{
		{"queued insert", "INSERT", map[string]any{"done": false, "owner": "", "kind": "job", "start_time": nil, "cancel_requested": false}, true},
		{"put back", "UPDATE", map[string]any{"done": false, "owner": "", "kind": "job", "start_time": nil, "cancel_requested": false}, true},
		{"kind ended", "UPDATE", map[string]any{"done": true, "owner": "w", "kind": "job", "start_time": "2026-01-01T00:00:00Z", "cancel_requested": false}, true},
		{"claimed", "UPDATE", map[string]any{"done": false, "owner": "w", "kind": "job", "start_time": "2026-01-01T00:00:00Z", "cancel_requested": false}, false},
		{"running unowned", "UPDATE", map[string]any{"done": false, "owner": "", "kind": "job", "start_time": "2026-01-01T00:00:00Z", "cancel_requested": false}, false},
		{"no kind", "INSERT", map[string]any{"done": false, "owner": "", "kind": "", "start_time": nil, "cancel_requested": false}, false},
		{"no kind ended", "UPDATE", map[string]any{"done": true, "owner": "", "kind": "", "start_time": nil, "cancel_requested": false}, false},
		{"before version 4", "UPDATE", map[string]any{"done": false, "owner": "", "cancel_requested": false}, false},
		{"deleted", "DELETE", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &dataChangeRecord{TableName: "lro_operations", ModType: tc.mod, Mods: []*mod{{
				Keys:      spanner.NullJSON{Value: map[string]any{"name": "operations/x"}, Valid: true},
				NewValues: spanner.NullJSON{Value: tc.values, Valid: tc.values != nil},
			}}}
			evs, queued := changeEvents(d)
			if queued != tc.want {
				t.Errorf("queued = %v; want %v", queued, tc.want)
			}
			want := lro.Event{Name: "operations/x", Deleted: tc.mod == "DELETE"}
			if tc.values != nil {
				want.Done = tc.values["done"].(bool)
				want.Owner = tc.values["owner"].(string)
			}
			if len(evs) != 1 || evs[0] != want {
				t.Errorf("events %+v; want [%+v]", evs, want)
			}
		})
	}
}
