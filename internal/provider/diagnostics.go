package provider

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/lifecycle"
	"github.com/governed-entitlements/terraform-provider-governed/internal/pgurl"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
	"github.com/governed-entitlements/terraform-provider-governed/internal/target"
)

// The diagnostics catalogue. Every summary the provider shows is here, named
// for the operation that failed, and so is every detail that more than one
// place words, so that a failure reads the same wherever it happens.
const (
	summaryGrantRefused      = "Grant refused"
	summaryApprovalRefused   = "Approval refused"
	summaryIssueGrant        = "Unable to issue grant"
	summaryReadGrant         = "Unable to read grant"
	summaryRevokeGrant       = "Unable to revoke grant"
	summaryRetireGrant       = "Unable to retire grant"
	summaryListGrants        = "Unable to list grants"
	summaryRecordApproval    = "Unable to record approval"
	summaryReadApproval      = "Unable to read approval"
	summaryWithdrawApproval  = "Unable to withdraw approval"
	summaryVerifyLedger      = "Unable to verify the ledger"
	summaryOpenLedger        = "Unable to open the ledger"
	summaryListMemberships   = "Unable to list memberships"
	summaryLedgerUnverified  = "Ledger does not verify"
	summaryLedgerNotAnchored = "Ledger does not match its checkpoint"
	summaryLedgerBackwards   = "Ledger went backwards"
	summaryApplyInterrupted  = "Apply interrupted"
	summaryRevocationPending = "Revocation pending"
	summaryNotConfigured     = "Provider not configured"
	summaryConfigUnknown     = "Provider configuration is not known yet"
	summaryInvalidRequester  = "Invalid requester"
	summaryPipelineSetting   = "Invalid pipeline setting"
	summaryLedgerPinned      = "Ledger pinned by the pipeline"
	summaryPolicyPinned      = "Policy pinned by the pipeline"
	summaryReconcile         = "Unable to reconcile grant"
	summaryOverdue           = "Grants past their expiry not yet revoked"
	summaryReconciles        = "Grant revoked by reconciliation"
	summaryDueElsewhere      = "Grants due in targets not configured"
	summaryTargetLogin       = "Unable to log in to the target"
	summaryTargetUnreachable = "Unable to reach the target"
)

// howToReconcile says how grants that no configuration manages any more are
// revoked.
const howToReconcile = "Add a `governed_reconciliation` resource to the configuration that a scheduled apply runs " +
	"(if it has one, the next apply revokes them), or run `governed reconcile` on a schedule, with " +
	"`--postgres-target NAME=URL` for each PostgreSQL target."

