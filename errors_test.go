package lro_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// errorDetails returns the ErrorInfo and BadRequest of a status (nil when
// absent), failing on a second ErrorInfo.
func errorDetails(t *testing.T, p *spb.Status) (*errdetails.ErrorInfo, *errdetails.BadRequest) {
	t.Helper()
	var info *errdetails.ErrorInfo
	var bad *errdetails.BadRequest
	for _, d := range p.GetDetails() {
		m, err := d.UnmarshalNew()
		if err != nil {
			t.Fatalf("detail %s: %v", d.GetTypeUrl(), err)
		}
		switch m := m.(type) {
		case *errdetails.ErrorInfo:
			if info != nil {
				t.Fatalf("two ErrorInfo details in %v", p)
			}
			info = m
		case *errdetails.BadRequest:
			bad = m
		}
	}
	return info, bad
}

// wantReason checks that status p has code, and an ErrorInfo of reason in
// domain whose metadata includes md.
func wantReason(t *testing.T, p *spb.Status, code codes.Code, domain, reason string, md map[string]string) {
	t.Helper()
	if codes.Code(p.GetCode()) != code {
		t.Fatalf("status %v: want code %v", p, code)
	}
	info, _ := errorDetails(t, p)
	if info == nil {
		t.Fatalf("status %v has no ErrorInfo", p)
	}
	if info.GetReason() != reason || info.GetDomain() != domain {
		t.Errorf("ErrorInfo %v: want reason %s, domain %s", info, reason, domain)
	}
	for k, v := range md {
		if got := info.GetMetadata()[k]; got != v {
			t.Errorf("ErrorInfo %v: metadata %q = %q, want %q", info, k, got, v)
		}
	}
}

// nilContext returns a nil context, which callers must not pass.
func nilContext() context.Context { return nil }

// brokenStore fails every Get, as a store that is down does.
type brokenStore struct{ lro.Store }

func (brokenStore) Get(context.Context, string) (*lro.Record, error) {
	return nil, errors.New("disk on fire")
}

// refusingStore refuses every Get with a bare status of its own.
type refusingStore struct{ lro.Store }

func (refusingStore) Get(context.Context, string) (*lro.Record, error) {
	return nil, status.Error(codes.OutOfRange, "too far")
}

// slowStore answers every Get as if the caller's deadline passed, and
// every Create as if the name were taken.
type slowStore struct{ lro.Store }

func (slowStore) Get(context.Context, string) (*lro.Record, error) {
	return nil, context.DeadlineExceeded
}

func (slowStore) Create(context.Context, *lro.Record) (*lro.Record, bool, error) {
	return nil, false, lro.ErrAlreadyExists
}

