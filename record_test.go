package lro

import (
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/anypb"
)

// TestRecordEnd pins the rule for ending a record: done with the result,
// kept until expire, and no cancellation request or lease left pending.
func TestRecordEnd(t *testing.T) {
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	now := created.Add(time.Hour)
	expire := now.Add(24 * time.Hour)
	md := &anypb.Any{TypeUrl: "type.googleapis.com/x.Md"}
	resp := &anypb.Any{TypeUrl: "type.googleapis.com/x.Resp"}
	for _, tt := range []struct {
		desc  string
		final *longrunningpb.Operation
	}{
		{"response", succeeded(resp)},
		{"error", failed(status.New(codes.Aborted, "conflict"))},
		{"cancelled", failed((*Manager)(nil).cancelledStatus("operations/a"))},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			r := &Record{
				Operation:       &longrunningpb.Operation{Name: "operations/a", Metadata: md},
				CreateTime:      created,
				UpdateTime:      created,
				CancelRequested: true,
				Owner:           "me",
				LeaseExpireTime: now.Add(time.Minute),
				Attempt:         2,
			}
			r.end(tt.final, now, expire)
			want := &Record{
				Operation:  &longrunningpb.Operation{Name: "operations/a", Metadata: md, Done: true, Result: tt.final.Result},
				CreateTime: created,
				UpdateTime: now,
				ExpireTime: expire,
				Owner:      "me",
				Attempt:    2,
			}
			if diff := cmp.Diff(want, r, protocmp.Transform()); diff != "" {
				t.Errorf("end (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRecordExpiredAt(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range []struct {
		desc   string
		done   bool
		expire time.Time
		want   bool
	}{
		{"running", false, now.Add(-time.Hour), false},
		{"done, no expiry", true, time.Time{}, false},
		{"done, expires later", true, now.Add(time.Nanosecond), false},
		{"done, expires now", true, now, true},
		{"done, expired", true, now.Add(-time.Hour), true},
	} {
		r := &Record{Operation: &longrunningpb.Operation{Done: tt.done}, ExpireTime: tt.expire}
		if got := r.expiredAt(now); got != tt.want {
			t.Errorf("%s: expiredAt = %v, want %v", tt.desc, got, tt.want)
		}
	}
}

func TestRecordUnmarshalPayload(t *testing.T) {
	op, err := proto.Marshal(&longrunningpb.Operation{Name: "operations/a", Done: true})
	if err != nil {
		t.Fatal(err)
	}
	req, err := proto.Marshal(&anypb.Any{TypeUrl: "type.googleapis.com/x.Y", Value: []byte("v")})
	if err != nil {
		t.Fatal(err)
	}
	garbage := []byte{0xff, 0xff, 0xff}
	tests := []struct {
		name        string
		op, request []byte
		wantErr     string // empty: no error
		wantRequest bool
	}{
		{name: "operation only", op: op},
		{name: "operation and request", op: op, request: req, wantRequest: true},
		{name: "bad operation", op: garbage, wantErr: "decoding the operation"},
		{name: "bad request", op: op, request: garbage, wantErr: "decoding the request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Record{Request: &anypb.Any{TypeUrl: "stale"}}
			err := r.UnmarshalPayload(tt.op, tt.request)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("UnmarshalPayload = %v, want an error saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Operation.GetName() != "operations/a" || !r.Operation.GetDone() {
				t.Errorf("Operation = %v", r.Operation)
			}
			if got := r.Request != nil; got != tt.wantRequest {
				t.Fatalf("Request = %v, want set: %v", r.Request, tt.wantRequest)
			}
			if tt.wantRequest && r.Request.GetTypeUrl() != "type.googleapis.com/x.Y" {
				t.Errorf("Request = %v", r.Request)
			}
		})
	}
}
