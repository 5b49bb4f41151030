// Package interop holds the proof that real, unchanged clients of the
// google.longrunning.Operations API work against an lro.Manager: Google's
// Python api-core (OperationsClient over gRPC, AbstractOperationsClient over
// REST, Operation.result()), Google's Node client google-gax (over gRPC and
// over REST in fallback mode), the discovery-based Python client
// (google-api-python-client), grpcurl and curl.
//
// The tests start a real server in process (the Manager on gRPC with server
// reflection, lrohttp on HTTP) and run each client as a subprocess: the
// scripts under python/ and node/, or the grpcurl and curl binaries. A
// client whose runtime or packages are missing is skipped with a one-line
// reason, and fails the test when CI=true. See README.md for what each
// client needs.
package interop
