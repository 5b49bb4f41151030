package lroweb

import (
	"math"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// progressFields are the names of numeric metadata fields read as a
// percentage, at the top level or inside a message field named "progress"
// (as Google's OperationProgress has it).
var progressFields = []protoreflect.Name{
	"progress_percent", "progress_percentage", "percent_complete",
	"percent_completed", "percent_done", "completion_percent", "completion_percentage",
}

// progressOf returns the progress percentage the metadata carries, clamped
// to 0–100, and whether it carries one.
func progressOf(md protoreflect.Message) (float64, bool) {
	if p, ok := percentField(md); ok {
		return p, true
	}
	fd := md.Descriptor().Fields().ByName("progress")
	if fd != nil && fd.Kind() == protoreflect.MessageKind && fd.Cardinality() != protoreflect.Repeated && md.Has(fd) {
		return percentField(md.Get(fd).Message())
	}
	return 0, false
}

func percentField(m protoreflect.Message) (float64, bool) {
	fields := m.Descriptor().Fields()
	for _, name := range progressFields {
		fd := fields.ByName(name)
		if fd == nil || fd.Cardinality() == protoreflect.Repeated {
			continue
		}
		v := m.Get(fd)
		var p float64
		switch fd.Kind() {
		case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
			protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
			p = float64(v.Int())
		case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
			p = float64(v.Uint())
		case protoreflect.FloatKind, protoreflect.DoubleKind:
			p = v.Float()
		default:
			continue
		}
		if c, ok := clampPercent(p); ok {
			return c, true
		}
	}
	return 0, false
}

// clampPercent clamps p to 0–100; NaN is no percentage.
func clampPercent(p float64) (float64, bool) {
	if math.IsNaN(p) {
		return 0, false
	}
	return min(max(p, 0), 100), true
}

func formatPercent(p float64) string {
	return strconv.FormatFloat(p, 'f', -1, 64) + "%"
}

// timeLabels name the usual timestamp fields.
var timeLabels = map[protoreflect.Name]string{
	"create_time": "Created", "start_time": "Started", "update_time": "Updated",
	"end_time": "Ended", "finish_time": "Finished", "cancel_time": "Cancelled",
}

// timesOf returns the google.protobuf.Timestamp fields set at the top level
// of the metadata and the response, and inside the metadata's "progress"
// message, each label once; then how long it took, when both a start and
// an end are known.
func timesOf(md, resp protoreflect.Message) []timeView {
	var out []timeView
	seen := map[string]time.Time{}
	add := func(m protoreflect.Message) {
		if m == nil {
			return
		}
		fields := m.Descriptor().Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			if fd.Kind() != protoreflect.MessageKind || fd.Cardinality() == protoreflect.Repeated || !m.Has(fd) ||
				fd.Message().FullName() != "google.protobuf.Timestamp" {
				continue
			}
			label, ok := timeLabels[fd.Name()]
			if !ok {
				label = humanName(string(fd.Name()))
			}
			if _, dup := seen[label]; dup {
				continue
			}
			t := timestamp(m.Get(fd).Message())
			seen[label] = t
			out = append(out, timeView{Label: label, ISO: t.Format(time.RFC3339Nano), Text: formatTime(t)})
		}
	}
	add(md)
	if md != nil {
		if fd := md.Descriptor().Fields().ByName("progress"); fd != nil && fd.Kind() == protoreflect.MessageKind &&
			fd.Cardinality() != protoreflect.Repeated && md.Has(fd) {
			add(md.Get(fd).Message())
		}
	}
	add(resp)
	end, ok := seen["Ended"]
	if !ok {
		end, ok = seen["Finished"]
	}
	start, ok2 := seen["Started"]
	if !ok2 {
		start, ok2 = seen["Created"]
	}
	if ok && ok2 && !end.Before(start) {
		out = append(out, timeView{Label: "Took", Text: end.Sub(start).Round(time.Millisecond).String()})
	}
	return out
}

// timestamp reads a google.protobuf.Timestamp message.
func timestamp(m protoreflect.Message) time.Time {
	f := m.Descriptor().Fields()
	return time.Unix(m.Get(f.ByName("seconds")).Int(), m.Get(f.ByName("nanos")).Int()).UTC()
}

// humanName turns "publish_time" into "Publish".
func humanName(field string) string {
	s := strings.ReplaceAll(strings.TrimSuffix(field, "_time"), "_", " ")
	if s == "" {
		return field
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
