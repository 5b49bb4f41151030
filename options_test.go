package lro_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lrokit/lro"
)

func TestNewRefusesBadOptions(t *testing.T) {
	for _, tt := range []struct {
		opt  lro.Option
		name string // the option the error must name
	}{
		{lro.WithStore(nil), "WithStore"},
		{lro.WithRetention(0), "WithRetention"},
		{lro.WithRetention(-time.Second), "WithRetention"},
		{lro.WithMaxWait(0), "WithMaxWait"},
		{lro.WithLease(-1), "WithLease"},
		{lro.WithSweepPeriod(0), "WithSweepPeriod"},
		{lro.WithOwner(""), "WithOwner"},
		{lro.WithPageSize(0, 10), "WithPageSize"},
		{lro.WithPageSize(20, 10), "WithPageSize"},
		{lro.WithPageTokenKey([]byte("short")), "WithPageTokenKey"},
		{lro.WithMaxPayloadSize(1023), "WithMaxPayloadSize"},
		{lro.WithCloseGrace(0), "WithCloseGrace"},
	} {
		m, err := lro.New(tt.opt)
		if err == nil {
			_ = m.Close(context.Background())
			t.Errorf("New(%s with a bad value) succeeded, want an error", tt.name)
			continue
		}
		if !strings.Contains(err.Error(), tt.name) {
			t.Errorf("New(%s with a bad value) = %v, want the error to name the option", tt.name, err)
		}
	}
}

func TestNewAcceptsGoodOptions(t *testing.T) {
	m, err := lro.New(
		lro.WithRetention(time.Hour), lro.WithMaxWait(time.Second), lro.WithLease(time.Minute),
		lro.WithSweepPeriod(time.Minute), lro.WithOwner("a"), lro.WithPageSize(1, 1),
		lro.WithPageTokenKey(make([]byte, 16)), lro.WithMaxPayloadSize(1024), lro.WithCloseGrace(time.Second),
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}
