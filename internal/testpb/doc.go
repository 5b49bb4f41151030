// Package testpb holds protocol buffer messages used as operation metadata
// and responses in the tests of the lro filter engine. They resemble the
// messages real Google services use (Spanner backups, instances).
package testpb

//go:generate protoc -I . -I /usr/include --go_out=. --go_opt=paths=source_relative testpb.proto
