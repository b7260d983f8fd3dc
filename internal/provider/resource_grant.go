package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
	"github.com/governed-entitlements/terraform-provider-governed/internal/target"
)

var (
	_ resource.Resource                = (*grantResource)(nil)
	_ resource.ResourceWithConfigure   = (*grantResource)(nil)
	_ resource.ResourceWithModifyPlan  = (*grantResource)(nil)
	_ resource.ResourceWithImportState = (*grantResource)(nil)
)

// NewGrantResource returns the governed_grant resource.
func NewGrantResource() resource.Resource {
	return &grantResource{}
}

type grantResource struct {
	data *providerData
}

type grantModel struct {
	ID                types.String `tfsdk:"id"`
	Principal         types.String `tfsdk:"principal"`
	Entitlement       types.String `tfsdk:"entitlement"`
	TicketID          types.String `tfsdk:"ticket_id"`
	Approvers         types.Set    `tfsdk:"approvers"`
	ExpiresAt         types.String `tfsdk:"expires_at"`
	TTL               types.String `tfsdk:"ttl"`
	ApprovalID        types.String `tfsdk:"approval_id"`
	Justification     types.String `tfsdk:"justification"`
	Requester         types.String `tfsdk:"requester"`
	BreakGlass        types.Bool   `tfsdk:"break_glass"`
	Status            types.String `tfsdk:"status"`
	Active            types.Bool   `tfsdk:"active"`
	GrantedAt         types.String `tfsdk:"granted_at"`
	RevokedAt         types.String `tfsdk:"revoked_at"`
	RevocationReason  types.String `tfsdk:"revocation_reason"`
	RevocationPending types.Bool   `tfsdk:"revocation_pending"`
}

func (r *grantResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_grant"
}

func (r *grantResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = grantSchema()
}

func grantSchema() schema.Schema {
	nonEmpty := []validator.String{stringvalidator.LengthAtLeast(1)}
	return schema.Schema{
		MarkdownDescription: "One entitlement for one principal until an expiry. The plan fails unless the grant carries a " +
			"ticket, approvers with authority over the entitlement and an expiry inside policy. Once the expiry has " +
			"passed, the next plan shows `status` going to `expired` and `active` to `false`, and the apply revokes it. " +
			"Every argument forces a new grant: a renewal is a new grant under a new approval.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "The grant's id in the ledger.",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"principal": schema.StringAttribute{
				MarkdownDescription: "The identity that receives access, such as a service account. It must match one of the entitlement's `principals` patterns.",
				Required:            true,
			},
			"entitlement": schema.StringAttribute{
				MarkdownDescription: "The name of an entitlement defined in the policy document.",
				Required:            true,
			},
			"ticket_id": schema.StringAttribute{
				MarkdownDescription: "The ticket that carries the request. It must match the entitlement's `ticket_pattern`, or the policy's default.",
				Required:            true,
			},
			"approvers": schema.SetAttribute{
				MarkdownDescription: "Who approved this grant. Each must be one of the entitlement's approvers, none may be the requester, " +
					"and there must be at least the entitlement's `min_approvals` of them. Names are compared after trimming, " +
					"Unicode normalisation and case folding.",
				ElementType: types.StringType,
				Required:    true,
			},
			"expires_at": schema.StringAttribute{
				MarkdownDescription: "When the grant expires, as an RFC 3339 timestamp with an offset (`2026-12-01T17:00:00Z`). " +
					"Exactly one of `expires_at` and `ttl` must be set; with `ttl`, this is computed when the grant is issued.",
				Optional:   true,
				Computed:   true,
				Validators: []validator.String{timestampValidator{}},
			},
			"ttl": schema.StringAttribute{
				MarkdownDescription: "How long the grant lasts from the moment it is issued, such as `8h`, `36h`, `7d` or `2w`. " +
					"Exactly one of `expires_at` and `ttl` must be set.",
				Optional:   true,
				Validators: []validator.String{durationValidator{}},
			},
			"approval_id": schema.StringAttribute{
				MarkdownDescription: "The id of a `governed_approval_record` this grant is made under. The grant must stay inside the " +
					"record's scope. Required when the policy sets `require_approval_record`.",
				Optional:   true,
				Validators: nonEmpty,
			},
			"justification": schema.StringAttribute{
				MarkdownDescription: "Why the access is needed. Required for break-glass grants.",
				Optional:            true,
				Validators:          nonEmpty,
			},
			"requester": schema.StringAttribute{
				MarkdownDescription: "Who asked for this grant. Defaults to the provider's `requester`. Neither may be among the approvers.",
				Optional:            true,
				Computed:            true,
				Validators:          nonEmpty,
			},
			"break_glass": schema.BoolAttribute{
				MarkdownDescription: "Use the entitlement's break-glass rules (shorter `max_ttl`, fewer approvals) for an emergency. " +
					"Requires a `justification`; the grant is flagged for review in the ledger. Defaults to `false`.",
				Optional: true,
				Computed: true,
				Default:  booldefault.StaticBool(false),
			},
			"status": schema.StringAttribute{
				MarkdownDescription: "One of " + statusList + ". Known at plan time.",
				Computed:            true,
			},
			"active": schema.BoolAttribute{
				MarkdownDescription: "Whether the grant is in force. Known at plan time, so other resources can be gated on it: " +
					"`count = governed_grant.example.active ? 1 : 0`.",
				Computed: true,
			},
			"granted_at": schema.StringAttribute{
				MarkdownDescription: "When the grant was issued (RFC 3339, UTC).",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"revoked_at": schema.StringAttribute{
				MarkdownDescription: "When the grant was revoked or expired (RFC 3339, UTC); null while active.",
				Computed:            true,
			},
			"revocation_reason": schema.StringAttribute{
				MarkdownDescription: "Why the grant is no longer active: " + reasonList + ".",
				Computed:            true,
			},
			"revocation_pending": schema.BoolAttribute{
				MarkdownDescription: "Whether the grant is no longer active but its target has not yet removed the access, " +
					"because the target refused or could not be reached. Every apply retries the revocation until it " +
					"succeeds, with a warning meanwhile. Always `false` for grants recorded only in the ledger.",
				Computed: true,
			},
		},
	}
}

