package lrohttp

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// This file reads the query string: Google's system parameters, which every
// route accepts, and the request parameters of each route.

// sysParams are the system parameters of one request that change the
// answer. The zero value is Google's default: pretty-printed JSON, errors in
// format 2, fields with default values left out.
type sysParams struct {
	compact        bool   // prettyPrint=false
	errorsV1       bool   // $.xgafv=1
	outputDefaults bool   // $outputDefaults=true
	contentType    string // $ct: overrides the Content-Type header of the body
}

// sysKind says what the handler does with a system parameter.
type sysKind uint8

const (
	sysIgnored        sysKind = iota // accepted, whatever its value, and ignored
	sysAlt                           // response format: only json is served
	sysXgafv                         // error format: 1 or 2
	sysPretty                        // pretty-printing: a boolean
	sysOutputDefaults                // emit fields with default values: a boolean
	sysContentType                   // Content-Type override for the body
	sysCallback                      // JSONP: refused
	sysPassword                      // reserved so that passwords stay out of URLs: refused
)

// sysParam is one spelling of a system parameter.
type sysParam struct {
	canon string // the parameter it spells, to refuse two spellings at once
	kind  sysKind
}

// systemParams holds every spelling of the system parameters that Google
// documents for its REST APIs (https://cloud.google.com/apis/docs/system-parameters,
// and the standard "parameters" of its discovery documents). A name with a
// leading "$" is accepted in the forms Google lists: both forms for those it
// gives both, the "$" form alone for the others.
var systemParams = map[string]sysParam{
	"alt": {"alt", sysAlt}, "$alt": {"alt", sysAlt},
	"$.xgafv": {"$.xgafv", sysXgafv}, "$apiFormat": {"$.xgafv", sysXgafv},
	"prettyPrint": {"prettyPrint", sysPretty}, "$prettyPrint": {"prettyPrint", sysPretty}, "pp": {"prettyPrint", sysPretty},
	"$outputDefaults": {"$outputDefaults", sysOutputDefaults},
	"$ct":             {"$ct", sysContentType},
	"callback":        {"callback", sysCallback}, "$callback": {"callback", sysCallback},
	"passwd": {"password", sysPassword}, "password": {"password", sysPassword},
	"fields": {"fields", sysIgnored}, "$fields": {"fields", sysIgnored},
	"key": {"key", sysIgnored}, "$key": {"key", sysIgnored},
	"access_token": {"access_token", sysIgnored}, "oauth_token": {"oauth_token", sysIgnored}, "bearer_token": {"bearer_token", sysIgnored},
	"quotaUser": {"quotaUser", sysIgnored}, "$quotaUser": {"quotaUser", sysIgnored},
	"userIp": {"userIp", sysIgnored}, "$userIp": {"userIp", sysIgnored},
	"upload_protocol": {"upload_protocol", sysIgnored}, "uploadType": {"uploadType", sysIgnored},
	"$unique":     {"$unique", sysIgnored},
	"$apiVersion": {"$apiVersion", sysIgnored},
}

// parseQuery splits the query string into the system parameters and the
// request parameters (by the name they were given, each at most once). On
// a bad query it returns an INVALID_ARGUMENT status together with the
// system parameters it could read, so that the error is written in the
// format the client asked for.
func parseQuery(raw string) (sysParams, map[string]string, error) {
	var sys sysParams
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return sys, nil, status.Errorf(codes.InvalidArgument, "malformed query string: %v", err)
	}
	var first error
	fail := func(err error) {
		if first == nil {
			first = err
		}
	}
	req := make(map[string]string, len(vals))
	seen := map[string]string{} // canonical system parameter → spelling used
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		vs := vals[k]
		if len(vs) != 1 {
			fail(status.Errorf(codes.InvalidArgument, "query parameter %q given %d times", k, len(vs)))
			continue
		}
		p, ok := systemParams[k]
		if !ok {
			req[k] = vs[0]
			continue
		}
		if other, dup := seen[p.canon]; dup {
			fail(status.Errorf(codes.InvalidArgument, "system parameter %q given twice, as %q and %q", p.canon, other, k))
			continue
		}
		seen[p.canon] = k
		if err := sys.set(k, p.kind, vs[0]); err != nil {
			fail(err)
		}
	}
	return sys, req, first
}

// set applies the system parameter k of kind kind with value v.
func (s *sysParams) set(k string, kind sysKind, v string) error {
	switch kind {
	case sysAlt:
		// Google's REST clients send "$alt=json;enum-encoding=int"; the
		// Operations messages have no enums, so both forms are the same.
		if f, _, _ := strings.Cut(v, ";"); f != "json" {
			return status.Errorf(codes.InvalidArgument, "unsupported %s=%q: only json is served (media, proto and sse are not)", k, v)
		}
	case sysXgafv:
		switch v {
		case "1":
			s.errorsV1 = true
		case "2":
			s.errorsV1 = false
		default:
			return status.Errorf(codes.InvalidArgument, "invalid value %q for system parameter %s: want 1 or 2", v, k)
		}
	case sysPretty, sysOutputDefaults:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "invalid value %q for system parameter %s: want true or false", v, k)
		}
		if kind == sysPretty {
			s.compact = !b
		} else {
			s.outputDefaults = b
		}
	case sysContentType:
		s.contentType = v
	case sysCallback:
		return status.Errorf(codes.InvalidArgument, "system parameter %s: JSONP is not supported; call the API from a server, or from a page the host serves with CORS", k)
	case sysPassword:
		return status.Errorf(codes.InvalidArgument, "query parameter %q is reserved: never put a password in a URL", k)
	}
	return nil
}

// requestParams checks the request parameters of a route against the
// names it allows (each in lowerCamelCase or snake_case, at most once), and
// returns them under their lowerCamelCase name.
func requestParams(q map[string]string, allowed ...string) (map[string]string, error) {
	out := make(map[string]string, len(q))
	for _, k := range slices.Sorted(maps.Keys(q)) {
		canon := ""
		for _, a := range allowed {
			if k == a || k == snake(a) {
				canon = a
			}
		}
		if canon == "" {
			return nil, status.Errorf(codes.InvalidArgument, "unknown query parameter %q%s", k, allowedList(allowed))
		}
		if _, dup := out[canon]; dup {
			return nil, status.Errorf(codes.InvalidArgument, "query parameter %q given twice", canon)
		}
		out[canon] = q[k]
	}
	return out, nil
}

// allowedList describes the parameters a route takes, for an error message.
func allowedList(allowed []string) string {
	if len(allowed) == 0 {
		return ": this method takes no query parameters other than system parameters"
	}
	return fmt.Sprintf(": this method takes %s and system parameters", strings.Join(allowed, ", "))
}

// snake turns a lowerCamelCase parameter name into its proto (snake_case)
// spelling, which is accepted too.
func snake(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c >= 'A' && c <= 'Z' {
			b.WriteByte('_')
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}
