package main

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text from the server (names, messages, type URLs, metadata) reaches a
// terminal. Control characters in it could move the cursor, clear the
// screen or rewrite earlier lines, and bidirectional formatting characters
// could reorder what is shown, so human output escapes them all.

// unsafeRune reports whether r must not reach a terminal as it is: C0 and
// C1 control characters, DEL, and bidirectional formatting characters.
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
}

// clean escapes s for one line of human output: unsafe runes become \xNN
// or \uNNNN (line breaks and tabs included), and bytes that are not UTF-8
// become \xNN.
func clean(s string) string {
	if !needsEscape(s, false) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x80 && unsafeRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// cleanLines is clean for text of several lines: it keeps the line breaks.
func cleanLines(s string) string {
	if !needsEscape(s, true) {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = clean(l)
	}
	return strings.Join(lines, "\n")
}

// needsEscape reports whether s holds an unsafe rune or a byte that is not
// UTF-8, not counting line breaks when keepNewlines.
func needsEscape(s string, keepNewlines bool) bool {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
				return true
			}
		}
		if unsafeRune(r) && (r != '\n' || !keepNewlines) {
			return true
		}
	}
	return false
}

// jsonSafe escapes, in JSON that is valid (json.Marshal's output), the
// unsafe runes that JSON allows unescaped in strings (DEL, C1 controls,
// bidirectional formatting characters) as \uNNNN, and bytes that are not
// UTF-8 as \ufffd, which is what a JSON decoder reads them as. C0 controls
// cannot occur unescaped in valid JSON; outside strings there is only
// ASCII. The JSON keeps its meaning.
func jsonSafe(b []byte) []byte {
	if !needsEscape(string(b), true) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			out = append(out, `\ufffd`...)
		case r >= 0x7f && unsafeRune(r):
			out = fmt.Appendf(out, `\u%04x`, r)
		default:
			out = append(out, b[i:i+n]...)
		}
		i += n
	}
	return out
}