func (r *grantResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	if d, ok := configured(req.ProviderData, &resp.Diagnostics); ok {
		r.data = d
	}
}

// ModifyPlan is where policy is enforced at plan time and where expiry becomes
// visible: a grant past its expiry is planned as an in-place update to
// status "expired", whether or not state was refreshed.
func (r *grantResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if r.data == nil || req.Plan.Raw.IsNull() {
		// Not configured yet (validate), or a destroy: removing access needs no approval.
		return
	}
	var plan, config grantModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}

	if req.State.Raw.IsNull() {
		r.planNewGrant(ctx, &plan, config, &resp.Diagnostics)
		resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
		return
	}

	var state grantModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	rec, ok := r.recorded(ctx, state.ID.ValueString(), &resp.Diagnostics)
	if !ok {
		return
	}

	if changed := changedArguments(plan, config, rec); len(changed) > 0 {
		// Arguments never change in place: a different grant replaces this one,
		// and the replacement is judged like any new grant.
		resp.RequiresReplace = append(resp.RequiresReplace, changed...)
		r.planNewGrant(ctx, &plan, config, &resp.Diagnostics)
		resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
		return
	}

	// Same grant: the ledger's values win over whatever state says, and what
	// the target shows wins over the ledger when access was removed there.
	view, outOfBand := r.observe(ctx, rec, &resp.Diagnostics)
	planned := grantModelFromLedger(view)
	expired := rec.Status == ledger.StatusActive && rec.StatusAt(r.data.now) == ledger.StatusExpired
	drift := grantDrift(state, planned)
	if !expired && !outOfBand && !rec.RevokePending && len(drift) == 0 && req.Plan.Raw.Equal(req.State.Raw) {
		return // the plan Terraform proposed is already the ledger's view
	}
	enforced := r.enforcedInTarget(rec)
	if expired {
		planned.Status = types.StringValue(ledger.StatusExpired)
		planned.Active = types.BoolValue(false)
		planned.RevokedAt = types.StringUnknown()
		planned.RevocationReason = types.StringValue(ledger.ReasonExpired)
		if enforced {
			planned.RevocationPending = types.BoolUnknown() // known once the target answered
		}
		resp.Diagnostics.AddWarning("Grant expired", fmt.Sprintf(
			"Grant %s of %q to %q (ticket %s) expired at %s. This apply revokes it and records the revocation; "+
				"resources gated on its active attribute are removed in the same apply. It will not be issued again: "+
				"a renewal is a new grant under a new approval.",
			rec.ID, rec.Entitlement, rec.Principal, rec.TicketID, rec.ExpiresAt))
		tflog.Info(ctx, "grant expired", map[string]any{"grant_id": rec.ID, "ticket": rec.TicketID, "expires_at": rec.ExpiresAt})
	}
	if outOfBand {
		planned.RevokedAt = types.StringUnknown()
		planned.RevocationPending = types.BoolUnknown()
		resp.Diagnostics.AddWarning("Access removed outside Terraform", fmt.Sprintf(
			"Grant %s of %q to %q (ticket %s) is no longer in force in %s: the access was removed there outside "+
				"governed. This apply records it as revoked (out_of_band) and makes sure the access stays removed. "+
				"It will not be issued again: access that is still needed is a new grant under a new approval.",
			rec.ID, rec.Entitlement, rec.Principal, rec.TicketID, rec.Target))
	}
	if rec.RevokePending {
		planned.RevocationPending = types.BoolUnknown()
		resp.Diagnostics.AddWarning("Revocation pending", revocationPendingDetail(rec)+" This apply tries again.")
	}
	if len(drift) > 0 {
		resp.Diagnostics.AddWarning("State differs from the ledger", fmt.Sprintf(
			"State for grant %s disagrees with the ledger on %s. The ledger is the system of record, so the plan "+
				"restores the ledger's values.", rec.ID, strings.Join(drift, ", ")))
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &planned)...)
}

