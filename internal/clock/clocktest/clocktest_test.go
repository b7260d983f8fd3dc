package clocktest

import (
	"sync"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/clock"
)

var _ clock.Clock = (*Manual)(nil)

func TestManual(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 28, 13, 0, 0, 0, time.FixedZone("CET", 3600))
	c := NewManual(start)
	if got := c.Now(); !got.Equal(start) || got.Location() != time.UTC {
		t.Fatalf("Now() = %v, want %v in UTC", got, start)
	}
	c.Advance(90 * time.Minute)
	if got, want := c.Now(), start.Add(90*time.Minute); !got.Equal(want) {
		t.Fatalf("after Advance, Now() = %v, want %v", got, want)
	}
	later := time.Date(2027, 1, 1, 0, 0, 0, 0, time.FixedZone("EST", -5*3600))
	c.Set(later)
	if got := c.Now(); !got.Equal(later) || got.Location() != time.UTC {
		t.Fatalf("after Set, Now() = %v, want %v in UTC", got, later)
	}
}

// Readers and writers may share a clock.
func TestManualConcurrent(t *testing.T) {
	t.Parallel()
	c := NewManual(time.Unix(0, 0))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				c.Advance(time.Second)
				c.Now()
			}
		})
	}
	wg.Wait()
	if got, want := c.Now(), time.Unix(800, 0).UTC(); !got.Equal(want) {
		t.Fatalf("Now() = %v after 800 advances of a second, want %v", got, want)
	}
}