// TestErrorDetails walks every error path of the Manager's API and checks
// the AIP-193 details: the reason, the domain set by WithErrorDomain, the
// metadata and, for a bad request field, the BadRequest violation.
func TestErrorDetails(t *testing.T) {
	const domain = "library.example.com"
	ctx := context.Background()
	m := newManager(t, lro.WithErrorDomain(domain), lro.WithMaxPayloadSize(1024))
	if err := lro.Register(m, "export", func(context.Context, *lro.Op, *wrapperspb.StringValue) (proto.Message, error) {
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	run := make(chan struct{})
	t.Cleanup(func() { close(run) })
	running, err := m.Start(ctx, func(ctx context.Context, _ *lro.Op) (proto.Message, error) { <-run; return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	done, err := m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Complete(ctx, done.GetName(), nil); err != nil {
		t.Fatal(err)
	}
	closed := newManager(t, lro.WithErrorDomain(domain))
	if err := closed.Close(ctx); err != nil {
		t.Fatal(err)
	}
	broken := newManager(t, lro.WithErrorDomain(domain), lro.WithStore(brokenStore{lro.NewMemoryStore()}))
	refusing := newManager(t, lro.WithErrorDomain(domain), lro.WithStore(refusingStore{lro.NewMemoryStore()}))
	slow := newManager(t, lro.WithErrorDomain(domain), lro.WithStore(slowStore{lro.NewMemoryStore()}))
	acceptOnly := newManager(t, lro.WithErrorDomain(domain), lro.WithMaxRunning(0))
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	invalid := wrapperspb.String("\xff") // invalid UTF-8: cannot be marshalled
	const missing = "operations/missing"

	for _, tt := range []struct {
		desc   string
		call   func() error
		code   codes.Code
		reason string
		md     map[string]string
		field  string // the BadRequest field violation, if any
	}{
		{"get malformed name", func() error {
			_, err := m.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: "bad name"})
			return err
		}, codes.InvalidArgument, lro.ReasonInvalidOperationName, map[string]string{"operation": "bad name"}, "name"},
		{"get unknown", func() error {
			_, err := m.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: missing})
			return err
		}, codes.NotFound, lro.ReasonOperationNotFound, map[string]string{"operation": missing}, ""},
		{"delete unknown", func() error {
			_, err := m.DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: missing})
			return err
		}, codes.NotFound, lro.ReasonOperationNotFound, map[string]string{"operation": missing}, ""},
		{"cancel unknown", func() error {
			_, err := m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: missing})
			return err
		}, codes.NotFound, lro.ReasonOperationNotFound, map[string]string{"operation": missing}, ""},
		{"list malformed collection", func() error {
			_, err := m.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: "a//b"})
			return err
		}, codes.InvalidArgument, lro.ReasonInvalidCollection, map[string]string{"collection": "a//b"}, "name"},
		{"list bad filter", func() error {
			_, err := m.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Filter: "done = maybe"})
			return err
		}, codes.InvalidArgument, lro.ReasonInvalidFilter, map[string]string{"filter": "done = maybe", "column": "8"}, "filter"},
		{"list bad page token", func() error {
			_, err := m.ListOperations(ctx, &longrunningpb.ListOperationsRequest{PageToken: "garbage"})
			return err
		}, codes.InvalidArgument, lro.ReasonInvalidPageToken, nil, "page_token"},
		{"list negative page size", func() error {
			_, err := m.ListOperations(ctx, &longrunningpb.ListOperationsRequest{PageSize: -1})
			return err
		}, codes.InvalidArgument, lro.ReasonInvalidPageSize, nil, "page_size"},
		{"list partial success", func() error {
			_, err := m.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: "operations", ReturnPartialSuccess: true})
			return err
		}, codes.Unimplemented, lro.ReasonPartialSuccessUnsupported, map[string]string{"collection": "operations"}, ""},
		{"wait negative timeout", func() error {
			_, err := m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: running.GetName(), Timeout: durationpb.New(-time.Second)})
			return err
		}, codes.InvalidArgument, lro.ReasonInvalidTimeout, map[string]string{"operation": running.GetName()}, "timeout"},
		{"wait malformed timeout", func() error {
			_, err := m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: running.GetName(), Timeout: &durationpb.Duration{Seconds: 1, Nanos: -1}})
			return err
		}, codes.InvalidArgument, lro.ReasonInvalidTimeout, map[string]string{"operation": running.GetName()}, "timeout"},
		{"wait caller gone", func() error {
			_, err := m.WaitOperation(cancelled, &longrunningpb.WaitOperationRequest{Name: running.GetName()})
			return err
		}, codes.Canceled, lro.ReasonRequestCancelled, map[string]string{"operation": running.GetName()}, ""},
		{"start nil work", func() error {
			_, err := m.Start(ctx, nil)
			return err
		}, codes.InvalidArgument, lro.ReasonMissingWork, nil, ""},
		{"start bad parent", func() error {
			_, err := m.Create(ctx, lro.WithParent("a//b"))
			return err
		}, codes.InvalidArgument, lro.ReasonInvalidParent, map[string]string{"parent": "a//b"}, ""},
		{"start unpackable metadata", func() error {
			_, err := m.Create(ctx, lro.WithMetadata(invalid))
			return err
		}, codes.InvalidArgument, lro.ReasonInvalidMetadata, map[string]string{"type": "*wrapperspb.StringValue"}, ""},
		{"start payload too large", func() error {
			_, err := m.Create(ctx, lro.WithMetadata(wrapperspb.String(strings.Repeat("x", 2000))))
			return err
		}, codes.InvalidArgument, lro.ReasonPayloadTooLarge, map[string]string{"payload": "metadata", "limitBytes": "1024"}, ""},
		{"start nil context", func() error {
			//nolint:staticcheck // a nil context is the point
			_, err := m.Create(nilContext())
			return err
		}, codes.InvalidArgument, lro.ReasonNilArgument, nil, ""},
		{"start kind of the wrong request type", func() error {
			_, err := m.StartKind(ctx, "export", durationpb.New(time.Second))
			return err
		}, codes.InvalidArgument, lro.ReasonInvalidRequest, map[string]string{"kind": "export"}, ""},
		{"start kind not registered", func() error {
			_, err := m.StartKind(ctx, "import", wrapperspb.String("x"))
			return err
		}, codes.InvalidArgument, lro.ReasonKindNotRegistered, map[string]string{"kind": "import"}, ""},
		{"start kind nil request", func() error {
			_, err := m.StartKind(ctx, "export", nil)
			return err
		}, codes.InvalidArgument, lro.ReasonInvalidRequest, map[string]string{"kind": "export"}, ""},
		{"start with a timeout that is not positive", func() error {
			_, err := m.Start(ctx, func(context.Context, *lro.Op) (proto.Message, error) { return nil, nil }, lro.WithTimeout(0))
			return err
		}, codes.InvalidArgument, lro.ReasonInvalidStartOption, nil, ""},
		{"start work on an accept-only replica", func() error {
			_, err := acceptOnly.Start(ctx, func(context.Context, *lro.Op) (proto.Message, error) { return nil, nil })
			return err
		}, codes.FailedPrecondition, lro.ReasonAcceptOnly, nil, ""},
		{"start after close", func() error {
			_, err := closed.Create(ctx)
			return err
		}, codes.Unavailable, lro.ReasonManagerClosed, nil, ""},
		{"watch after close", func() error {
			return closed.WatchOperation(ctx, missing, func(*longrunningpb.Operation) error { return nil })
		}, codes.NotFound, lro.ReasonOperationNotFound, map[string]string{"operation": missing}, ""},
		{"watch nil send", func() error {
			return m.WatchOperation(ctx, missing, nil)
		}, codes.InvalidArgument, lro.ReasonNilArgument, nil, ""},
		{"complete done", func() error {
			return m.Complete(ctx, done.GetName(), nil)
		}, codes.FailedPrecondition, lro.ReasonOperationDone, map[string]string{"operation": done.GetName()}, ""},
		{"fail run by work", func() error {
			return m.Fail(ctx, running.GetName(), errors.New("x"))
		}, codes.FailedPrecondition, lro.ReasonOperationRunByWork, map[string]string{"operation": running.GetName()}, ""},
		{"set metadata unknown", func() error {
			return m.SetMetadata(ctx, missing, wrapperspb.String("x"))
		}, codes.NotFound, lro.ReasonOperationNotFound, map[string]string{"operation": missing}, ""},
		{"set metadata malformed name", func() error {
			return m.SetMetadata(ctx, "bad name", wrapperspb.String("x"))
		}, codes.InvalidArgument, lro.ReasonInvalidOperationName, map[string]string{"operation": "bad name"}, "name"},
		{"set metadata unpackable", func() error {
			return m.SetMetadata(ctx, done.GetName(), invalid)
		}, codes.InvalidArgument, lro.ReasonInvalidMetadata, nil, ""},
		{"complete unpackable response", func() error {
			return m.Complete(ctx, done.GetName(), invalid)
		}, codes.InvalidArgument, lro.ReasonInvalidResponse, nil, ""},
		{"store down", func() error {
			_, err := broken.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: missing})
			return err
		}, codes.Unavailable, lro.ReasonStoreUnavailable, map[string]string{"operation": missing}, ""},
		{"store past the caller's deadline", func() error {
			_, err := slow.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: missing})
			return err
		}, codes.DeadlineExceeded, lro.ReasonRequestDeadlineExceeded, map[string]string{"operation": missing}, ""},
		{"store holds the name already", func() error {
			_, err := slow.Create(ctx)
			return err
		}, codes.AlreadyExists, lro.ReasonOperationAlreadyExists, nil, ""},
		{"store refuses", func() error {
			_, err := refusing.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: missing})
			return err
		}, codes.OutOfRange, lro.ReasonStoreRefused, map[string]string{"operation": missing}, ""},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			err := tt.call()
			st, ok := status.FromError(err)
			if !ok {
				t.Fatalf("%v: not a status", err)
			}
			wantReason(t, st.Proto(), tt.code, domain, tt.reason, tt.md)
			_, bad := errorDetails(t, st.Proto())
			if tt.field == "" {
				if bad != nil {
					t.Errorf("unexpected BadRequest %v", bad)
				}
				return
			}
			if len(bad.GetFieldViolations()) != 1 || bad.GetFieldViolations()[0].GetField() != tt.field || bad.GetFieldViolations()[0].GetDescription() == "" {
				t.Errorf("BadRequest %v: want one violation of field %q with a description", bad, tt.field)
			}
		})
	}
}