// enforcedInTarget reports whether rec's access lives in a target other than
// the ledger itself (or in one that is no longer configured).
func (r *grantResource) enforcedInTarget(rec ledger.Grant) bool {
	tgt, err := r.data.targets.Lookup(rec.Target)
	return err != nil || !target.RecordOnly(tgt)
}

// observe checks, for a grant the ledger holds as active, that its access is
// still in force in its target. When it is not, it returns the grant as it
// now stands, revoked out of band, and true. Read and the plan judge the same
// reading of the target (see targetView), with or without refresh. A target
// that cannot be asked gets a warning: taking access away must never wait on
// a target that is down, so the plan goes on with the ledger's view.
func (r *grantResource) observe(ctx context.Context, rec ledger.Grant, diags *diag.Diagnostics) (ledger.Grant, bool) {
	if rec.Status != ledger.StatusActive || rec.StatusAt(r.data.now) != ledger.StatusActive {
		return rec, false
	}
	tgt, err := r.data.targets.Lookup(rec.Target)
	if err != nil {
		diags.AddWarning("Grant's target not configured", fmt.Sprintf(
			"Grant %s is enforced in %s, which this provider configuration does not include (%s), so it could not "+
				"check that the access is still in place.", rec.ID, rec.Target, err))
		return rec, false
	}
	if target.RecordOnly(tgt) {
		return rec, false
	}
	present, err := r.data.view.present(ctx, tgt, rec)
	if err != nil {
		diags.AddWarning("Unable to check the grant's target", fmt.Sprintf(
			"Could not check that grant %s is still in force in %s: %s. The plan uses the ledger's view.",
			rec.ID, rec.Target, err))
		return rec, false
	}
	if present {
		return rec, false
	}
	rec.Status = ledger.StatusRevoked
	rec.RevokedAt = r.data.now
	rec.RevocationReason = ledger.ReasonOutOfBand
	return rec, true
}

// revocationPendingDetail explains a grant whose revocation its target has
// not carried out yet.
func revocationPendingDetail(g ledger.Grant) string {
	return fmt.Sprintf("Grant %s of %q to %q (ticket %s) is %s in the ledger, but %s has not removed the access yet: %s.",
		g.ID, g.Entitlement, g.Principal, g.TicketID, g.Status, g.Target, g.RevokeError)
}

// planNewGrant judges a grant that does not exist yet and fills in what is known
// before apply: it will be active.
func (r *grantResource) planNewGrant(ctx context.Context, plan *grantModel, config grantModel, diags *diag.Diagnostics) {
	if plan.Requester.IsUnknown() && config.Requester.IsNull() {
		plan.Requester = stringOrNull(r.data.requester)
	}
	if _, ok := r.evaluate(ctx, config, diags, false); !ok {
		return
	}
	if plan.BreakGlass.ValueBool() {
		diags.AddAttributeWarning(path.Root(policy.AttrBreakGlass), "Break-glass grant", fmt.Sprintf(
			"This grant of %s to %s uses the entitlement's break-glass rules. It is recorded as break-glass in the "+
				"ledger, with its justification, for review after the emergency.",
			plan.Entitlement.ValueString(), plan.Principal.ValueString()))
	}
	plan.ID = types.StringUnknown()
	plan.GrantedAt = types.StringUnknown()
	plan.Status = types.StringValue(ledger.StatusActive)
	plan.Active = types.BoolValue(true)
	plan.RevokedAt = types.StringNull()
	plan.RevocationReason = types.StringNull()
	plan.RevocationPending = types.BoolValue(false)
	if config.ExpiresAt.IsNull() {
		plan.ExpiresAt = types.StringUnknown()
	}
}

// evaluate runs every policy check for the configured grant. At apply time
// (atApply) an approval record that is not in the ledger is a refusal; at plan
// time it may still be created earlier in the same apply, so the check waits.
func (r *grantResource) evaluate(ctx context.Context, config grantModel, diags *diag.Diagnostics, atApply bool) (policy.GrantDecision, bool) {
	req := grantRequestFromModel(config, r.data.requester)
	var approval *policy.Approval
	if id := config.ApprovalID; !id.IsNull() && !id.IsUnknown() {
		rec, err := r.data.ledger.Approval(ctx, id.ValueString())
		switch {
		case err == nil:
			a := policyApprovalFromLedger(rec)
			if r.resumable(ctx, rec, req) {
				a.UsedBy = "" // spent on this very grant, by an apply that stopped: it resumes
			}
			approval = &a
		case errors.Is(err, ledger.ErrNotFound) && atApply:
			diags.AddAttributeError(path.Root(policy.AttrApprovalID), summaryGrantRefused, violationDetail(policy.Violation{
				Rule: policy.RuleApprovalNotFound, Attribute: policy.AttrApprovalID,
				Detail: fmt.Sprintf("approval %q is not in the ledger.", id.ValueString()),
			}))
		case errors.Is(err, ledger.ErrNotFound):
			diags.AddAttributeWarning(path.Root(policy.AttrApprovalID), "Approval record not recorded yet", fmt.Sprintf(
				"Approval %s is not in the ledger yet. If it is created in this apply, the grant is checked against it "+
					"before anything is granted; otherwise the apply refuses the grant (rule %s).",
				id.ValueString(), policy.RuleApprovalNotFound.Name))
		default:
			addLedgerError(diags, "read approval "+id.ValueString(), err)
		}
	}
	decision, violations := r.data.policy.EvaluateGrant(req, approval, r.data.now)
	addViolations(diags, summaryGrantRefused, violations)
	if len(violations) == 0 && decision.Entitlement != nil {
		r.checkTarget(ctx, req.Principal, decision.Entitlement, diags)
	}
	if diags.HasError() {
		tflog.Info(ctx, "grant refused", map[string]any{"ticket": req.TicketID, "entitlement": req.Entitlement, "principal": req.Principal, "violations": len(violations)})
		return decision, false
	}
	return decision, requireVerifiedLedger(diags, r.data)
}

