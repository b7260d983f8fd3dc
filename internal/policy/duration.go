package policy

import (
	"fmt"
	"math"
	"math/bits"
	"strings"
	"time"
)

// durationForm is the accepted duration syntax, quoted in every error.
const durationForm = `a positive number followed by a unit (ns, us, ms, s, m, h, d for 24h, w for 7d), ` +
	`optionally with a decimal fraction and combined like "1h30m", "1w2d" or "1.5h"`

// tooLong is the reason given for a duration that overflows a time.Duration.
var tooLong = "is longer than the longest accepted duration, about 292 years (" + formatDuration(math.MaxInt64) + ")"

// Duration units in nanoseconds. Go's units, plus d (24h) and w (7d).
var durationUnits = map[string]uint64{
	"ns": uint64(time.Nanosecond),
	"us": uint64(time.Microsecond),
	"µs": uint64(time.Microsecond), // U+00B5 micro sign
	"μs": uint64(time.Microsecond), // U+03BC Greek small letter mu
	"ms": uint64(time.Millisecond),
	"s":  uint64(time.Second),
	"m":  uint64(time.Minute),
	"h":  uint64(time.Hour),
	"d":  uint64(24 * time.Hour),
	"w":  uint64(7 * 24 * time.Hour),
}

// maxFractionDigits is how many fraction digits take part in the arithmetic.
// Further digits are checked but ignored: with the largest unit (a week, about
// 6.05e14ns) fifteen digits already reach below a nanosecond.
const maxFractionDigits = 18

// ParseDuration parses a duration such as "8h", "7d", "1w2d" or "1.5h": one or
// more decimal numbers, each followed by a unit (ns, us or µs, ms, s, m, h, d, w).
// Unlike time.ParseDuration it accepts d (24h) and w (7d) and refuses a sign, a
// bare "0", a zero total and surrounding spaces; a duration must be positive and
// fit in a time.Duration. Fractions are truncated to whole nanoseconds.
func ParseDuration(s string) (time.Duration, error) {
	fail := func(reason string) (time.Duration, error) {
		return 0, &formatError{what: "duration", value: s, reason: reason, expected: durationForm}
	}
	if s == "" {
		return fail("is empty")
	}
	if s[0] == '-' || s[0] == '+' {
		return fail("has a sign")
	}
	var total uint64
	rest := s
	for rest != "" {
		// The number: digits, optionally a '.' and more digits; at least one digit.
		intEnd := leadingDigits(rest)
		intPart := rest[:intEnd]
		rest = rest[intEnd:]
		var fracPart string
		if rest != "" && rest[0] == '.' {
			rest = rest[1:]
			fracEnd := leadingDigits(rest)
			fracPart = rest[:fracEnd]
			rest = rest[fracEnd:]
		}
		if intPart == "" && fracPart == "" {
			return fail("is not valid")
		}
		// The unit: everything up to the next number.
		unitEnd := 0
		for unitEnd < len(rest) && rest[unitEnd] != '.' && !isDigit(rest[unitEnd]) {
			unitEnd++
		}
		unitName := rest[:unitEnd]
		rest = rest[unitEnd:]
		if unitName == "" {
			return fail("has a number without a unit")
		}
		unit, ok := durationUnits[unitName]
		if !ok {
			return fail(fmt.Sprintf("has unknown unit %q", unitName))
		}
		v, ok := scaleDuration(intPart, fracPart, unit)
		if !ok {
			return fail(tooLong)
		}
		sum, carry := bits.Add64(total, v, 0)
		if carry != 0 || sum > math.MaxInt64 {
			return fail(tooLong)
		}
		total = sum
	}
	if total == 0 {
		return fail("is zero")
	}
	return time.Duration(total), nil
}

// scaleDuration returns intPart.fracPart units in nanoseconds, using integer
// arithmetic only. ok is false when the result does not fit in an int64.
func scaleDuration(intPart, fracPart string, unit uint64) (uint64, bool) {
	var whole uint64
	for i := 0; i < len(intPart); i++ {
		hi, lo := bits.Mul64(whole, 10)
		if hi != 0 {
			return 0, false
		}
		next, carry := bits.Add64(lo, uint64(intPart[i]-'0'), 0)
		if carry != 0 {
			return 0, false
		}
		whole = next
	}
	hi, v := bits.Mul64(whole, unit)
	if hi != 0 || v > math.MaxInt64 {
		return 0, false
	}
	if len(fracPart) > maxFractionDigits {
		fracPart = fracPart[:maxFractionDigits]
	}
	if fracPart != "" {
		var frac, scale uint64 = 0, 1
		for i := 0; i < len(fracPart); i++ {
			frac = frac*10 + uint64(fracPart[i]-'0')
			scale *= 10
		}
		// frac < scale, so frac*unit < scale*2^64 and the 128-bit quotient fits.
		fhi, flo := bits.Mul64(frac, unit)
		part, _ := bits.Div64(fhi, flo, scale)
		sum, carry := bits.Add64(v, part, 0)
		if carry != 0 || sum > math.MaxInt64 {
			return 0, false
		}
		v = sum
	}
	return v, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// leadingDigits returns the number of ASCII digits at the start of s.
func leadingDigits(s string) int {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

// formatDuration writes d in the units ParseDuration reads, largest first, e.g.
// "7d", "1d12h", "4h30m" or "1.5s" (sub-second parts as a fraction of a second).
// Weeks are written as days, which reads more naturally for policy limits.
func formatDuration(d time.Duration) string {
	if d <= 0 {
		return d.String()
	}
	var b strings.Builder
	day := 24 * time.Hour
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{day, "d"}, {time.Hour, "h"}, {time.Minute, "m"}} {
		if n := d / u.unit; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d %= u.unit
		}
	}
	if d > 0 {
		secs := d / time.Second
		ns := d % time.Second
		if ns == 0 {
			fmt.Fprintf(&b, "%ds", secs)
		} else {
			frac := strings.TrimRight(fmt.Sprintf("%09d", ns), "0")
			fmt.Fprintf(&b, "%d.%ss", secs, frac)
		}
	}
	return b.String()
}

// FormatDuration writes d as the policy document writes durations, largest
// unit first ("7d", "1d12h", "4h30m"), so that reports read like the policy.
func FormatDuration(d time.Duration) string { return formatDuration(d) }
