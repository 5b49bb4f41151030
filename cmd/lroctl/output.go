package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
)

// state names the state of an operation.
func (o *opView) state() string {
	switch {
	case !o.Done && o.queued:
		return "QUEUED"
	case !o.Done:
		return "RUNNING"
	case o.Error != nil:
		return "FAILED"
	case o.Response != nil:
		return "SUCCEEDED"
	default:
		return "DONE"
	}
}

// anyType returns the type URL of an Any in JSON form, or "".
func anyType(raw json.RawMessage) string {
	var a struct {
		Type string `json:"@type"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &a) != nil {
		return ""
	}
	return a.Type
}

// shortType is the message name of a type URL, without its package.
func shortType(url string) string {
	if url == "" {
		return "-"
	}
	if i := strings.LastIndexByte(url, '/'); i >= 0 {
		url = url[i+1:]
	}
	if i := strings.LastIndexByte(url, '.'); i >= 0 {
		url = url[i+1:]
	}
	return url
}

func indentJSON(raw json.RawMessage, prefix string) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, prefix, "  "); err != nil {
		return prefix + string(raw)
	}
	return prefix + buf.String()
}

// printOp prints one operation, as text or as JSON. Text from the server
// is escaped (see clean).
func printOp(w io.Writer, o *opView, asJSON bool) error {
	if asJSON {
		return writeJSON(w, o.raw)
	}
	fmt.Fprintf(w, "Name:      %s\n", clean(o.Name))
	fmt.Fprintf(w, "State:     %s\n", o.state())
	if p, ok := progressOf(o.Metadata); ok {
		fmt.Fprintf(w, "Progress:  %s\n", formatPercent(p))
	}
	if o.Error != nil {
		st := o.status()
		fmt.Fprintf(w, "Error:     %s (%d): %s\n", codeName(st.Code()), o.Error.Code, clean(st.Message()))
		printStatusDetails(w, o.Error.Details)
	}
	if o.Metadata != nil {
		printAny(w, "Metadata:  ", o.Metadata)
	}
	if o.Response != nil {
		printAny(w, "Response:  ", o.Response)
	}
	return nil
}

// printAny prints an Any in JSON form: a line with the label and its type,
// then the JSON, indented.
func printAny(w io.Writer, label string, raw json.RawMessage) {
	fmt.Fprintf(w, "%s%s\n%s\n", label, clean(anyType(raw)), cleanLines(indentJSON(raw, "  ")))
}

// writeJSON prints v as indented JSON, with the characters that could
// act on a terminal escaped (see jsonSafe).
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding JSON: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", jsonSafe(b))
	return err
}

func printListJSON(w io.Writer, ops []*opView, next string) error {
	out := struct {
		Operations    []json.RawMessage `json:"operations"`
		NextPageToken string            `json:"nextPageToken,omitempty"`
	}{Operations: make([]json.RawMessage, 0, len(ops)), NextPageToken: next}
	for _, o := range ops {
		out.Operations = append(out.Operations, o.raw)
	}
	return writeJSON(w, out)
}

// printTable prints operations as an aligned table, text from the server
// escaped (see clean).
func printTable(w io.Writer, ops []*opView) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tPROGRESS\tMETADATA\tRESULT")
	for _, o := range ops {
		prog := "-"
		if p, ok := progressOf(o.Metadata); ok {
			prog = formatPercent(p)
		}
		result := "-"
		switch {
		case o.Error != nil:
			st := o.status()
			result = codeName(st.Code()) + ": " + oneLine(st.Message(), 60)
		case o.Response != nil:
			result = clean(shortType(anyType(o.Response)))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", clean(o.Name), o.state(), prog, clean(shortType(anyType(o.Metadata))), result)
	}
	_ = tw.Flush()
	if len(ops) == 0 {
		fmt.Fprintln(w, "(no operations)")
	}
}

// oneLine joins the words of s with single spaces, keeps at most n runes
// and escapes the result (see clean).
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	return clean(s)
}

func formatPercent(p float64) string {
	if p == math.Trunc(p) {
		return strconv.Itoa(int(p)) + "%"
	}
	return strconv.FormatFloat(p, 'f', 1, 64) + "%"
}