// resumable reports whether approval a was spent on a grant that an
// interrupted apply left pending and that req would resume.
func (r *grantResource) resumable(ctx context.Context, a ledger.Approval, req policy.GrantRequest) bool {
	if a.GrantID == "" {
		return false
	}
	g, err := r.data.ledger.Grant(ctx, a.GrantID)
	return err == nil && g.StatusAt(r.data.now) == ledger.StatusPending && g.Principal == req.Principal &&
		g.Entitlement == req.Entitlement && g.TicketID == req.TicketID && g.ApprovalID == a.ID
}

// checkTarget refuses a grant its target cannot or must not enforce: a target
// that is not configured or cannot be reached, or what the target itself
// refuses (a privileged role, a principal it does not know).
func (r *grantResource) checkTarget(ctx context.Context, principal string, e *policy.Entitlement, diags *diag.Diagnostics) {
	tgt, err := r.data.targets.Lookup(e.Target)
	if err != nil {
		diags.AddAttributeError(path.Root(policy.AttrEntitlement), summaryGrantRefused, fmt.Sprintf(
			"Entitlement %q is enforced in target %q, which this provider cannot reach: %s. Nothing is granted "+
				"where it cannot be enforced. Use an entitlement whose target is configured, or change the "+
				"entitlement's target in the policy.",
			e.Name, e.Target, err))
		return
	}
	checker, ok := tgt.(target.Checker)
	if !ok {
		return
	}
	violations, err := r.data.view.check(ctx, checker, e.Target, principal, e.Role)
	if err != nil {
		diags.AddAttributeError(path.Root(policy.AttrEntitlement), summaryTargetError, fmt.Sprintf(
			"%s. Nothing was granted and nothing was recorded. Check that the database is up and that the "+
				"provider's postgres_targets URL and credentials are right, then plan again.", err))
		return
	}
	addViolations(diags, summaryGrantRefused, violations)
}

