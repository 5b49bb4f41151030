package lrotest_test

import (
	"testing"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
)

func TestMemoryStore(t *testing.T) {
	lrotest.TestStore(t, func(t *testing.T) lro.Store { return lro.NewMemoryStore() })
}
