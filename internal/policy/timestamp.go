package policy

import (
	"fmt"
	"time"
)

// timestampForm is the accepted timestamp syntax, quoted in every error.
const timestampForm = `an RFC 3339 timestamp with an explicit offset, like "2026-12-01T17:00:00Z" or "2026-12-01T18:00:00.5+01:00"`

// ParseTimestamp parses a strict RFC 3339 timestamp:
//
//	YYYY-MM-DDTHH:MM:SS[.F...](Z|+HH:MM|-HH:MM)
//
// with an upper-case "T" and "Z", one to nine fraction digits, and every field in
// range (month 01-12, day within the month, hour 00-23, minute and second 00-59,
// offset up to 23:59). It refuses what RFC 3339 allows only loosely or what
// time.Parse tolerates: a missing offset, a date alone, "24:00:00", the leap
// second ":60", a lower-case or space separator, and surrounding spaces. The
// result is in UTC.
func ParseTimestamp(s string) (time.Time, error) {
	fail := func(reason string) (time.Time, error) {
		return time.Time{}, &formatError{what: "timestamp", value: s, reason: reason, expected: timestampForm}
	}
	// The fixed-width part: "2006-01-02T15:04:05" is 19 bytes.
	if s == "" {
		return fail("is empty")
	}
	if len(s) < 19 {
		if len(s) == 10 && s[4] == '-' && s[7] == '-' {
			return fail("is a date without a time of day")
		}
		return fail("is not valid")
	}
	if s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':' {
		return fail("is not valid")
	}
	switch s[10] {
	case 'T':
	case 't', ' ':
		return fail(fmt.Sprintf("separates date and time with %q instead of \"T\"", s[10]))
	default:
		return fail("is not valid")
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	second, ok6 := digits(s[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 {
		return fail("is not valid")
	}
	switch {
	case month < 1 || month > 12:
		return fail(fmt.Sprintf("has month %02d out of range 01-12", month))
	case day < 1 || day > daysIn(time.Month(month), year):
		return fail(fmt.Sprintf("has day %02d out of range for %04d-%02d", day, year, month))
	case hour > 23:
		return fail(fmt.Sprintf("has hour %02d out of range 00-23", hour))
	case minute > 59:
		return fail(fmt.Sprintf("has minute %02d out of range 00-59", minute))
	case second == 60:
		return fail("is a leap second, which is not accepted")
	case second > 59:
		return fail(fmt.Sprintf("has second %02d out of range 00-59", second))
	}

	rest := s[19:]
	nanos := 0
	if rest != "" && rest[0] == '.' {
		n := leadingDigits(rest[1:])
		if n == 0 {
			return fail("has a '.' without fraction digits")
		}
		if n > 9 {
			return fail("has more than nine fraction digits")
		}
		frac, _ := digits(rest[1 : 1+n])
		for i := n; i < 9; i++ {
			frac *= 10
		}
		nanos = frac
		rest = rest[1+n:]
	}

	var offset int
	switch {
	case rest == "":
		return fail("has no offset")
	case rest == "Z":
	case rest == "z":
		return fail(`writes the UTC offset as "z" instead of "Z"`)
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, okh := digits(rest[1:3])
		om, okm := digits(rest[4:6])
		if !okh || !okm {
			return fail("has an invalid offset")
		}
		if oh > 23 || om > 59 {
			return fail(fmt.Sprintf("has offset %s out of range", rest))
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return fail("has an invalid offset")
	}
	t := time.Date(year, time.Month(month), day, hour, minute, second, nanos, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), nil
}

// digits parses s, which must be non-empty and all ASCII digits.
func digits(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// daysIn returns the number of days in month m of year y (proleptic Gregorian).
func daysIn(m time.Month, y int) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// formatError reports a duration or timestamp that does not have the accepted form.
type formatError struct {
	what     string // "duration" or "timestamp"
	value    string // the text as given
	reason   string // what is wrong with it, e.g. `has unknown unit "y"`
	expected string // the accepted form, with examples
}

func (e *formatError) Error() string {
	if e.value == "" {
		return fmt.Sprintf("%s is empty; expected %s", e.what, e.expected)
	}
	return fmt.Sprintf("%s %q %s; expected %s", e.what, e.value, e.reason, e.expected)
}

// formatReason returns what is wrong with a value, without the accepted form, for
// messages that state the form elsewhere.
func formatReason(err error) string {
	if fe, ok := err.(*formatError); ok {
		return fe.reason
	}
	return err.Error()
}
