package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestProgressOf(t *testing.T) {
	tests := []struct {
		md   string
		want float64
		ok   bool
	}{
		{`{"@type":"x.Meta","progressPercent":42}`, 42, true},
		{`{"@type":"x.Meta","progress_percent":"17"}`, 17, true},
		{`{"@type":"x.Meta","percentComplete":99.5}`, 99.5, true},
		{`{"@type":"x.Meta","progress":{"percent":30}}`, 30, true},
		{`{"@type":"x.Meta","progress":{"progressPercent":31,"startTime":"2024-01-01T00:00:00Z"}}`, 31, true},
		{`{"@type":"x.Meta","progress":12}`, 12, true},
		{`{"@type":"x.Meta","progressDocuments":{"completedWork":"25","estimatedWork":"100"}}`, 25, true},
		{`{"@type":"x.Meta","progressBytes":{"completedWork":"1","estimatedWork":"0"}}`, 0, false},
		{`{"@type":"type.googleapis.com/google.protobuf.Struct","value":{"progressPercent":7}}`, 7, true},
		{`{"@type":"x.Meta","progressPercent":250}`, 100, true},
		{`{"@type":"x.Meta","progressPercent":-3}`, 0, true},
		{`{"@type":"x.Meta","progressPercent":"NaN"}`, 0, false},
		{`{"@type":"x.Meta","state":"RUNNING"}`, 0, false},
		{`{"@type":"x.Meta","progress":{"stage":"copy"}}`, 0, false},
		{`{"@type":"x.Meta","nested":{"deeper":{"progressPercent":5}}}`, 0, false},
		{`"a string"`, 0, false},
		{`not json`, 0, false},
		{``, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.md, func(t *testing.T) {
			got, ok := progressOf(json.RawMessage(tt.md))
			if got != tt.want || ok != tt.ok {
				t.Errorf("progressOf = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// The terminal display (a bar, or a spinner without a progress figure)
// draws something and survives every sequence of states.
func TestProgressTerminal(t *testing.T) {
	running := func(md string) *opView { return &opView{Name: "operations/x", Metadata: json.RawMessage(md)} }
	tests := []struct {
		name   string
		states []*opView
		final  *opView
	}{
		{"bar", []*opView{running(`{"progressPercent":10}`), running(`{"progressPercent":60}`)}, &opView{Name: "operations/x", Done: true, Response: json.RawMessage(`{}`)}},
		{"spinner then bar", []*opView{running(`{}`), running(`{}`), running(`{"progressPercent":50}`)}, &opView{Name: "operations/x", Done: true, Error: &statusView{Code: 1}}},
		{"spinner", []*opView{running(`{}`)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			p := &progress{w: &buf, name: "operations/x", tty: true, last: -1}
			for _, s := range tt.states {
				p.update(s)
			}
			p.finish(tt.final)
			if buf.Len() == 0 {
				t.Error("nothing drawn")
			}
		})
	}
}

func TestPlainProgressLines(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, "operations/x", false)
	for _, md := range []string{`{}`, `{"progressPercent":1}`, `{"progressPercent":1}`, `{"progressPercent":2.25}`} {
		p.update(&opView{Name: "operations/x", Metadata: json.RawMessage(md)})
	}
	p.finish(&opView{Name: "operations/x", Done: true, Error: &statusView{Code: 5, Message: "gone"}})
	want := "waiting for operations/x\noperations/x: 1%\noperations/x: 2.2%\noperations/x: FAILED (NOT_FOUND)\n"
	if got := buf.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if strings.Contains(buf.String(), "\x1b") {
		t.Error("escape codes in plain output")
	}
}

// lastLine is what a terminal shows on the line after out: the text after
// the last line break, where a carriage return goes back to the start of
// the line and what follows overwrites what was there. Trailing spaces
// are dropped.
func lastLine(out string) string {
	if i := strings.LastIndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	}
	var line []rune
	col := 0
	for _, r := range out {
		if r == '\r' {
			col = 0
			continue
		}
		if col < len(line) {
			line[col] = r
		} else {
			line = append(line, r)
		}
		col++
	}
	return strings.TrimRight(string(line), " ")
}

// The progress bar is cleared from the terminal however the wait ends:
// success, failure, or no final state (cancelled, timed out, an error).
func TestProgressBarCleared(t *testing.T) {
	running := &opView{Name: "operations/x", Metadata: json.RawMessage(`{"progressPercent":40}`)}
	tests := []struct {
		name  string
		final *opView
	}{
		{"succeeded", &opView{Name: "operations/x", Done: true, Response: json.RawMessage(`{}`)}},
		{"failed", &opView{Name: "operations/x", Done: true, Error: &statusView{Code: 9, Message: "no"}}},
		{"cancelled", &opView{Name: "operations/x", Done: true, Error: &statusView{Code: 1}}},
		{"wait ended", nil},
		{"still running", running},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			p := newProgress(&buf, "operations/x", true)
			p.update(running)
			if got := lastLine(buf.String()); !strings.Contains(got, "40%") {
				t.Fatalf("the bar shows %q, want 40%%", got)
			}
			p.finish(tt.final)
			if got := lastLine(buf.String()); got != "" {
				t.Errorf("after finish the line shows %q, want it cleared", got)
			}
		})
	}
}

func FuzzProgressOf(f *testing.F) {
	f.Add(`{"@type":"x","progressPercent":42}`)
	f.Add(`{"@type":"x","progress":{"completedWork":"3","estimatedWork":"4"}}`)
	f.Add(`{"@type":"type.googleapis.com/google.protobuf.Struct","value":{"percent":1e400}}`)
	f.Fuzz(func(t *testing.T, md string) {
		p, ok := progressOf(json.RawMessage(md))
		if ok && (p < 0 || p > 100) {
			t.Errorf("progressOf(%q) = %v, outside [0, 100]", md, p)
		}
	})
}
