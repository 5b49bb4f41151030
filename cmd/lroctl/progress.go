package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
	"google.golang.org/grpc/codes"
)

// progressOf finds a progress figure, in percent, in operation metadata in
// JSON form. It looks for the field names services commonly use, in
// lowerCamelCase or snake_case: progressPercent, percentComplete, percent,
// progress (a number), progress.percent, progress.progressPercent, and
// pairs such as progressDocuments.completedWork/estimatedWork. A
// well-known type in an Any keeps its fields under "value", which is
// searched too.
func progressOf(md json.RawMessage) (float64, bool) {
	if len(md) == 0 {
		return 0, false
	}
	dec := json.NewDecoder(bytes.NewReader(md))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return 0, false
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return 0, false
	}
	if inner, ok := obj["value"].(map[string]any); ok && obj["@type"] != nil {
		obj = inner
	}
	return progressIn(obj, 0)
}

var percentKeys = []string{"progresspercent", "progresspercentage", "percentcomplete", "percentcompleted", "percentdone", "completionpercent", "percentage", "percent"}

func normKey(k string) string { return strings.ToLower(strings.ReplaceAll(k, "_", "")) }

func progressIn(obj map[string]any, depth int) (float64, bool) {
	norm := make(map[string]any, len(obj))
	keys := make([]string, 0, len(obj))
	for k, v := range obj {
		nk := normKey(k)
		norm[nk] = v
		keys = append(keys, nk)
	}
	sort.Strings(keys)
	for _, k := range percentKeys {
		if p, ok := number(norm[k]); ok {
			return clampPercent(p), true
		}
	}
	if p, ok := number(norm["progress"]); ok {
		return clampPercent(p), true
	}
	// Work counters: completedWork / estimatedWork.
	if done, ok := number(norm["completedwork"]); ok {
		if total, ok := number(norm["estimatedwork"]); ok && total > 0 {
			return clampPercent(100 * done / total), true
		}
	}
	if depth > 0 {
		return 0, false
	}
	// One level down: "progress", then any other "progress..." object.
	if inner, ok := norm["progress"].(map[string]any); ok {
		if p, ok := progressIn(inner, depth+1); ok {
			return p, true
		}
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "progress") || k == "progress" {
			continue
		}
		if inner, ok := norm[k].(map[string]any); ok {
			if p, ok := progressIn(inner, depth+1); ok {
				return p, true
			}
		}
	}
	return 0, false
}

// number reads a JSON number, or a string holding one (int64 fields are
// strings in protojson).
func number(v any) (float64, bool) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = x
	default:
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

func clampPercent(p float64) float64 { return max(0, min(100, p)) }

// progress shows the progress of a wait: a bar (or a spinner when the
// metadata has no progress figure) on a terminal, plain lines otherwise.
type progress struct {
	w        io.Writer
	name     string
	tty      bool
	bar      *progressbar.ProgressBar
	spinner  *progressbar.ProgressBar
	last     float64
	sawState bool
}

// newProgress shows the progress of the wait for name on w, a terminal
// when tty.
func newProgress(w io.Writer, name string, tty bool) *progress {
	return &progress{w: w, name: clean(name), tty: tty, last: -1}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (p *progress) update(o *opView) {
	pct, ok := progressOf(o.Metadata)
	if !p.tty {
		if !p.sawState {
			p.sawState = true
			fmt.Fprintf(p.w, "waiting for %s\n", p.name)
		}
		if ok && pct != p.last {
			p.last = pct
			fmt.Fprintf(p.w, "%s: %s\n", p.name, formatPercent(pct))
		}
		return
	}
	if !ok {
		if p.bar == nil {
			if p.spinner == nil {
				p.spinner = progressbar.NewOptions(-1,
					progressbar.OptionSetWriter(p.w),
					progressbar.OptionSetDescription("waiting for "+p.name),
					progressbar.OptionSpinnerType(14),
					progressbar.OptionSetElapsedTime(true),
					progressbar.OptionClearOnFinish(),
				)
			}
			_ = p.spinner.Add(1)
		}
		return
	}
	if p.spinner != nil {
		_ = p.spinner.Finish()
		p.spinner = nil
	}
	if p.bar == nil {
		p.bar = progressbar.NewOptions(1000,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(p.name),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionSetWidth(40),
			progressbar.OptionClearOnFinish(),
		)
	}
	_ = p.bar.Set(int(pct * 10))
}

// finish ends the display when the wait ends, done or not: the spinner
// or bar is cleared from the terminal whatever the outcome.
func (p *progress) finish(o *opView) {
	if p.spinner != nil {
		_ = p.spinner.Finish()
	}
	if p.bar != nil {
		if o != nil && o.Done && o.Error == nil {
			_ = p.bar.Finish() // fills the bar, then clears it
		} else {
			_ = p.bar.Exit() // no more drawing
			_ = p.bar.Clear()
		}
	}
	if !p.tty && o != nil && o.Done {
		st := o.state()
		if o.Error != nil {
			st += " (" + codeName(codes.Code(o.Error.Code)) + ")"
		}
		fmt.Fprintf(p.w, "%s: %s\n", p.name, st)
	}
}