func (r *grantResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan, config grantModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	// Every plan-time check runs again: a saved plan applied later must not grant
	// what is no longer allowed.
	decision, ok := r.evaluate(ctx, config, &resp.Diagnostics, true)
	if !ok {
		return
	}
	g := ledgerGrantFromModel(plan, decision)
	tgt, err := r.data.targets.Lookup(g.Target)
	if err != nil {
		resp.Diagnostics.AddError(summaryTargetError, err.Error())
		return
	}
	var issued ledger.Grant
	if target.RecordOnly(tgt) {
		issued, ok = r.issueRecordOnly(ctx, g, config, decision, &resp.Diagnostics)
	} else {
		issued, ok = r.issueInTarget(ctx, tgt, g, config, decision, &resp.Diagnostics)
	}
	if !ok {
		return
	}
	tflog.Info(ctx, "grant issued", map[string]any{"grant_id": issued.ID, "ticket": issued.TicketID, "principal": issued.Principal, "entitlement": issued.Entitlement, "expires_at": issued.ExpiresAt})
	state := grantModelFromLedger(issued)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// newGrant gives a grant about to be recorded its id and, for a ttl, its expiry.
func (r *grantResource) newGrant(g ledger.Grant, config grantModel, decision policy.GrantDecision) ledger.Grant {
	g.ID = ledger.NewGrantID()
	if config.ExpiresAt.IsNull() {
		g.ExpiresAt = formatTime(decision.ExpiresAt)
	}
	return g
}

// useApproval claims the grant's approval record, before anything is issued:
// if anything fails in between, the approval is spent and nothing is granted,
// never the other way round.
func (r *grantResource) useApproval(ctx context.Context, g ledger.Grant, diags *diag.Diagnostics) bool {
	if g.ApprovalID == "" {
		return true
	}
	_, err := r.data.ledger.UseApproval(ctx, g.ApprovalID, g.ID, r.data.now)
	if errors.Is(err, ledger.ErrApprovalUsed) {
		diags.AddAttributeError(path.Root(policy.AttrApprovalID), summaryGrantRefused, violationDetail(policy.Violation{
			Rule: policy.RuleApprovalUsed, Attribute: policy.AttrApprovalID, Detail: err.Error() + ".",
		}))
		return false
	}
	if err != nil {
		addLedgerError(diags, "record the use of approval "+g.ApprovalID, err)
		return false
	}
	return true
}

// issueRecordOnly issues a grant whose target is the ledger itself: the
// grant.issued event is the grant.
func (r *grantResource) issueRecordOnly(ctx context.Context, g ledger.Grant, config grantModel, decision policy.GrantDecision, diags *diag.Diagnostics) (ledger.Grant, bool) {
	g = r.newGrant(g, config, decision)
	if !r.useApproval(ctx, g, diags) {
		return g, false
	}
	issued, err := r.data.ledger.IssueGrant(ctx, g, r.data.now)
	if err != nil {
		addLedgerError(diags, "record the grant", err)
		return g, false
	}
	return issued, true
}

// issueInTarget puts a grant in force in a real target. The ledger records the
// intent (grant.requested) before the target is touched and the outcome after,
// so that access is never in force without a record. An apply that stopped
// between the two left a pending grant with the same arguments: this apply
// resumes it, under the same id and approval, instead of starting another.
func (r *grantResource) issueInTarget(ctx context.Context, tgt target.Target, g ledger.Grant, config grantModel, decision policy.GrantDecision, diags *diag.Diagnostics) (ledger.Grant, bool) {
	pending, resumed, err := r.pendingGrant(ctx, g, config)
	if err != nil {
		addLedgerError(diags, "look for an interrupted grant", err)
		return g, false
	}
	if resumed {
		g = pending
		tflog.Info(ctx, "resuming an interrupted grant", map[string]any{"grant_id": g.ID, "ticket": g.TicketID})
	} else {
		g = r.newGrant(g, config, decision)
	}
	if !r.useApproval(ctx, g, diags) {
		return g, false
	}
	if !resumed {
		if g, err = r.data.ledger.RequestGrant(ctx, g, r.data.now); err != nil {
			addLedgerError(diags, "record the grant request", err)
			return g, false
		}
	}
	if !r.faultAt(faultAfterRequest, diags) {
		return g, false
	}
	// Read the role's members before changing them, so that this run's view
	// of out-of-band changes is what it was before its own GRANTs.
	_, _ = r.data.view.present(ctx, tgt, g)
	if err := r.data.targets.GrantAccess(ctx, r.data.ledger, g); errors.Is(err, target.ErrNoLongerWanted) {
		diags.AddError(summaryGrantRefused, fmt.Sprintf("Grant %s was revoked while it was being issued; nothing was granted.", g.ID))
		return g, false
	} else if err != nil {
		// The request is closed as failed, so that it is never resumed, and the
		// access is revoked in case the GRANT took effect after all (a
		// connection lost after the server committed it).
		closed, rerr := r.data.targets.End(ctx, r.data.ledger, g, r.data.now, func(targetErr error) (ledger.Grant, error) {
			return r.data.ledger.RevokeGrant(ctx, g.ID, r.data.now, ledger.ReasonGrantFailed, err.Error(), targetErr)
		})
		outcome := "Nothing is in force."
		switch {
		case rerr != nil:
			outcome = fmt.Sprintf("Recording the failure in the ledger failed too (%v); the next apply resumes the request.", rerr)
		case closed.RevokePending:
			outcome = revocationPendingDetail(closed) + " The next apply tries again."
		}
		diags.AddError(summaryTargetError, fmt.Sprintf("Granting %q to %q in target %s failed: %s. %s",
			g.Entitlement, g.Principal, g.Target, err, outcome))
		return g, false
	}
	if !r.faultAt(faultAfterTargetGrant, diags) {
		return g, false
	}
	issued, err := r.data.ledger.IssueRequested(ctx, g.ID, r.data.now)
	if errors.Is(err, ledger.ErrNotPending) {
		// Revoked while the target granted it: the access must go again.
		if rerr := r.data.targets.RevokeAccess(ctx, r.data.ledger, issued, r.data.now); rerr != nil {
			err = fmt.Errorf("%w; removing the access again failed: %v", err, rerr)
		}
		diags.AddError(summaryGrantRefused, fmt.Sprintf("Grant %s was revoked while it was being issued: %s.", g.ID, err))
		return g, false
	}
	if err != nil {
		diags.AddError(summaryLedgerError, fmt.Sprintf(
			"Grant %s is in force in %s, but recording that in the ledger failed: %s. The ledger holds the grant as "+
				"requested; the next apply of this configuration completes it under the same id.", g.ID, g.Target, err))
		return g, false
	}
	return issued, true
}

// pendingGrant finds a grant left pending by an interrupted apply of the same
// configuration: same principal, entitlement, ticket, approvers, approval,
// requester, justification, break-glass and expiry as written.
func (r *grantResource) pendingGrant(ctx context.Context, g ledger.Grant, config grantModel) (ledger.Grant, bool, error) {
	pending, err := r.data.ledger.Grants(ctx, ledger.GrantFilter{Principal: g.Principal, Entitlement: g.Entitlement, Status: ledger.StatusPending})
	if err != nil {
		return g, false, err
	}
	for _, p := range pending {
		if !samePendingGrant(p, g, config) {
			continue
		}
		if p.StatusAt(r.data.now) == ledger.StatusExpired {
			// Too late to resume: close it, and take away whatever its GRANT did.
			if _, err := r.data.targets.End(ctx, r.data.ledger, p, r.data.now, func(targetErr error) (ledger.Grant, error) {
				return r.data.ledger.ExpireGrant(ctx, p.ID, r.data.now, targetErr)
			}); err != nil {
				return g, false, err
			}
			continue
		}
		if _, taken := r.data.resumed.LoadOrStore(p.ID, true); !taken {
			return p, true, nil // another resource of this run did not resume it first
		}
	}
	return g, false, nil
}

// samePendingGrant reports whether a pending grant was requested with the
// arguments of g (its expiry as written, when configured).
func samePendingGrant(p, g ledger.Grant, config grantModel) bool {
	return p.Principal == g.Principal && p.Entitlement == g.Entitlement && p.TicketID == g.TicketID &&
		sameStrings(p.Approvers, g.Approvers) && p.ApprovalID == g.ApprovalID && p.Requester == g.Requester &&
		p.Justification == g.Justification && p.BreakGlass == g.BreakGlass && p.TTL == g.TTL &&
		p.Target == g.Target && p.Role == g.Role && (config.ExpiresAt.IsNull() || p.ExpiresAt == g.ExpiresAt)
}

// Points at which WithFaultHook can stop an apply.
const (
	faultAfterRequest     = "after_request"      // the ledger holds the request; the target was not asked
	faultAfterTargetGrant = "after_target_grant" // the target granted; the ledger still says requested
)

func (r *grantResource) faultAt(point string, diags *diag.Diagnostics) bool {
	if r.data.fault == nil {
		return true
	}
	if err := r.data.fault(point); err != nil {
		diags.AddError("Apply interrupted", fmt.Sprintf("Stopped at %s: %s", point, err))
		return false
	}
	return true
}

func (r *grantResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state grantModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	rec, ok := r.recorded(ctx, state.ID.ValueString(), &resp.Diagnostics)
	if !ok {
		return
	}
	view, outOfBand := r.observe(ctx, rec, &resp.Diagnostics)
	next := grantModelFromLedger(view)
	if outOfBand {
		tflog.Info(ctx, "grant removed outside Terraform", map[string]any{"grant_id": rec.ID, "target": rec.Target})
	} else if drift := grantDrift(state, next); len(drift) > 0 {
		resp.Diagnostics.AddWarning("State differs from the ledger", fmt.Sprintf(
			"State for grant %s disagreed with the ledger on %s. The ledger is the system of record: its values "+
				"replace the ones in state.", rec.ID, strings.Join(drift, ", ")))
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &next)...)
}

