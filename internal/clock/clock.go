// Package clock supplies the current time to the provider. Production code uses
// System; tests inject clocktest.Manual so that expiry can be exercised without
// sleeping.
package clock

import "time"

// Clock reports the current time.
type Clock interface {
	Now() time.Time
}

// System is the real wall clock.
type System struct{}

// Now returns the current time in UTC.
func (System) Now() time.Time { return time.Now().UTC() }
