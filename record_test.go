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

func TestRecordMarshalPayloadRoundTrip(t *testing.T) {
	tests := []struct {
		name        string
		rec         Record
		wantRequest []byte // nil: no request stored
	}{
		{name: "no request", rec: Record{Operation: &longrunningpb.Operation{Name: "operations/a"}}},
		{name: "empty operation and empty request", rec: Record{Operation: &longrunningpb.Operation{}, Request: &anypb.Any{}}, wantRequest: []byte{}},
		{name: "request", rec: Record{Operation: &longrunningpb.Operation{Name: "operations/b", Done: true}, Request: &anypb.Any{TypeUrl: "type.googleapis.com/x.Y", Value: []byte("v")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, req, err := tt.rec.MarshalPayload()
			if err != nil {
				t.Fatal(err)
			}
			if op == nil {
				t.Error("operation encoded as nil; stores keep it NOT NULL")
			}
			if tt.rec.Request == nil && req != nil {
				t.Errorf("request = %v, want nil when the record has none", req)
			}
			if tt.wantRequest != nil && (req == nil || len(req) != 0) {
				t.Errorf("request = %v, want empty, not nil", req)
			}
			var back Record
			if err := back.UnmarshalPayload(op, req); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tt.rec, &back, protocmp.Transform()); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
	bad := Record{Operation: &longrunningpb.Operation{Name: "operations/\xff"}}
	if _, _, err := bad.MarshalPayload(); err == nil || !strings.Contains(err.Error(), "encoding the operation") {
		t.Errorf("MarshalPayload of invalid UTF-8 = %v, want an error about the operation", err)
	}
}

func TestRecordMapTimes(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	r := Record{CreateTime: at, UpdateTime: at, ExpireTime: at, LeaseExpireTime: at, StartTime: at, Deadline: at, RunAfter: at}
	r.MapTimes(func(time.Time) time.Time { return time.Time{} })
	if diff := cmp.Diff(Record{}, r); diff != "" {
		t.Errorf("MapTimes left times (-want +got):\n%s", diff)
	}
}
