package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// Allowed values and the words the docs use for them, from one list each.
var (
	grantStatuses = []string{ledger.StatusActive, ledger.StatusExpired, ledger.StatusRevoked}
	statusList    = quotedList(grantStatuses)
	// ledgerStatuses adds the status of a grant whose target has not confirmed
	// it yet, which the ledger can hold but a resource never does.
	ledgerStatuses    = append(grantStatuses[:len(grantStatuses):len(grantStatuses)], ledger.StatusPending)
	ledgerStatusList  = quotedList(ledgerStatuses)
	grantReasons      = []string{ledger.ReasonExpired, ledger.ReasonOutOfBand, ledger.ReasonApprovalWithdrawn, ledger.ReasonSuperseded, ledger.ReasonDestroyed}
	reasonList        = quotedList(grantReasons)
	ledgerReasonsList = quotedList(append(grantReasons[:len(grantReasons):len(grantReasons)], ledger.ReasonGrantFailed))
)

func quotedList(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = "`" + v + "`"
	}
	return strings.Join(q, ", ")
}

// timestampValidator checks RFC 3339 syntax when the configuration is validated,
// before any plan, and names the rule the policy would apply.
type timestampValidator struct{}

func (timestampValidator) Description(context.Context) string {
	return "must be an RFC 3339 timestamp with an offset"
}

func (v timestampValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

func (timestampValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if _, err := policy.ParseTimestamp(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid timestamp", violationDetail(policy.Violation{
			Rule: policy.RuleExpiryFormat, Attribute: req.Path.String(), Detail: err.Error(),
		}))
	}
}

// durationValidator checks a duration's syntax when the configuration is validated.
type durationValidator struct{}

func (durationValidator) Description(context.Context) string {
	return "must be a positive duration such as 8h, 7d or 2w"
}

func (v durationValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (durationValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if _, err := policy.ParseDuration(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid duration", violationDetail(policy.Violation{
			Rule: policy.RuleExpiryFormat, Attribute: req.Path.String(), Detail: err.Error(),
		}))
	}
}

// notBlankValidator refuses a requester that is blank after trimming, when the
// configuration is validated: a blank requester would hide who asked
// (rule requester.blank).
type notBlankValidator struct{}

func (notBlankValidator) Description(context.Context) string {
	return "must name someone: not empty, nor only spaces"
}

func (v notBlankValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (notBlankValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() || strings.TrimSpace(req.ConfigValue.ValueString()) != "" {
		return
	}
	resp.Diagnostics.AddAttributeError(req.Path, summaryInvalidRequester, violationDetail(policy.Violation{
		Rule: policy.RuleRequesterBlank, Attribute: req.Path.String(), Detail: fmt.Sprintf("%s is blank.", req.Path),
	}))
}
