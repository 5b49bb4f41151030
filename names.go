package lro

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"strings"

	"go.einride.tech/aip/resourcename"
	"go.opentelemetry.io/otel/trace"
)

const (
	// collectionID is the collection segment of every operation name.
	collectionID = "operations"
	// maxNameLength bounds the names the Manager accepts from clients.
	maxNameLength = 1024
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns a random operation id: 128 bits as 26 lowercase letters and
// digits, safe in URLs and resource names.
func newID() string {
	return string(appendNewID(nil))
}

// appendNewID appends a random id, as newID returns it, to b.
func appendNewID(b []byte) []byte {
	var id [16]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails on supported platforms
	return idEncoding.AppendEncode(b, id[:])
}

// newOperationName returns the name of a new operation under parent, with
// a random id (appendNewID), and sc as a traceparent
// (appendTraceParent; "" when sc is not valid). Both come from one
// string, so that keeping the request's trace context costs a Start no
// allocation of its own.
func newOperationName(parent string, sc trace.SpanContext) (name, traceParent string) {
	var buf [160]byte // most names and a traceparent fit
	b := buf[:0]
	if parent != "" {
		b = append(append(b, parent...), '/')
	}
	b = appendNewID(append(b, collectionID+"/"...))
	n := len(b)
	b = appendTraceParent(b, sc)
	s := string(b)
	return s[:n], s[n:]
}

// operationName joins parent and id into an operation name.
func operationName(parent, id string) string {
	if parent == "" {
		return collectionID + "/" + id
	}
	return parent + "/" + collectionID + "/" + id
}

// validateName checks the characters and segments of a resource name.
// Full resource names ("//service/...") and leading slashes are refused:
// operation names are relative.
func validateName(name string) error {
	if strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") {
		return fmt.Errorf("name %q: must not start or end with a slash", name)
	}
	if err := resourcename.Validate(name); err != nil {
		return fmt.Errorf("name %q: %w", name, err)
	}
	return nil
}

// validateParent checks a parent given to Start or Create.
func validateParent(parent string) error {
	if parent == "" {
		return nil
	}
	if len(parent) > maxNameLength/2 {
		return fmt.Errorf("parent is longer than %d bytes", maxNameLength/2)
	}
	if err := validateName(parent); err != nil {
		return fmt.Errorf("parent: %w", err)
	}
	if resourcename.ContainsWildcard(parent) {
		return fmt.Errorf("parent %q: contains the wildcard segment %q", parent, resourcename.Wildcard)
	}
	return nil
}

// parseOperationName checks an operation name from a client and returns
// its parent.
func parseOperationName(name string) (parent string, err error) {
	if name == "" {
		return "", fmt.Errorf("name is empty")
	}
	if len(name) > maxNameLength {
		return "", fmt.Errorf("name is longer than %d bytes", maxNameLength)
	}
	if err := validateName(name); err != nil {
		return "", err
	}
	if resourcename.ContainsWildcard(name) {
		return "", fmt.Errorf("name %q: wildcards are not allowed in an operation name", name)
	}
	rest, id, ok := cutLast(name)
	if !ok || id == "" {
		return "", fmt.Errorf("name %q: want %q or %q", name, "operations/{id}", "{parent}/operations/{id}")
	}
	if rest == collectionID {
		return "", nil
	}
	parent, coll, ok := cutLast(rest)
	if !ok || coll != collectionID {
		return "", fmt.Errorf("name %q: want %q or %q", name, "operations/{id}", "{parent}/operations/{id}")
	}
	return parent, nil
}

// parseCollection reads the name of a ListOperations request: "" for every
// operation, "operations" or "{parent}/operations" for a collection, or a
// parent. Segments "-" match any segment.
func parseCollection(name string) (all bool, parent string, err error) {
	if name == "" {
		return true, "", nil
	}
	if len(name) > maxNameLength {
		return false, "", fmt.Errorf("name is longer than %d bytes", maxNameLength)
	}
	if err := validateName(name); err != nil {
		return false, "", err
	}
	if name == collectionID {
		return false, "", nil
	}
	if p, ok := strings.CutSuffix(name, "/"+collectionID); ok {
		return false, p, nil
	}
	return false, name, nil
}

// cutLast splits s around its last slash.
func cutLast(s string) (before, after string, ok bool) {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return "", s, false
	}
	return s[:i], s[i+1:], true
}