// recorded reads a grant that state says exists. A grant missing from the
// ledger is an error, never a reason to drop it from state: dropping it would
// plan a fresh grant, and so re-issue access that had expired or been revoked
// on a ledger that was lost or swapped.
func (r *grantResource) recorded(ctx context.Context, id string, diags *diag.Diagnostics) (ledger.Grant, bool) {
	rec, err := r.data.ledger.Grant(ctx, id)
	if errors.Is(err, ledger.ErrNotFound) {
		diags.AddAttributeError(path.Root("id"), "Grant not in the ledger", fmt.Sprintf(
			"State holds grant %s, but the ledger at %s has no such grant. State is only a cache of the ledger, so "+
				"nothing is planned for it. If the state belongs to another ledger, point the provider at that ledger; "+
				"if the ledger was lost, restore it from a backup. To give up the grant's history on purpose, remove "+
				"the resource from state (terraform state rm) and plan again.",
			id, r.data.location))
		return rec, false
	}
	if err != nil {
		addLedgerError(diags, "read grant "+id, err)
		return rec, false
	}
	return rec, true
}

// Update only ever changes computed attributes: arguments force replacement.
// It carries out an expiry the plan showed, or writes the ledger's values over
// a state that had drifted from them.
func (r *grantResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan grantModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	rec, err := r.data.ledger.Grant(ctx, plan.ID.ValueString())
	if err != nil {
		addLedgerError(&resp.Diagnostics, "read grant "+plan.ID.ValueString(), err)
		return
	}
	switch {
	case plan.Status.ValueString() == ledger.StatusExpired && rec.Status == ledger.StatusActive:
		rec, err = r.data.targets.End(ctx, r.data.ledger, rec, r.data.now, func(targetErr error) (ledger.Grant, error) {
			return r.data.ledger.ExpireGrant(ctx, rec.ID, r.data.now, targetErr)
		})
		if err == nil {
			tflog.Info(ctx, "expired grant revoked", map[string]any{"grant_id": rec.ID, "ticket": rec.TicketID, "expires_at": rec.ExpiresAt})
		}
	case plan.RevocationReason.ValueString() == ledger.ReasonOutOfBand && rec.Status == ledger.StatusActive:
		// The access was found removed in the target. Revoking again is a no-op
		// there unless someone put it back meanwhile, and then it must go.
		rec, err = r.data.targets.End(ctx, r.data.ledger, rec, r.data.now, func(targetErr error) (ledger.Grant, error) {
			return r.data.ledger.RevokeGrant(ctx, rec.ID, r.data.now, ledger.ReasonOutOfBand,
				"the access was removed in "+rec.Target+" outside governed", targetErr)
		})
	case rec.RevokePending:
		rec, err = r.data.targets.Retry(ctx, r.data.ledger, rec, r.data.now)
	}
	if err != nil {
		addLedgerError(&resp.Diagnostics, "record the revocation of grant "+plan.ID.ValueString(), err)
		return
	}
	if rec.RevokePending {
		// Not an error: the decision is recorded and everything gated on the
		// grant goes on being removed in this apply; the warning and the
		// revocation_pending attribute say what is left, and every apply retries.
		resp.Diagnostics.AddWarning("Revocation pending", revocationPendingDetail(rec)+" The next apply tries again.")
	}
	next := grantModelFromLedger(rec)
	resp.Diagnostics.Append(resp.State.Set(ctx, &next)...)
}

