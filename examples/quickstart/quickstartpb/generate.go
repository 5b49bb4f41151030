// Package quickstartpb holds the Go code generated from quickstart.proto, the
// API of the quickstart example: BakeryService, whose BakeCake method returns
// a google.longrunning.Operation.
//
// The google/longrunning import is resolved at generation time by the
// stand-in in ../../exportsvc/proto/third_party; the generated code imports
// the real Go package. Regenerating needs protoc, protoc-gen-go and
// protoc-gen-go-grpc (in $(go env GOPATH)/bin or on PATH).
package quickstartpb

//go:generate sh -c "PATH=\"$(go env GOPATH)/bin:$PATH\" protoc -I .. -I ../../exportsvc/proto/third_party -I /usr/include --go_out=.. --go_opt=paths=source_relative --go-grpc_out=.. --go-grpc_opt=paths=source_relative quickstartpb/quickstart.proto"
