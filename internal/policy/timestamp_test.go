package policy

import (
	"strings"
	"testing"
	"time"
)

func TestParseTimestamp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Time
	}{
		{"2026-12-01T17:00:00Z", time.Date(2026, 12, 1, 17, 0, 0, 0, time.UTC)},
		{"2026-12-01T18:00:00+01:00", time.Date(2026, 12, 1, 17, 0, 0, 0, time.UTC)},
		{"2026-12-01T12:30:00-04:30", time.Date(2026, 12, 1, 17, 0, 0, 0, time.UTC)},
		{"2026-12-01T17:00:00-00:00", time.Date(2026, 12, 1, 17, 0, 0, 0, time.UTC)},
		{"2026-12-01T17:00:00.5Z", time.Date(2026, 12, 1, 17, 0, 0, 500_000_000, time.UTC)},
		{"2026-12-01T17:00:00.123456789Z", time.Date(2026, 12, 1, 17, 0, 0, 123456789, time.UTC)},
		{"2026-12-01T17:00:00.000000001+00:00", time.Date(2026, 12, 1, 17, 0, 0, 1, time.UTC)},
		{"2028-02-29T00:00:00Z", time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC)}, // leap year
		{"2026-12-31T23:59:59+23:59", time.Date(2026, 12, 31, 0, 0, 59, 0, time.UTC)},
		{"2027-01-01T00:30:00+01:00", time.Date(2026, 12, 31, 23, 30, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTimestamp(tt.in)
			if err != nil {
				t.Fatalf("ParseTimestamp(%q): %v", tt.in, err)
			}
			if !got.Equal(tt.want) || got.Location() != time.UTC {
				t.Errorf("ParseTimestamp(%q) = %v, want %v in UTC", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseTimestampRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, reason string
	}{
		{"", "is empty"},
		{"2026-12-01T17:00:00", "has no offset"},
		{"2026-12-01T17:00:00.5", "has no offset"},
		{"2026-12-01", "is a date without a time of day"},
		{"2026-12-01T24:00:00Z", "hour 24"},
		{"2026-12-31T23:59:60Z", "leap second"},
		{"2026-12-01T17:60:00Z", "minute 60"},
		{"2026-12-01T17:00:61Z", "second 61"},
		{"2026-13-01T17:00:00Z", "month 13"},
		{"2026-00-01T17:00:00Z", "month 00"},
		{"2026-02-29T17:00:00Z", "day 29 out of range for 2026-02"},
		{"2026-04-31T17:00:00Z", "day 31"},
		{"2026-12-00T17:00:00Z", "day 00"},
		{"2026-12-01t17:00:00Z", `'t' instead of "T"`},
		{"2026-12-01 17:00:00Z", `' ' instead of "T"`},
		{"2026-12-01T17:00:00z", `"z" instead of "Z"`},
		{"2026-12-01T17:00:00+0100", "invalid offset"},
		{"2026-12-01T17:00:00+01", "invalid offset"},
		{"2026-12-01T17:00:00+24:00", "offset +24:00 out of range"},
		{"2026-12-01T17:00:00+01:60", "offset +01:60 out of range"},
		{"2026-12-01T17:00:00Z ", "invalid offset"},
		{" 2026-12-01T17:00:00Z", "is not valid"},
		{"2026-12-01T17:00:00.Z", "without fraction digits"},
		{"2026-12-01T17:00:00.1234567891Z", "more than nine fraction digits"},
		{"2026-1-01T17:00:00Z", "is not valid"},
		{"26-12-01T17:00:00Z", "is not valid"},
		{"2026/12/01T17:00:00Z", "is not valid"},
		{"2026-12-01T17:00Z", "is not valid"},
		{"+2026-12-01T17:00:00Z", "is not valid"},
		{"next tuesday", "is not valid"},
		{"1733072400", "is not valid"},
		{"\u0662026-12-01T17:00:00Z", "is not valid"}, // a non-ASCII digit
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTimestamp(tt.in)
			if err == nil {
				t.Fatalf("ParseTimestamp(%q) = %v, want an error", tt.in, got)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.reason) {
				t.Errorf("ParseTimestamp(%q) error %q does not say %q", tt.in, msg, tt.reason)
			}
			if !strings.Contains(msg, `like "2026-12-01T17:00:00Z"`) {
				t.Errorf("ParseTimestamp(%q) error %q gives no example", tt.in, msg)
			}
		})
	}
}

func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{
		"2026-12-01T17:00:00Z", "2026-12-01T18:00:00.5+01:00", "2026-12-01", "2026-12-31T23:59:60Z",
		"2026-12-01T24:00:00Z", "2026-13-01T00:00:00Z", "2026-12-01t17:00:00z", "0000-01-01T00:00:00-23:59",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTimestamp(s)
		if err != nil {
			return
		}
		// Everything accepted is also RFC 3339 to Go, and the same instant.
		want, goErr := time.Parse(time.RFC3339Nano, s)
		if goErr != nil {
			t.Fatalf("ParseTimestamp accepted %q, which time.Parse refuses: %v", s, goErr)
		}
		if !got.Equal(want) {
			t.Errorf("ParseTimestamp(%q) = %v, time.Parse says %v", s, got, want)
		}
		// And it round-trips through the canonical form.
		back, err := ParseTimestamp(got.Format(time.RFC3339Nano))
		if err == nil && !back.Equal(got) {
			t.Errorf("round trip of %q gave %v, want %v", s, back, got)
		}
	})
}