// TestErrorDetailsFilterColumn pins that a filter violation names the
// column in its description too, for clients that show only that.
func TestErrorDetailsFilterColumn(t *testing.T) {
	m := newManager(t)
	_, err := m.ListOperations(context.Background(), &longrunningpb.ListOperationsRequest{Filter: "done = maybe"})
	_, bad := errorDetails(t, status.Convert(err).Proto())
	if d := bad.GetFieldViolations()[0].GetDescription(); !strings.Contains(d, "column 8") {
		t.Errorf("description %q: want the column", d)
	}
	info, _ := errorDetails(t, status.Convert(err).Proto())
	if info.GetDomain() != lro.DefaultErrorDomain {
		t.Errorf("domain %q, want the default %q", info.GetDomain(), lro.DefaultErrorDomain)
	}
}

// TestErrorDetailsAuthorizer pins how an Authorizer's answer is decorated:
// a plain error becomes PERMISSION_DENIED with an ErrorInfo; a bare
// NOT_FOUND gets exactly the ErrorInfo of a real NOT_FOUND, so hiding an
// operation stays hidden; a status with its own ErrorInfo is kept as it is.
func TestErrorDetailsAuthorizer(t *testing.T) {
	ctx := context.Background()
	own, err := status.New(codes.PermissionDenied, "no").WithDetails(&errdetails.ErrorInfo{Reason: "IAM_DENIED", Domain: "iam.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	var answer error
	m := newManager(t, lro.WithAuthorizer(func(context.Context, string, string) error { return answer }))
	const name = "operations/secret"

	answer = errors.New("nope")
	_, err = m.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: name})
	wantReason(t, status.Convert(err).Proto(), codes.PermissionDenied, lro.DefaultErrorDomain, lro.ReasonPermissionDenied,
		map[string]string{"operation": name, "method": lro.MethodGet})

	answer = status.Error(codes.Unauthenticated, "who are you")
	_, err = m.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: "shelves/1/operations"})
	wantReason(t, status.Convert(err).Proto(), codes.Unauthenticated, lro.DefaultErrorDomain, lro.ReasonUnauthenticated,
		map[string]string{"collection": "shelves/1/operations", "method": lro.MethodList})

	answer = status.Error(codes.NotFound, "operation \"operations/secret\" not found")
	_, hidden := m.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: name})
	answer = nil
	_, real := m.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: name})
	if !proto.Equal(status.Convert(hidden).Proto(), status.Convert(real).Proto()) {
		t.Errorf("hidden operation %v differs from a missing one %v", status.Convert(hidden).Proto(), status.Convert(real).Proto())
	}

	answer = status.Error(codes.Unavailable, "policy server down")
	_, err = m.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: name})
	wantReason(t, status.Convert(err).Proto(), codes.Unavailable, lro.DefaultErrorDomain, lro.ReasonAuthorizationFailed,
		map[string]string{"operation": name, "method": lro.MethodGet})

	answer = own.Err()
	_, err = m.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: name})
	if !proto.Equal(status.Convert(err).Proto(), own.Proto()) {
		t.Errorf("Authorizer's own status %v became %v", own.Proto(), status.Convert(err).Proto())
	}
}

