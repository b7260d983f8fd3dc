package evidence

import (
	"fmt"
	"slices"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
)

// unpinned says how the decisions behind grant g, and behind its approval
// record a (nil when there is none), fail the auditor's pinned policies
// (Trust.PolicyPins): a decision that names no policy digest, or one that is
// not pinned. "" when they hold, or when nothing is pinned.
func (j *judge) unpinned(g ledger.Grant, a *ledger.Approval) string {
	pins := j.opts.Trust.PolicyPins
	if len(pins) == 0 {
		return ""
	}
	check := func(what, digest string) string {
		switch {
		case digest == "":
			return what + " names no policy digest, so it cannot be held to the pinned policies (--policy-sha256)"
		case !slices.Contains(pins, digest):
			return fmt.Sprintf("%s was judged by policy %s, which is not a pinned one (--policy-sha256)", what, shortDigest(digest))
		}
		return ""
	}
	if why := check("it", g.PolicyDigest); why != "" {
		return why
	}
	if a != nil {
		return check("its approval "+a.ID, a.PolicyDigest)
	}
	return ""
}
