package provider

import (
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// Diagnostic summaries, kept in one place so that every resource words the same
// failure the same way.
const (
	summaryGrantRefused     = "Grant refused"
	summaryApprovalRefused  = "Approval refused"
	summaryLedgerUnverified = "Ledger does not verify"
	summaryLedgerError      = "Ledger error"
	summaryNotConfigured    = "Provider not configured"
	summaryTargetError      = "Target error"
)

// addViolations turns policy violations into attribute errors that name the rule
// and say how to comply.
func addViolations(diags *diag.Diagnostics, summary string, violations []policy.Violation) {
	for _, v := range violations {
		diags.AddAttributeError(path.Root(v.Attribute), summary, violationDetail(v))
	}
}

func violationDetail(v policy.Violation) string {
	return fmt.Sprintf("Rule %s: %s\n\n%s", v.Rule.Name, v.Detail, v.Rule.Fix)
}

// requireVerifiedLedger refuses to add access on a ledger whose chain does not
// verify: its evidence cannot be trusted, so nothing new is granted on top of it.
func requireVerifiedLedger(diags *diag.Diagnostics, d *providerData) bool {
	if d.verification.OK {
		return true
	}
	diags.AddError(summaryLedgerUnverified, fmt.Sprintf(
		"The ledger at %s failed verification at sequence number %d: %s. Nothing is granted or approved on a ledger "+
			"whose evidence cannot be trusted. Run `governed verify --ledger %s`, investigate, and restore the ledger "+
			"from a trusted copy. Revocations and destroys still proceed, unless the ledger's tail was cut.",
		d.location, d.verification.FirstBad, d.verification.Problem, d.location))
	return false
}

func addLedgerError(diags *diag.Diagnostics, action string, err error) {
	diags.AddError(summaryLedgerError, fmt.Sprintf("Unable to %s: %s. Nothing was changed by this step.", action, err))
}

// Checks that Configure ran; resources may be called before (validate) or without it.
func configured(data any, diags *diag.Diagnostics) (*providerData, bool) {
	if data == nil {
		return nil, false
	}
	d, ok := data.(*providerData)
	if !ok {
		diags.AddError(summaryNotConfigured, fmt.Sprintf("Expected *providerData, got %T. This is a bug in the provider.", data))
		return nil, false
	}
	return d, true
}