// Summaries of what removing access can meet on a damaged ledger.
const (
	// summaryRevocationUnrecorded: the access was removed from its target,
	// and the ledger could not record it.
	summaryRevocationUnrecorded = "Revocation not recorded"
	// summaryLedgerDamaged: a discontinuity was recorded to go on past a
	// ledger whose head did not match its log.
	summaryLedgerDamaged = "Ledger damaged"
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
// verify, or that does not extend the pipeline's checkpoint: its evidence
// cannot be trusted, so nothing new is granted on top of it.
func requireVerifiedLedger(diags *diag.Diagnostics, d *providerData) bool {
	if d.verification.OK {
		return requireAnchoredLedger(diags, d)
	}
	diags.AddError(summaryLedgerUnverified, fmt.Sprintf(
		"The ledger at %s failed verification at sequence number %d: %s. Nothing is granted or approved on a ledger "+
			"whose evidence cannot be trusted. Run `governed verify --ledger %s`, investigate, and restore the ledger "+
			"from a trusted copy. Revocations, expiries and destroys still proceed.",
		d.location, d.verification.FirstBad, d.verification.Problem, d.location))
	return false
}

// requireAnchoredLedger refuses to add access on a ledger that does not
// extend the pipeline's signed checkpoint, or whose checkpoint does not
// verify: a ledger rolled back, rewritten or swapped could hold approvals or
// grants that were never given, or lack revocations that were.
func requireAnchoredLedger(diags *diag.Diagnostics, d *providerData) bool {
	if d.anchor == "" {
		return true
	}
	diags.AddError(summaryLedgerNotAnchored, anchorDetail(d.anchor, d.location)+" Nothing is granted or approved "+
		"until it does. Revocations, expiries and destroys still proceed.")
	return false
}

// anchorDetail says what is wrong between the ledger at location and its
// checkpoint, and what to do.
func anchorDetail(problem, location string) string {
	if strings.HasPrefix(problem, "The environment variable ") {
		// A setting the provider cannot use: the ledger is not at fault,
		// and no copy of it needs restoring.
		return problem + " Correct the setting in the pipeline (see the pipeline settings guide); the ledger " +
			"itself was not checked against the checkpoint."
	}
	return problem + " Run `governed verify --ledger " + location + " --checkpoint $" + EnvCheckpoint +
		" --checkpoint-key $" + EnvCheckpointKey + "`, and restore the newest copy of the ledger, the one the " +
		"checkpoint was signed over or a later one."
}

// ledgerBackwardsDetail says that state records a grant as ended while the
// ledger at location holds it as in force.
func ledgerBackwardsDetail(state grantModel, rec ledger.Grant, location string) string {
	ended := state.Status.ValueString()
	if reason := state.RevocationReason.ValueString(); reason != "" {
		ended += " (" + reason
		if at := state.RevokedAt.ValueString(); at != "" {
			ended += " at " + at
		}
		ended += ")"
	}
	return fmt.Sprintf("Terraform state records grant %s (%s to %s, ticket %s) as %s, but the ledger at %s holds it "+
		"as %s. A grant never moves from revoked or expired back to active, so the ledger went backwards: an older "+
		"copy was restored, or its history was rolled back or rewritten.", rec.ID, rec.Entitlement, rec.Principal,
		rec.TicketID, ended, location, rec.Status)
}

// addLedgerWentBackwardsError refuses to plan a grant that state records as
// ended and the ledger as in force: the plan fails closed rather than
// restoring the ledger's values.
func addLedgerWentBackwardsError(diags *diag.Diagnostics, state grantModel, rec ledger.Grant, location string) {
	diags.AddAttributeError(path.Root("status"), summaryLedgerBackwards, ledgerBackwardsDetail(state, rec, location)+
		" Nothing was planned for this grant, and it is not issued again. Restore the newest copy of the ledger "+
		"(`governed verify --checkpoint F --checkpoint-key K` shows whether a copy extends the last signed "+
		"checkpoint), or remove the grant from the configuration: destroying it still goes through.")
}

// addLedgerWentBackwardsWarning says, on a refresh, why state keeps a grant
// ended that the ledger holds as in force.
func addLedgerWentBackwardsWarning(diags *diag.Diagnostics, state grantModel, rec ledger.Grant, location string) {
	diags.AddWarning(summaryLedgerBackwards, ledgerBackwardsDetail(state, rec, location)+
		" State keeps the grant as it records it.")
}

// addReadError reports a failure to read what from the ledger; a read changes
// nothing.
func addReadError(diags *diag.Diagnostics, summary, what string, err error) {
	diags.AddError(summary, fmt.Sprintf("Reading %s from the ledger failed: %s. Nothing was changed.", what, err))
}

// addWriteError reports a single append to the ledger that failed, which
// leaves the ledger as it was.
func addWriteError(diags *diag.Diagnostics, summary, action string, err error) {
	diags.AddError(summary, fmt.Sprintf("Unable to %s: %s. Nothing was changed.", action, err))
}

// addLifecycleError reports a failed step of a grant's life. Its detail says
// what had already taken effect (lifecycle.Error), then the sentences of
// next, if any.
func addLifecycleError(diags *diag.Diagnostics, summary string, err error, next ...string) {
	if errors.Is(err, lifecycle.ErrInterrupted) {
		diags.AddError(summaryApplyInterrupted, sentence(err.Error()))
		return
	}
	if le := (*lifecycle.Error)(nil); errors.As(err, &le) && le.AccessRemoved {
		summary = summaryRevocationUnrecorded
	}
	diags.AddError(summary, strings.Join(append([]string{sentence(err.Error())}, next...), " "))
}

// addIssueError reports why lifecycle.Run.Issue did not issue a grant;
// approval says whether the grant names an approval record.
func addIssueError(diags *diag.Diagnostics, err error, approval bool) {
	switch {
	case errors.Is(err, ledger.ErrApprovalUsed):
		addViolations(diags, summaryGrantRefused, []policy.Violation{{
			Rule: policy.RuleApprovalUsed, Attribute: policy.AttrApprovalID, Detail: sentence(err.Error()),
		}})
	case errors.Is(err, lifecycle.ErrNotNarrowing):
		rule, attr := policy.RuleTicketUsed, policy.AttrTicketID
		if approval {
			rule, attr = policy.RuleApprovalUsed, policy.AttrApprovalID
		}
		addViolations(diags, summaryGrantRefused, []policy.Violation{{
			Rule: rule, Attribute: attr, Detail: sentence(err.Error()),
		}})
	case errors.Is(err, lifecycle.ErrRevokedWhileIssuing):
		diags.AddError(summaryGrantRefused, sentence(err.Error()))
	case errors.Is(err, target.ErrDenied):
		addLifecycleError(diags, summaryIssueGrant, err, fmt.Sprintf("The provider's own role lacks the privilege "+
			"to grant the role (rule %s): %s", policy.RuleProviderPrivilege.Name, policy.RuleProviderPrivilege.Fix))
	default:
		addLifecycleError(diags, summaryIssueGrant, err)
	}
}

// addTargetCheckError reports that the entitlement's target could not judge a
// new grant: nothing is granted where it cannot be enforced. A target that
// is not configured is the rule target.not_configured; one the provider
// could not log in to, or reach, is a fault of the provider's
// postgres_targets, not of the grant, and is said so.
func addTargetCheckError(diags *diag.Diagnostics, e *policy.Entitlement, err error) {
	name := strings.TrimPrefix(e.Target, policy.PostgresTargetPrefix)
	switch {
	case errors.Is(err, target.ErrNotConfigured):
		addViolations(diags, summaryGrantRefused, []policy.Violation{{
			Rule: policy.RuleTargetNotConfigured, Attribute: policy.AttrEntitlement,
			Detail: fmt.Sprintf("Entitlement %q is enforced in %s: %s Add %s = { url = \"postgres://…\" } to the "+
				"provider's postgres_targets.", e.Name, e.Target, sentence(err.Error()), name),
		}})
	case errors.Is(err, pgurl.ErrLoginFailed):
		diags.AddError(summaryTargetLogin, fmt.Sprintf("%s Nothing was granted and nothing was recorded. The "+
			"provider logs in with the URL of postgres_targets[%q] in its configuration: correct the role or the "+
			"password there, then plan again. %s", sentence(err.Error()), name, pgurl.PasswordHint))
	case errors.Is(err, target.ErrUnreachable):
		diags.AddError(summaryTargetUnreachable, fmt.Sprintf("%s Nothing was granted and nothing was recorded. "+
			"Check that the database is up and that the host, port and database of postgres_targets[%q] in the "+
			"provider's configuration are right, then plan again.", sentence(err.Error()), name))
	default:
		diags.AddAttributeError(path.Root(policy.AttrEntitlement), summaryIssueGrant, fmt.Sprintf(
			"%s Nothing was granted and nothing was recorded.", sentence(err.Error())))
	}
}

// addUncheckedTargetWarning says that a grant's target could not be asked
// whether its access is still in place.
func addUncheckedTargetWarning(diags *diag.Diagnostics, g ledger.Grant, err error) {
	if errors.Is(err, target.ErrNotConfigured) {
		diags.AddWarning("Grant's target not configured", fmt.Sprintf(
			"Grant %s is enforced in %s, which this provider configuration does not include (%s), so it could not "+
				"check that the access is still in place.", g.ID, g.Target, err))
		return
	}
	diags.AddWarning("Unable to check the grant's target", fmt.Sprintf(
		"Could not check that grant %s is still in force in %s: %s. The plan uses the ledger's view.",
		g.ID, g.Target, err))
}

func addGrantExpiredWarning(diags *diag.Diagnostics, g ledger.Grant) {
	diags.AddWarning("Grant expired", fmt.Sprintf(
		"Grant %s of %q to %q (ticket %s) expired at %s. This apply revokes it and records the revocation; "+
			"resources gated on its active attribute are removed in the same apply. It will not be issued again: "+
			"a renewal is a new grant under a new approval.",
		g.ID, g.Entitlement, g.Principal, g.TicketID, g.ExpiresAt))
}

// addOverdueWarning names a few of the grants that the ledger still holds as
// active or pending although their expiry has passed, and counts them all.
func addOverdueWarning(diags *diag.Diagnostics, overdue []ledger.Grant) {
	if len(overdue) == 0 {
		return
	}
	diags.AddWarning(summaryOverdue, fmt.Sprintf(
		"The ledger holds %d grant(s) past their expiry whose access no apply has revoked yet: %s. A grant that a "+
			"governed_grant resource of the configuration being planned still manages is revoked by this apply, "+
			"which shows it as expiring. A grant that no configuration manages any more (its block replaced by a "+
			"removed block, its state removed with terraform state rm, or its workspace deleted) keeps its access "+
			"until a reconciliation revokes it. %s",
		len(overdue), nameSome(overdue), howToReconcile))
}

// nameSome names the first few grants of gs and counts the rest.
func nameSome(gs []ledger.Grant) string {
	const few = 5
	names := make([]string, 0, few)
	for _, g := range gs[:min(len(gs), few)] {
		names = append(names, fmt.Sprintf("%s (%s to %s, ticket %s, %s, expired at %s)", g.ID, g.Entitlement, g.Principal,
			g.TicketID, g.Target, g.ExpiresAt))
	}
	if len(gs) > few {
		names = append(names, fmt.Sprintf("and %d more", len(gs)-few))
	}
	return strings.Join(names, ", ")
}

// addReconcilesWarning names a grant that a governed_reconciliation plans to
// revoke, and why.
func addReconcilesWarning(diags *diag.Diagnostics, d dueGrant) {
	var why, does string
	switch d.Why {
	case ledger.ReasonExpired:
		why, does = "expired at "+d.ExpiresAt+" and is still recorded as "+d.Status, "records its expiry and revokes it"
	case ledger.ReasonApprovalWithdrawn:
		why, does = "was made under approval "+d.ApprovalID+", which was withdrawn", "revokes it (approval_withdrawn)"
	default:
		why, does = "has ended, but "+d.Target+" has not removed its access yet", "removes the access and records it"
	}
	diags.AddWarning(summaryReconciles, fmt.Sprintf(
		"Grant %s of %q to %q (ticket %s, target %s) %s. This apply %s, whether or not a configuration still "+
			"manages the grant; where a governed_grant resource in this configuration also settles it, the ledger "+
			"records it once.", d.ID, d.Entitlement, d.Principal, d.TicketID, d.Target, why, does))
}

// addDueElsewhereWarning names grants whose access must go in targets this
// provider is not configured with, which its reconciliation leaves alone.
func addDueElsewhereWarning(diags *diag.Diagnostics, elsewhere []dueGrant) {
	if len(elsewhere) == 0 {
		return
	}
	names := make([]string, len(elsewhere))
	for i, d := range elsewhere {
		names[i] = fmt.Sprintf("%s (%s, in %s)", d.ID, d.Why, d.Target)
	}
	diags.AddWarning(summaryDueElsewhere, fmt.Sprintf(
		"%d grant(s) must lose their access in targets this provider configuration does not include, so this "+
			"reconciliation leaves them as they are: %s. Add those targets to postgres_targets, or run "+
			"`governed reconcile` with a --postgres-target for each.", len(elsewhere), strings.Join(names, ", ")))
}

func addOutOfBandWarning(diags *diag.Diagnostics, g ledger.Grant) {
	diags.AddWarning("Access removed outside Terraform", fmt.Sprintf(
		"Grant %s of %q to %q (ticket %s) is no longer in force in %s: the access was removed there outside "+
			"governed. This apply records it as revoked (out_of_band) and makes sure the access stays removed. "+
			"It will not be issued again: access that is still needed is a new grant under a new approval.",
		g.ID, g.Entitlement, g.Principal, g.TicketID, g.Target))
}

// addRemovalNotes reports what a removal of access met on the way, whether or
// not it succeeded: a damaged ledger it recorded a discontinuity in, and a
// revocation its target had nothing left to carry out for (the role or the
// member no longer exists). before is the grant as the ledger held it.
func addRemovalNotes(diags *diag.Diagnostics, before ledger.Grant, res lifecycle.Result) {
	if res.Discontinuity.Seq != 0 {
		diags.AddWarning(summaryLedgerDamaged, lifecycle.DescribeDiscontinuity(res.Discontinuity))
	}
	if g := res.Grant; g.RevokeNote != "" && g.RevokeNote != before.RevokeNote {
		diags.AddWarning("Access already gone", fmt.Sprintf(
			"Grant %s of %q to %q (ticket %s) had nothing left to revoke in %s: %s. The revocation is recorded as completed.",
			g.ID, g.Entitlement, g.Principal, g.TicketID, g.Target, strings.TrimSuffix(g.RevokeNote, ".")))
	}
}

// addGrantEndedWarning: state still held a grant as active that the ledger
// records as ended since, outside this configuration's applies (governed
// revoke, another run).
func addGrantEndedWarning(diags *diag.Diagnostics, g ledger.Grant) {
	summary, how := "Grant ended in the ledger", fmt.Sprintf("was recorded as %s (%s) at %s", g.Status, g.RevocationReason, formatTime(g.RevokedAt))
	if g.RevocationReason == ledger.ReasonOutOfBand {
		summary, how = "Grant revoked outside Terraform", fmt.Sprintf("was revoked outside Terraform (out_of_band) at %s", formatTime(g.RevokedAt))
	}
	note := ""
	if g.RevocationNote != "" {
		note = fmt.Sprintf(", with the note %q", g.RevocationNote)
	}
	diags.AddWarning(summary, fmt.Sprintf(
		"Grant %s of %q to %q (ticket %s) %s%s. State still held it as active; the ledger is the system of record, "+
			"so its values replace the ones in state, and resources gated on the grant's active attribute are "+
			"removed. It will not be issued again: access that is still needed is a new grant under a new approval.",
		g.ID, g.Entitlement, g.Principal, g.TicketID, how, note))
}

func addRevocationPendingWarning(diags *diag.Diagnostics, g ledger.Grant, next string) {
	diags.AddWarning(summaryRevocationPending, lifecycle.DescribePending(g)+" "+next)
}

// addStateDriftWarning names the attributes on which state and the ledger
// disagree; outcome says what the operation does about it.
func addStateDriftWarning(diags *diag.Diagnostics, id string, drift []string, outcome string) {
	diags.AddWarning("State differs from the ledger", fmt.Sprintf(
		"State for grant %s disagrees with the ledger on %s. The ledger is the system of record, %s.",
		id, strings.Join(drift, ", "), outcome))
}

func addBreakGlassWarning(diags *diag.Diagnostics, entitlement, principal string) {
	diags.AddAttributeWarning(path.Root(policy.AttrBreakGlass), "Break-glass grant", fmt.Sprintf(
		"This grant of %s to %s uses the entitlement's break-glass rules. It is recorded as break-glass in the "+
			"ledger, with its justification, for review after the emergency.", entitlement, principal))
}

// addApprovalRecordedError refuses to record an approval whose id the
// ledger already holds (rule approval.recorded).
func addApprovalRecordedError(diags *diag.Diagnostics, a ledger.Approval) {
	detail := fmt.Sprintf("the ledger already holds approval %s, recorded at %s and withdrawn at %s. A withdrawn "+
		"approval authorises nothing and is never recorded again", a.ID, formatTime(a.ApprovedAt), formatTime(a.WithdrawnAt))
	if a.Status != ledger.ApprovalWithdrawn {
		detail = fmt.Sprintf("the ledger already holds approval %s, recorded at %s and still active; recording it "+
			"again would move its approved_at. To manage it from this configuration, import it: "+
			"terraform import <address> %s", a.ID, formatTime(a.ApprovedAt), a.ID)
	}
	addViolations(diags, summaryApprovalRefused, []policy.Violation{{
		Rule: policy.RuleApprovalRecorded, Attribute: "id", Detail: detail,
	}})
}

// addApprovalWithdrawnRecordWarning: a record in state was withdrawn in the
// ledger outside this configuration.
func addApprovalWithdrawnRecordWarning(diags *diag.Diagnostics, a ledger.Approval) {
	diags.AddAttributeWarning(path.Root("id"), "Approval withdrawn", fmt.Sprintf(
		"Approval %s (ticket %s, %q to %q) was withdrawn in the ledger at %s. It authorises nothing any more, "+
			"grants made under it are revoked, and it is never recorded again. To grant again, record a new "+
			"approval: change this record's arguments (a new ticket, justification or expiry gives it a new id), "+
			"or remove it from the configuration.",
		a.ID, a.TicketID, a.Entitlement, a.Principal, formatTime(a.WithdrawnAt)))
}

// addGrantApprovalWithdrawnWarning: the plan revokes a grant whose approval
// record was withdrawn.
func addGrantApprovalWithdrawnWarning(diags *diag.Diagnostics, g ledger.Grant, a ledger.Approval) {
	diags.AddAttributeWarning(path.Root(policy.AttrApprovalID), "Approval withdrawn", fmt.Sprintf(
		"Grant %s of %q to %q (ticket %s) was made under approval %s, which was withdrawn at %s. This apply "+
			"revokes the grant (approval_withdrawn) and records the revocation; resources gated on its active "+
			"attribute are removed in the same apply. It will not be issued again: access that is still needed "+
			"is a new grant under a new approval.",
		g.ID, g.Entitlement, g.Principal, g.TicketID, a.ID, formatTime(a.WithdrawnAt)))
}

// addSupersedesWarning: a planned grant narrows a grant in force under the
// same approval or ticket, which ends when it is issued.
func addSupersedesWarning(diags *diag.Diagnostics, prev ledger.Grant, approvalID string) {
	under := "ticket " + prev.TicketID
	if approvalID != "" {
		under = "approval " + approvalID
	}
	diags.AddWarning("Grant replaces another", fmt.Sprintf(
		"This grant narrows grant %s of %q to %q (ticket %s, expiring %s) under %s and takes its place: grant %s "+
			"is revoked (superseded) when this one is issued, since one approval or ticket authorises one grant "+
			"in force at a time.",
		prev.ID, prev.Entitlement, prev.Principal, prev.TicketID, prev.ExpiresAt, under, prev.ID))
}

// addPredecessorInForceWarning: a grant was issued, but the grant it
// replaces could not be recorded as superseded.
func addPredecessorInForceWarning(diags *diag.Diagnostics, g ledger.Grant, err error) {
	diags.AddWarning("Replaced grant still in force", fmt.Sprintf(
		"%s Grant %s stays in force until it expires, its resource is destroyed, or it is revoked with "+
			"`governed revoke --grant %s`.", sentence(err.Error()), g.Replaces, g.Replaces))
}

func addApprovalNotRecordedWarning(diags *diag.Diagnostics, id string) {
	diags.AddAttributeWarning(path.Root(policy.AttrApprovalID), "Approval record not recorded yet", fmt.Sprintf(
		"Approval %s is not in the ledger yet. If it is created in this apply, the grant is checked against it "+
			"before anything is granted; otherwise the apply refuses the grant (rule %s).",
		id, policy.RuleApprovalNotFound.Name))
}

// addGrantNotInLedgerError: state holds a grant the ledger does not know.
func addGrantNotInLedgerError(diags *diag.Diagnostics, id, location string) {
	diags.AddAttributeError(path.Root("id"), "Grant not in the ledger", fmt.Sprintf(
		"State holds grant %s, but the ledger at %s has no such grant. State is only a cache of the ledger, so "+
			"nothing is planned for it. If the state belongs to another ledger, point the provider at that ledger; "+
			"if the ledger was lost, restore it from a backup. To give up the grant's history on purpose, remove "+
			"the resource from state (terraform state rm) and plan again.",
		id, location))
}

// addConfigUnknownError: a provider argument is only known after apply.
func addConfigUnknownError(diags *diag.Diagnostics, at path.Path, what string) {
	diags.AddAttributeError(at, summaryConfigUnknown, what+" depends on something that is only known after apply. "+
		"The provider must know its ledger, requester, policy and targets at plan time to judge grants; use values "+
		"known before apply.")
}

// addPipelineSettingError: an environment variable the pipeline sets has a
// value the provider cannot use; fix says what it must be.
func addPipelineSettingError(diags *diag.Diagnostics, name, value, fix string) {
	diags.AddError(summaryPipelineSetting, fmt.Sprintf(
		"The environment variable %s is set to %q, which the provider cannot use. %s Nothing was planned or "+
			"changed: a setting the pipeline means to pin is never ignored.", name, value, fix))
}

// addLedgerPinnedError: the provider block names a ledger other than the one
// the pipeline pins.
func addLedgerPinnedError(diags *diag.Diagnostics, pinned, configured string) {
	diags.AddAttributeError(path.Root("ledger"), summaryLedgerPinned, fmt.Sprintf(
		"The pipeline pins the ledger with %s to %s, and this provider block's ledger names another: %s. What the "+
			"pipeline sets outranks what a change under review says, so evidence is never recorded, nor access "+
			"granted, outside the ledger the pipeline trusts. Remove ledger from the provider block to use the "+
			"pipeline's ledger, or set it to that same location. Nothing was planned or changed.",
		ledger.EnvLocation, pinned, configured))
}

// addPolicyPinnedError: the policy document is not the one the pipeline pins.
func addPolicyPinnedError(diags *diag.Diagnostics, attr, pinned, got string) {
	diags.AddAttributeError(path.Root(attr), summaryPolicyPinned, fmt.Sprintf(
		"The pipeline pins the policy with %s=%s, and the SHA-256 of the policy document this provider block "+
			"gives in %s is %s. What the pipeline sets outranks what a change under review says, so no grant is "+
			"judged by a policy the pipeline has not approved. Revert the policy change; a policy change is "+
			"reviewed and applied apart from grants, and the pipeline's pin updated with it. Where the policy did "+
			"not change, the pin is wrong: set it to what sha256sum prints for the policy file on the protected "+
			"branch. Nothing was planned or changed.", EnvPolicySHA256, pinned, attr, got))
}

// addSignersPinnedError: the key files the policy's approval_signatures
// names are not pinned as the pipeline says; problem says how.
func addSignersPinnedError(diags *diag.Diagnostics, attr, problem string) {
	diags.AddAttributeError(path.Root(attr), summaryPolicyPinned, problem+" Whose signature counts as an approval "+
		"is as much the pipeline's to decide as the policy itself. Nothing was planned or changed.")
}

// addRevokeOnlyError: the run may only remove access, and what would add
// access is refused.
func addRevokeOnlyError(diags *diag.Diagnostics, summary, what string) {
	diags.AddError(summary, fmt.Sprintf(
		"This run may only remove access: the pipeline set %s. It cannot %s. Expiries, revocations, retries "+
			"and destroys go through. Apply this change from a pipeline that may add access (without %s), or "+
			"leave it out of the configuration this run applies.", EnvRevokeOnly, what, EnvRevokeOnly))
}

// sentence makes an error's text a sentence: a capital first letter and a
// full stop at the end.
func sentence(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n > 0 {
		s = string(unicode.ToUpper(r)) + s[n:]
	}
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
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
