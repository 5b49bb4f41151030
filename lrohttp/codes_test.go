package lrohttp_test

import (
	"testing"

	"github.com/lrokit/lro/lrohttp"
	"google.golang.org/grpc/codes"
)

func TestCodeFromHTTPInvertsHTTPStatus(t *testing.T) {
	// Codes whose HTTP status no other code shares come back as they went.
	for _, c := range []codes.Code{
		codes.Canceled, codes.InvalidArgument, codes.DeadlineExceeded, codes.NotFound,
		codes.PermissionDenied, codes.ResourceExhausted, codes.Unimplemented,
		codes.Unavailable, codes.Unauthenticated,
	} {
		if got := lrohttp.CodeFromHTTP(lrohttp.HTTPStatus(c)); got != c {
			t.Errorf("CodeFromHTTP(HTTPStatus(%v) = %d) = %v", c, lrohttp.HTTPStatus(c), got)
		}
	}
	if got := lrohttp.CodeFromHTTP(418); got != codes.Unknown {
		t.Errorf("CodeFromHTTP(418) = %v, want Unknown", got)
	}
}
