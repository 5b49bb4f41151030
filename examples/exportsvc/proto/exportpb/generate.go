// Package exportpb holds the Go code generated from export.proto, the API of
// the exportsvc example: ExportService, whose ExportBooks method returns a
// google.longrunning.Operation.
//
// The google/longrunning and google/api imports are resolved at generation
// time by the stand-ins in ../third_party; the generated code imports the real
// Go packages. Regenerating needs protoc, protoc-gen-go and protoc-gen-go-grpc
// (in $(go env GOPATH)/bin or on PATH).
package exportpb

//go:generate sh -c "PATH=\"$(go env GOPATH)/bin:$PATH\" protoc -I .. -I ../third_party -I /usr/include --go_out=.. --go_opt=paths=source_relative --go-grpc_out=.. --go-grpc_opt=paths=source_relative exportpb/export.proto"
