package lro

import (
	"testing"
	"time"
)

// TestBackoff: each wait doubles up to the cap and is drawn from the
// upper half of its value.
func TestBackoff(t *testing.T) {
	p, err := RetryPolicy{MaxAttempts: 10, InitialBackoff: time.Second, MaxBackoff: 5 * time.Second}.normalized()
	if err != nil {
		t.Fatal(err)
	}
	for n, full := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 5 * time.Second, 9: 5 * time.Second} {
		for range 100 {
			if d := p.backoff(n); d < full/2 || d > full {
				t.Fatalf("backoff after attempt %d: %v; want within [%v, %v]", n, d, full/2, full)
			}
		}
	}
	d, err := RetryPolicy{MaxAttempts: 2}.normalized()
	if err != nil || d.InitialBackoff != DefaultInitialBackoff || d.MaxBackoff != DefaultMaxBackoff || d.Retryable == nil {
		t.Errorf("defaults: %+v, %v", d, err)
	}
}
