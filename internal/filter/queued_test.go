package filter

import (
	"testing"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
)

// TestQueuedPseudoField: queued is a bool field whose value the caller
// gives to MatchState; Match treats every operation as not queued.
func TestQueuedPseudoField(t *testing.T) {
	op := &longrunningpb.Operation{Name: "operations/a"}
	for _, tc := range []struct {
		filter           string
		queued, notQueue bool
	}{
		{"queued = true", true, false},
		{"queued:true", true, false},
		{"queued != true", false, true},
		{"queued = false", false, true},
		{"NOT queued = true", false, true},
		{"done = false AND queued = false", false, true},
		{"queued:*", true, false},
	} {
		f, err := Parse(tc.filter, Options{})
		if err != nil {
			t.Fatalf("%q: %v", tc.filter, err)
		}
		if got := f.MatchState(op, true); got != tc.queued {
			t.Errorf("%q on a queued operation: %v, want %v", tc.filter, got, tc.queued)
		}
		if got := f.MatchState(op, false); got != tc.notQueue {
			t.Errorf("%q on a running operation: %v, want %v", tc.filter, got, tc.notQueue)
		}
		if got := f.Match(op); got != tc.notQueue {
			t.Errorf("%q with Match: %v, want %v", tc.filter, got, tc.notQueue)
		}
		g, err := Parse(f.String(), Options{})
		if err != nil || g.String() != f.String() {
			t.Errorf("%q: canonical form %q does not parse back to itself (%v)", tc.filter, f.String(), err)
		}
	}
	for _, bad := range []string{"queued < true", "queued = maybe", "queued.x = 1"} {
		if _, err := Parse(bad, Options{}); err == nil {
			t.Errorf("%q: parsed; want an error", bad)
		}
	}
}
