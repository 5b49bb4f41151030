package main

import (
	"context"
	"strings"
	"testing"

	"github.com/lrokit/lro"
)

// TestListAllManager lists with no name against the real Manager: over
// gRPC the operations of every parent come back; over REST the
// unparented collection does, with a note that says so, and a "-"
// collection finds the others.
func TestListAllManager(t *testing.T) {
	ctx := context.Background()
	m := newManager(t)
	top, err := m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nested, err := m.Create(ctx, lro.WithParent("projects/p/locations/l"))
	if err != nil {
		t.Fatal(err)
	}
	flags := servers(t, m)

	out, code := lroctl(t, append(flags["grpc"], "list")...)
	if code != 0 || !strings.Contains(out, top.GetName()) || !strings.Contains(out, nested.GetName()) || strings.Contains(out, "listed the collection") {
		t.Errorf("grpc list:\n%s", out)
	}

	out, code = lroctl(t, append(flags["rest"], "list")...)
	if code != 0 || !strings.Contains(out, top.GetName()) || strings.Contains(out, nested.GetName()) ||
		!strings.Contains(out, `lroctl: listed the collection "operations" only`) {
		t.Errorf("rest list:\n%s", out)
	}
	out, code = lroctl(t, append(flags["rest"], "list", "projects/-/locations/-/operations")...)
	if code != 0 || !strings.Contains(out, nested.GetName()) || strings.Contains(out, "listed the collection") {
		t.Errorf("rest list of every parent:\n%s", out)
	}
}