// TestErrorDetailsEndedOperations checks the ErrorInfo of the operations
// the library ends itself, and that a status from work is kept as the
// host made it.
func TestErrorDetailsEndedOperations(t *testing.T) {
	const domain = "library.example.com"
	ctx := context.Background()
	m := newManager(t, lro.WithErrorDomain(domain), lro.WithMaxPayloadSize(1024))
	hostStatus := status.New(codes.DataLoss, "lost")
	// limited's one slot is taken by blocking work, so its Starts queue.
	limited := newManager(t, lro.WithErrorDomain(domain), lro.WithMaxRunning(1))
	started, release := make(chan string, 1), make(chan proto.Message)
	t.Cleanup(func() { close(release) }) // before limited's Close
	if _, err := limited.Start(ctx, blockingWork(started, release)); err != nil {
		t.Fatal(err)
	}
	<-started

	start := func(t *testing.T, work lro.WorkFunc) string {
		t.Helper()
		op, err := m.Start(ctx, work)
		if err != nil {
			t.Fatal(err)
		}
		return op.GetName()
	}
	for _, tt := range []struct {
		desc   string
		end    func(t *testing.T) string
		code   codes.Code
		reason string // "" for a host status kept as it is
	}{
		{"work failed", func(t *testing.T) string {
			return start(t, func(context.Context, *lro.Op) (proto.Message, error) { return nil, errors.New("boom") })
		}, codes.Unknown, lro.ReasonWorkFailed},
		{"work panicked", func(t *testing.T) string {
			return start(t, func(context.Context, *lro.Op) (proto.Message, error) { panic("boom") })
		}, codes.Internal, lro.ReasonWorkPanicked},
		{"work returned an unpackable response", func(t *testing.T) string {
			return start(t, func(context.Context, *lro.Op) (proto.Message, error) { return wrapperspb.String("\xff"), nil })
		}, codes.Internal, lro.ReasonInvalidResponse},
		{"work returned a response too large", func(t *testing.T) string {
			return start(t, func(context.Context, *lro.Op) (proto.Message, error) {
				return wrapperspb.String(strings.Repeat("x", 2000)), nil
			})
		}, codes.Internal, lro.ReasonPayloadTooLarge},
		{"work cancelled", func(t *testing.T) string {
			started := make(chan string, 1)
			name := start(t, blockingWork(started, nil))
			<-started
			if _, err := m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: name}); err != nil {
				t.Fatal(err)
			}
			return name
		}, codes.Canceled, lro.ReasonOperationCancelled},
		{"created and cancelled", func(t *testing.T) string {
			op, err := m.Create(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: op.GetName()}); err != nil {
				t.Fatal(err)
			}
			return op.GetName()
		}, codes.Canceled, lro.ReasonOperationCancelled},
		{"queued and cancelled", func(t *testing.T) string {
			// The one slot is taken by blocking work: this Start queues.
			op, err := limited.Start(ctx, func(context.Context, *lro.Op) (proto.Message, error) { return nil, nil })
			if err != nil {
				t.Fatal(err)
			}
			if _, err := limited.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: op.GetName()}); err != nil {
				t.Fatal(err)
			}
			return op.GetName()
		}, codes.Canceled, lro.ReasonOperationCancelled},
		{"deadline passed", func(t *testing.T) string {
			op, err := m.Start(ctx, func(ctx context.Context, _ *lro.Op) (proto.Message, error) {
				<-ctx.Done()
				return nil, ctx.Err()
			}, lro.WithTimeout(time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			return op.GetName()
		}, codes.DeadlineExceeded, lro.ReasonOperationDeadlineExceeded},
		{"created and failed with a plain error", func(t *testing.T) string {
			op, err := m.Create(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Fail(ctx, op.GetName(), errors.New("boom")); err != nil {
				t.Fatal(err)
			}
			return op.GetName()
		}, codes.Unknown, lro.ReasonWorkFailed},
		{"host status", func(t *testing.T) string {
			return start(t, func(context.Context, *lro.Op) (proto.Message, error) { return nil, hostStatus.Err() })
		}, codes.DataLoss, ""},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			name := tt.end(t)
			on := m
			if strings.HasPrefix(tt.desc, "queued") {
				on = limited
			}
			p := waitDone(t, on, name).GetError()
			if tt.reason == "" {
				if !proto.Equal(p, hostStatus.Proto()) {
					t.Errorf("host status %v became %v", hostStatus.Proto(), p)
				}
				return
			}
			wantReason(t, p, tt.code, domain, tt.reason, map[string]string{"operation": name})
		})
	}
}

