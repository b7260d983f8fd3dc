package evidence

import (
	"strings"
	"testing"
	"time"
)

// A grant still in force before its expiry is drawn in force up to now and
// pale from now to its expiry; only access removed before its expiry gets the
// dashes that the legend calls "removed before expiry".
func TestTimelineInForceIsNotDrawnAsRemoved(t *testing.T) {
	t.Parallel()
	issued := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	const dashes = `stroke-dasharray="3 2"`
	for _, tt := range []struct {
		name       string
		r          Row
		wantDashes bool
		wantPale   bool
	}{
		{"in force, not yet expired", Row{GrantID: "grt_a", start: issued, expiry: issued.Add(48 * time.Hour),
			now: issued.Add(time.Hour)}, false, true},
		{"removed before expiry", Row{GrantID: "grt_b", start: issued, expiry: issued.Add(48 * time.Hour),
			removed: issued.Add(time.Hour), now: issued.Add(72 * time.Hour)}, true, false},
	} {
		svg := timeline(&tt.r)
		if got := strings.Contains(svg, dashes); got != tt.wantDashes {
			t.Errorf("%s: dashes %v, want %v: %s", tt.name, got, tt.wantDashes, svg)
		}
		if got := strings.Contains(svg, `fill="#b9cde9"`); got != tt.wantPale {
			t.Errorf("%s: pale bar to expiry %v, want %v: %s", tt.name, got, tt.wantPale, svg)
		}
	}
}

// Time in force past the expiry is red only when it made the grant late;
// within the allowed lateness it is amber, and the label does not say "late".
func TestTimelineLatenessIsRedOnlyWhenLate(t *testing.T) {
	t.Parallel()
	issued := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	expiry := issued.Add(time.Hour)
	for _, tt := range []struct {
		name, verdict, lateness string
		removed                 time.Duration
		wantColor, wantLabel    string
	}{
		{"within the allowance", VerdictYes, "8s", 8 * time.Second, `fill="#f0b429"`, "removed 8s after expiry"},
		{"late", VerdictNo, "2d", 48 * time.Hour, `fill="#d92d20"`, "removed +2d late"},
	} {
		r := Row{GrantID: "grt_a", RevokedOnTime: tt.verdict, Lateness: tt.lateness, start: issued, expiry: expiry,
			removed: expiry.Add(tt.removed), now: expiry.Add(72 * time.Hour)}
		svg := timeline(&r)
		if !strings.Contains(svg, tt.wantColor) || !strings.Contains(svg, tt.wantLabel) {
			t.Errorf("%s: want %s and %q: %s", tt.name, tt.wantColor, tt.wantLabel, svg)
		}
		if tt.verdict == VerdictYes && strings.Contains(svg, "#d92d20") {
			t.Errorf("%s: a grant revoked on time is drawn red: %s", tt.name, svg)
		}
	}
}
