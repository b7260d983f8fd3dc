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
