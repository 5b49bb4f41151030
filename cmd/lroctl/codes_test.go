package main

import (
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/lrokit/lro/lrohttp"
)

func TestCodeFromHTTPInvertsHTTPStatus(t *testing.T) {
	// Codes whose HTTP status no other code shares come back as they went.
	for _, c := range []codes.Code{
		codes.Canceled, codes.InvalidArgument, codes.DeadlineExceeded, codes.NotFound,
		codes.PermissionDenied, codes.ResourceExhausted, codes.Unimplemented,
		codes.Unavailable, codes.Unauthenticated,
	} {
		if got := codeFromHTTP(lrohttp.HTTPStatus(c)); got != c {
			t.Errorf("codeFromHTTP(HTTPStatus(%v) = %d) = %v", c, lrohttp.HTTPStatus(c), got)
		}
	}
	if got := codeFromHTTP(418); got != codes.Unknown {
		t.Errorf("codeFromHTTP(418) = %v, want Unknown", got)
	}
}

func TestCodeFromName(t *testing.T) {
	for _, name := range []string{"NOT_FOUND", "CANCELLED", "OK"} {
		c, ok := codeFromName(name)
		if !ok || c.String() == "" {
			t.Errorf("codeFromName(%q) = %v, %v", name, c, ok)
		}
	}
	if c, _ := codeFromName("NOT_FOUND"); c != codes.NotFound {
		t.Errorf("codeFromName(NOT_FOUND) = %v", c)
	}
	if _, ok := codeFromName("NOPE"); ok {
		t.Error("codeFromName(NOPE) ok")
	}
}

func TestCodeName(t *testing.T) {
	for c, want := range map[codes.Code]string{codes.NotFound: "NOT_FOUND", codes.Canceled: "CANCELLED", codes.Code(99): "CODE_99"} {
		if got := codeName(c); got != want {
			t.Errorf("codeName(%v) = %q, want %q", c, got, want)
		}
	}
}
