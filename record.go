package lro

import (
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
)

// The rules about a Record's life that the Manager (and the in-memory
// store) apply in several places.

// end makes r done with final's result (a response or an error) at now,
// to be kept until expire; see settle.
func (r *Record) end(final *longrunningpb.Operation, now, expire time.Time) {
	r.Operation.Done = true
	r.Operation.Result = final.Result
	r.settle(now, expire)
}

// settle sets what every record that ends at now has besides its result:
// it may be removed after expire, and nothing is pending on it any more,
// neither a cancellation request nor a lease. A store that keeps the
// Operation apart from the bookkeeping (MemoryStore.Finish) calls it alone.
func (r *Record) settle(now, expire time.Time) {
	r.UpdateTime = now
	r.ExpireTime = expire
	r.CancelRequested = false
	r.LeaseExpireTime = time.Time{}
}

// expiredAt reports whether r is done and past its retention at now: it
// is NOT_FOUND from then on, whether or not a sweep has removed it yet.
func (r *Record) expiredAt(now time.Time) bool {
	return expiredAt(r.Done(), r.ExpireTime, now)
}

// ExpiredAt reports whether r is done and its ExpireTime is not after now:
// from then on it is NOT_FOUND and holds its request id no more (see
// Store.Create).
func (r *Record) ExpiredAt(now time.Time) bool {
	return expiredAt(r.Done(), r.ExpireTime, now)
}

// expiredAt reports whether a record that is done or not, and may be
// removed after expire, is past its retention at now.
func expiredAt(done bool, expire, now time.Time) bool {
	return done && !expire.IsZero() && !expire.After(now)
}

// opOrNil returns r's Operation, or nil for a nil r.
func (r *Record) opOrNil() *longrunningpb.Operation {
	if r == nil {
		return nil
	}
	return r.Operation
}

// succeeded is the final state of an operation whose response is resp.
func succeeded(resp *anypb.Any) *longrunningpb.Operation {
	return &longrunningpb.Operation{Done: true, Result: &longrunningpb.Operation_Response{Response: resp}}
}

// failed is the final state of an operation that ended with st.
func failed(st *status.Status) *longrunningpb.Operation {
	return &longrunningpb.Operation{Done: true, Result: &longrunningpb.Operation_Error{Error: st.Proto()}}
}

// endRecord ends r now with final's result, kept for the retention period.
func (m *Manager) endRecord(r *Record, final *longrunningpb.Operation) {
	now := m.now()
	r.end(final, now, m.retainUntil(now))
}

// retainUntil is when an operation that ends at now expires: it is kept
// for the retention period (WithRetention).
func (m *Manager) retainUntil(now time.Time) time.Time {
	return now.Add(m.cfg.retention)
}

// expired reports whether r is done and past its retention now.
func (m *Manager) expired(r *Record) bool {
	return r.expiredAt(m.now())
}
