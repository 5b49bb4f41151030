package demo

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

func TestTypesRoundTrip(t *testing.T) {
	now := time.Date(2025, 6, 3, 14, 0, 0, 0, time.UTC)
	for _, m := range []proto.Message{
		Export{Source: "s", Progress: 5, Created: now}.Metadata(),
		Response("d", 1, 2, now),
		Import("i", 7, now, now),
	} {
		a, err := anypb.New(m)
		if err != nil {
			t.Fatal(err)
		}
		mt, err := Types().FindMessageByURL(a.GetTypeUrl())
		if err != nil {
			t.Fatalf("%s: %v", a.GetTypeUrl(), err)
		}
		back := mt.New().Interface()
		if err := a.UnmarshalTo(back); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(back, m) {
			t.Errorf("%s does not round-trip", a.GetTypeUrl())
		}
	}
	if jsonName("progress_percent") != "progressPercent" {
		t.Error(jsonName("progress_percent"))
	}
}
