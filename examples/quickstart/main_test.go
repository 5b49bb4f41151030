package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/examples/quickstart/quickstartpb"
)

func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	// Progress lines may be skipped on a slow machine; the start, the end
	// and the result may not.
	for _, want := range []string{
		"server listening on 127.0.0.1:",
		"started operations/",
		"100%  ready",
		`result: a 3-layer lemon cake that says "Happy LRO day"`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBakeCakeInvalid(t *testing.T) {
	ops, err := lro.New()
	if err != nil {
		t.Fatalf("lro.New: %v", err)
	}
	defer func() {
		if err := ops.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	b := &bakery{ops: ops}
	for _, req := range []*quickstartpb.BakeCakeRequest{
		{},
		{Flavor: "lemon"},
		{Layers: 2},
		{Flavor: "lemon", Layers: -1},
	} {
		if _, err := b.BakeCake(t.Context(), req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("BakeCake(%v) = %v, want INVALID_ARGUMENT", req, err)
		}
	}
}

func TestOperationInfo(t *testing.T) {
	md := quickstartpb.File_quickstartpb_quickstart_proto.Services().ByName("BakeryService").Methods().ByName("BakeCake")
	info, ok := proto.GetExtension(md.Options().(*descriptorpb.MethodOptions), longrunningpb.E_OperationInfo).(*longrunningpb.OperationInfo)
	if !ok || info.GetResponseType() != "Cake" || info.GetMetadataType() != "BakeCakeMetadata" {
		t.Errorf("operation_info = %v, want Cake and BakeCakeMetadata", info)
	}
}
