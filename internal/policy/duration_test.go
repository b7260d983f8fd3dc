package policy

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	day, week := 24*time.Hour, 7*24*time.Hour
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"1ns", time.Nanosecond},
		{"1us", time.Microsecond},
		{"1\u00b5s", time.Microsecond}, // micro sign
		{"1\u03bcs", time.Microsecond}, // Greek mu
		{"1ms", time.Millisecond},
		{"1s", time.Second},
		{"1m", time.Minute},
		{"1h", time.Hour},
		{"1d", day},
		{"1w", week},
		{"36h", 36 * time.Hour},
		{"7d", 7 * day},
		{"2w", 2 * week},
		{"1h30m", 90 * time.Minute},
		{"1w2d", 9 * day},
		{"1d12h30m15s", day + 12*time.Hour + 30*time.Minute + 15*time.Second},
		{"30m1h", 90 * time.Minute}, // any order, as in Go
		{"1.5h", 90 * time.Minute},
		{"0.5d", 12 * time.Hour},
		{".5s", 500 * time.Millisecond},
		{"1.s", time.Second},
		{"0.25w", 42 * time.Hour},
		{"1.000000001s", time.Second + time.Nanosecond},
		{"1.0000000019s", time.Second + time.Nanosecond}, // truncated, not rounded
		{"0h1s", time.Second},
		{"0001h", time.Hour},
		{"15250w", 15250 * week},
		{"2562047h47m16.854775807s", time.Duration(1<<63 - 1)}, // the longest there is
		{"106751d23h47m16.854775807s", time.Duration(1<<63 - 1)},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseDuration(tt.in)
			if err != nil {
				t.Fatalf("ParseDuration(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseDuration(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseDurationRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		reason string
	}{
		{"", "is empty"},
		{"0", "without a unit"},
		{"0s", "is zero"},
		{"0d0h", "is zero"},
		{"0.0000000001s", "is zero"},
		{"-1h", "has a sign"},
		{"+1h", "has a sign"},
		{"1", "without a unit"},
		{"12", "without a unit"},
		{"1h30", "without a unit"},
		{"1y", `unknown unit "y"`},
		{"1H", `unknown unit "H"`},
		{"1 h", `unknown unit " h"`},
		{"1h-30m", `unknown unit "h-"`},
		{"h", "is not valid"},
		{"abc", "is not valid"},
		{".", "is not valid"},
		{".h", "is not valid"},
		{" 1h", "is not valid"},
		{"1h ", `unknown unit "h "`},
		{"100000w", "longer than the longest"},
		{"9999999999999h", "longer than the longest"},
		{"2562047h47m16.854775808s", "longer than the longest"}, // one nanosecond too many
		{"15251w", "longer than the longest"},
		{"99999999999999999999s", "longer than the longest"}, // does not fit in a uint64
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseDuration(tt.in)
			if err == nil {
				t.Fatalf("ParseDuration(%q) = %v, want an error", tt.in, got)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.reason) {
				t.Errorf("ParseDuration(%q) error %q does not say %q", tt.in, msg, tt.reason)
			}
			if !strings.Contains(msg, "expected a positive number followed by a unit") {
				t.Errorf("ParseDuration(%q) error %q does not state the accepted form", tt.in, msg)
			}
		})
	}
}

func TestParseDurationLongFraction(t *testing.T) {
	t.Parallel()
	// Digits beyond what matters are accepted and truncated.
	got, err := ParseDuration("1.99999999999999999999999w")
	if err != nil {
		t.Fatal(err)
	}
	if want := 14*24*time.Hour - time.Nanosecond; got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   time.Duration
		want string
	}{
		{7 * 24 * time.Hour, "7d"},
		{4 * time.Hour, "4h"},
		{36 * time.Hour, "1d12h"},
		{90 * time.Minute, "1h30m"},
		{1500 * time.Millisecond, "1.5s"},
		{time.Nanosecond, "0.000000001s"},
		{0, "0s"},
	}
	for _, tt := range tests {
		got := formatDuration(tt.in)
		if got != tt.want {
			t.Errorf("formatDuration(%v) = %q, want %q", tt.in, got, tt.want)
		}
		if tt.in > 0 {
			back, err := ParseDuration(got)
			if err != nil || back != tt.in {
				t.Errorf("ParseDuration(formatDuration(%v)) = %v, %v", tt.in, back, err)
			}
		}
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"1h", "7d", "1w2d", "1.5h", "0", "-1h", "100000w", "1\u00b5s", ".5s", "1.h", "9999999999999h", "1y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if !strings.Contains(err.Error(), "expected a positive number") {
				t.Errorf("error for %q does not state the accepted form: %v", s, err)
			}
			return
		}
		if d <= 0 {
			t.Errorf("ParseDuration(%q) = %v, want a positive duration", s, d)
		}
		// Without fractions, d and w, the result must agree with Go's own parser,
		// which is exact for integers.
		if !strings.ContainsAny(s, ".dw") {
			want, goErr := time.ParseDuration(s)
			if goErr == nil && want != d {
				t.Errorf("ParseDuration(%q) = %v, time.ParseDuration says %v", s, d, want)
			}
		}
	})
}