// Delete revokes the grant if it is still in force and retires it in the
// ledger. The evidence stays.
func (r *grantResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state grantModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	// A grant missing from the ledger is an error here too (see recorded):
	// destroying it quietly would leave its access in place unrecorded.
	rec, ok := r.recorded(ctx, state.ID.ValueString(), &resp.Diagnostics)
	if !ok {
		return
	}
	var err error
	switch {
	case rec.StatusAt(r.data.now) == ledger.StatusExpired && rec.Status == ledger.StatusActive:
		// The grant ran out before it was destroyed: the evidence says so.
		rec, err = r.data.targets.End(ctx, r.data.ledger, rec, r.data.now, func(targetErr error) (ledger.Grant, error) {
			return r.data.ledger.ExpireGrant(ctx, rec.ID, r.data.now, targetErr)
		})
	case rec.Status == ledger.StatusActive || rec.Status == ledger.StatusPending:
		rec, err = r.data.targets.End(ctx, r.data.ledger, rec, r.data.now, func(targetErr error) (ledger.Grant, error) {
			return r.data.ledger.RetireGrant(ctx, rec.ID, r.data.now, targetErr)
		})
	case rec.RevokePending:
		rec, err = r.data.targets.Retry(ctx, r.data.ledger, rec, r.data.now)
	}
	if err == nil {
		rec, err = r.data.ledger.RetireGrant(ctx, rec.ID, r.data.now, nil)
	}
	if err != nil {
		resp.Diagnostics.AddError("Unable to retire grant", fmt.Sprintf("Destroying grant %s failed: %s. It stays in state; the next apply tries again.", rec.ID, err))
		return
	}
	if rec.RevokePending {
		// Keep the resource in state so that the next apply retries.
		resp.Diagnostics.AddError("Revocation pending", revocationPendingDetail(rec)+
			" The grant is retired in the ledger and stays in state until its target removes the access; the next apply tries again.")
		return
	}
	tflog.Info(ctx, "grant retired", map[string]any{"grant_id": rec.ID, "ticket": rec.TicketID})
}

func (r *grantResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resource.ImportStatePassthroughID(ctx, path.Root("id"), req, resp)
}

// changedArguments lists the arguments whose planned value differs from what
// the ledger recorded for the grant. The ledger, not state, is the reference,
// so a hand-edited state does not force a replacement. An unknown value counts
// as a change. Planned values rather than configuration are compared, so that
// ignore_changes is honoured; arguments that are also computed (requester,
// expires_at) are compared only when configured, because the framework plans
// them as unknown whenever anything else about the resource changes.
func changedArguments(plan, config grantModel, rec ledger.Grant) []path.Path {
	var changed []path.Path
	str := func(name string, v types.String, recorded string) {
		if v.IsUnknown() || v.ValueString() != recorded {
			changed = append(changed, path.Root(name))
		}
	}
	str("principal", plan.Principal, rec.Principal)
	str("entitlement", plan.Entitlement, rec.Entitlement)
	str("ticket_id", plan.TicketID, rec.TicketID)
	str("ttl", plan.TTL, rec.TTL)
	str("approval_id", plan.ApprovalID, rec.ApprovalID)
	str("justification", plan.Justification, rec.Justification)
	if !config.Requester.IsNull() {
		str("requester", plan.Requester, rec.Requester)
	}
	if !config.ExpiresAt.IsNull() {
		str("expires_at", plan.ExpiresAt, rec.ExpiresAt)
	}
	if plan.BreakGlass.IsUnknown() || plan.BreakGlass.ValueBool() != rec.BreakGlass {
		changed = append(changed, path.Root("break_glass"))
	}
	approvers, known := setStrings(plan.Approvers)
	if !known || !sameStrings(approvers, rec.Approvers) {
		changed = append(changed, path.Root("approvers"))
	}
	return changed
}

