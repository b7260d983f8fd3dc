package main

import (
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"
)

// escaping writes to w what governed prints, with every character a terminal
// would act on written out instead: control characters other than newline
// and tab (ESC, carriage return, backspace, NUL, C1 controls), the bidi
// controls that reorder what a reader sees, and bytes that are not UTF-8
// become \x1b, \u202e and the like. Grants, approvals and reasons come from
// the ledger, which a person with write access to it could fill with
// terminal escapes; every command writes through this one writer, so that no
// listing or message prints them raw. JSON output is escaped by its encoder
// already and passes unchanged.
type escaping struct{ w io.Writer }

func (e escaping) Write(p []byte) (int, error) {
	out := make([]byte, 0, len(p))
	for i := 0; i < len(p); {
		r, n := utf8.DecodeRune(p[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			out = fmt.Appendf(out, `\x%02x`, p[i])
		case r == '\n' || r == '\t':
			out = append(out, p[i])
		case r < 0x80 && unicode.IsControl(r):
			out = fmt.Appendf(out, `\x%02x`, r)
		case unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029':
			out = fmt.Appendf(out, `\u%04x`, r)
		default:
			out = append(out, p[i:i+n]...)
		}
		i += n
	}
	if _, err := e.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}