// TestErrorDetailsOpSetMetadata checks Op.SetMetadata's refusals once the
// operation is done, and after the work's replica lost it.
func TestErrorDetailsOpSetMetadata(t *testing.T) {
	ctx := context.Background()
	m := newManager(t)
	t.Run("not owner", func(t *testing.T) {
		ops := make(chan *lro.Op, 1)
		op, err := m.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
			ops <- op
			<-ctx.Done() // the takeover below cancels it
			return nil, ctx.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
		o := <-ops
		if _, err := m.Store().Update(ctx, op.GetName(), func(r *lro.Record) error { r.Owner = "another-replica"; return nil }); err != nil {
			t.Fatal(err)
		}
		err = o.SetMetadata(ctx, wrapperspb.String("late"))
		wantReason(t, status.Convert(err).Proto(), codes.FailedPrecondition, lro.DefaultErrorDomain, lro.ReasonNotOwner, map[string]string{"operation": op.GetName()})
	})
	ops := make(chan *lro.Op, 1)
	op, err := m.Start(ctx, func(_ context.Context, op *lro.Op) (proto.Message, error) { ops <- op; return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, m, op.GetName())
	err = (<-ops).SetMetadata(ctx, wrapperspb.String("late"))
	wantReason(t, status.Convert(err).Proto(), codes.FailedPrecondition, lro.DefaultErrorDomain, lro.ReasonOperationDone, map[string]string{"operation": op.GetName()})
}

// stripOperation returns p without the operation name in its ErrorInfo,
// to compare the statuses of two operations.
func stripOperation(t *testing.T, p *spb.Status) *spb.Status {
	t.Helper()
	p = proto.Clone(p).(*spb.Status)
	for i, d := range p.GetDetails() {
		var info errdetails.ErrorInfo
		if d.UnmarshalTo(&info) == nil {
			delete(info.Metadata, "operation")
			a, err := anypb.New(&info)
			if err != nil {
				t.Fatal(err)
			}
			p.Details[i] = a
		}
	}
	return p
}