// grantDrift names the attributes on which state and the ledger disagree.
func grantDrift(state, ledgerView grantModel) []string {
	var drift []string
	pairs := []struct {
		name string
		a, b fmt.Stringer
	}{
		{"expires_at", state.ExpiresAt, ledgerView.ExpiresAt},
		{"status", state.Status, ledgerView.Status},
		{"active", state.Active, ledgerView.Active},
		{"granted_at", state.GrantedAt, ledgerView.GrantedAt},
		{"revoked_at", state.RevokedAt, ledgerView.RevokedAt},
		{"revocation_reason", state.RevocationReason, ledgerView.RevocationReason},
	}
	// revocation_pending is newer than some states: null there is no disagreement.
	if !state.RevocationPending.IsNull() {
		pairs = append(pairs, struct {
			name string
			a, b fmt.Stringer
		}{"revocation_pending", state.RevocationPending, ledgerView.RevocationPending})
	}
	for _, p := range pairs {
		if p.a.String() != p.b.String() {
			drift = append(drift, p.name)
		}
	}
	return drift
}

// grantRequestFromModel maps configuration to the policy's view of a request.
func grantRequestFromModel(m grantModel, providerRequester string) policy.GrantRequest {
	req := policy.GrantRequest{ProviderRequester: providerRequester}
	str := func(name string, v types.String, dst *string) {
		if v.IsUnknown() {
			req.Unknown = append(req.Unknown, name)
			return
		}
		*dst = v.ValueString()
	}
	str(policy.AttrPrincipal, m.Principal, &req.Principal)
	str(policy.AttrEntitlement, m.Entitlement, &req.Entitlement)
	str(policy.AttrTicketID, m.TicketID, &req.TicketID)
	str(policy.AttrExpiresAt, m.ExpiresAt, &req.ExpiresAt)
	str(policy.AttrTTL, m.TTL, &req.TTL)
	str(policy.AttrApprovalID, m.ApprovalID, &req.ApprovalID)
	str(policy.AttrJustification, m.Justification, &req.Justification)
	str(policy.AttrRequester, m.Requester, &req.Requester)
	if m.BreakGlass.IsUnknown() {
		req.Unknown = append(req.Unknown, policy.AttrBreakGlass)
	} else {
		req.BreakGlass = m.BreakGlass.ValueBool()
	}
	approvers, known := setStrings(m.Approvers)
	if !known {
		req.Unknown = append(req.Unknown, policy.AttrApprovers)
	}
	req.Approvers = approvers
	return req
}

// ledgerGrantFromModel builds the ledger record for a planned grant that passed policy.
func ledgerGrantFromModel(m grantModel, d policy.GrantDecision) ledger.Grant {
	approvers, _ := setStrings(m.Approvers)
	g := ledger.Grant{
		Principal:     m.Principal.ValueString(),
		Entitlement:   m.Entitlement.ValueString(),
		TicketID:      m.TicketID.ValueString(),
		Approvers:     approvers,
		Requester:     m.Requester.ValueString(),
		ApprovalID:    m.ApprovalID.ValueString(),
		Justification: m.Justification.ValueString(),
		BreakGlass:    m.BreakGlass.ValueBool(),
		TTL:           m.TTL.ValueString(),
		ExpiresAt:     m.ExpiresAt.ValueString(),
	}
	if d.Entitlement != nil {
		g.Target, g.Role = d.Entitlement.Target, d.Entitlement.Role
	}
	return g
}

// grantModelFromLedger is the Terraform view of a ledger grant.
func grantModelFromLedger(g ledger.Grant) grantModel {
	return grantModel{
		ID:                types.StringValue(g.ID),
		Principal:         types.StringValue(g.Principal),
		Entitlement:       types.StringValue(g.Entitlement),
		TicketID:          types.StringValue(g.TicketID),
		Approvers:         stringSet(g.Approvers),
		ExpiresAt:         types.StringValue(g.ExpiresAt),
		TTL:               stringOrNull(g.TTL),
		ApprovalID:        stringOrNull(g.ApprovalID),
		Justification:     stringOrNull(g.Justification),
		Requester:         stringOrNull(g.Requester),
		BreakGlass:        types.BoolValue(g.BreakGlass),
		Status:            types.StringValue(g.Status),
		Active:            types.BoolValue(g.Status == ledger.StatusActive),
		GrantedAt:         timeOrNull(g.GrantedAt),
		RevokedAt:         timeOrNull(g.RevokedAt),
		RevocationReason:  stringOrNull(g.RevocationReason),
		RevocationPending: types.BoolValue(g.RevokePending),
	}
}

// policyApprovalFromLedger is the policy's view of a recorded approval.
func policyApprovalFromLedger(a ledger.Approval) policy.Approval {
	expires, err := policy.ParseTimestamp(a.ExpiresAt)
	if err != nil {
		// An unreadable expiry authorises nothing.
		expires = time.Time{}
	}
	return policy.Approval{
		ID:          a.ID,
		TicketID:    a.TicketID,
		Entitlement: a.Entitlement,
		Principal:   a.Principal,
		Approvers:   a.Approvers,
		ExpiresAt:   expires,
		ApprovedAt:  a.ApprovedAt,
		Withdrawn:   a.Status == ledger.ApprovalWithdrawn,
		UsedBy:      a.GrantID,
	}
}
