package filter_test

import (
	"fmt"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro/internal/filter"
	"github.com/lrokit/lro/internal/testpb"
	"google.golang.org/protobuf/types/known/anypb"
)

func Example() {
	f, err := filter.Parse(`metadata.@type:InstanceMetadata AND metadata.instance_config.name:custom-config AND NOT error:*`, filter.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	md, _ := anypb.New(&testpb.InstanceMetadata{
		InstanceConfig: &testpb.InstanceConfig{Name: "projects/p/instanceConfigs/custom-config"},
	})
	op := &longrunningpb.Operation{Name: "operations/1", Metadata: md}
	fmt.Println(f.Match(op))
	fmt.Println(f.String())

	_, err = filter.Parse("done = 5", filter.Options{})
	fmt.Println(err)
	// Output:
	// true
	// metadata.@type:"InstanceMetadata" AND metadata.instance_config.name:"custom-config" AND NOT error:*
	// invalid filter at column 8: done is a bool: expected true or false, got "5"
}

func ExampleFilter_DoneHint() {
	f, _ := filter.Parse("done = false AND metadata.progress.progress_percent > 50", filter.Options{})
	if h := f.DoneHint(); h != nil {
		fmt.Println("done =", *h)
	}
	// Output: done = false
}
