package provider

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	"github.com/governed-entitlements/terraform-provider-governed/internal/lifecycle"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
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
	Target            types.String `tfsdk:"target"`
	Role              types.String `tfsdk:"role"`
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
			"Every argument forces a new grant. A replacement that re-uses the approval or the ticket of a grant may " +
			"only narrow that grant while it is in force (same principal and entitlement, no later expiry), and takes " +
			"its place; a renewal, or a grant after one expired or was revoked, is a new grant under a new approval.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "The grant's id in the ledger.",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"principal": schema.StringAttribute{
				MarkdownDescription: "The identity that receives access, such as a service account. It must match one of the entitlement's `principals` patterns: " +
					"exactly as written where the entitlement's target is a PostgreSQL target, which grants to the role of that exact name, " +
					"and as identities are compared (case and Unicode form aside) where the ledger only records the grant.",
				Required: true,
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
					"record's scope, whether the record is already in the ledger or planned in the same configuration. " +
					"A record authorises one grant in force at a time: a grant that narrows it takes the record over, " +
					"anything else needs a new record. When the record is withdrawn (destroyed), the next apply revokes " +
					"the grant. Required when the policy sets `require_approval_record`.",
				Optional:   true,
				Validators: nonEmpty,
			},
			"justification": schema.StringAttribute{
				MarkdownDescription: "Why the access is needed. Required for break-glass grants.",
				Optional:            true,
				Validators:          nonEmpty,
			},
			"requester": schema.StringAttribute{
				MarkdownDescription: "Who asked for this grant. Defaults to the provider's `requester`. Every requester counts for " +
					"separation of duties: neither this one, nor the provider's, nor `" + EnvRequester + "` may be among the " +
					"approvers. A blank value is refused.",
				Optional:   true,
				Computed:   true,
				Validators: []validator.String{notBlankValidator{}},
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
			"target": schema.StringAttribute{
				MarkdownDescription: "Where the grant is enforced, from the entitlement in the policy: `ledger` (recorded " +
					"only) or `postgres.NAME`. Known at plan time, so that a plan shows a reviewer what access is given.",
				Computed: true,
			},
			"role": schema.StringAttribute{
				MarkdownDescription: "What the target grants, from the entitlement in the policy, such as a PostgreSQL " +
					"role; null when the entitlement names none. Known at plan time.",
				Computed: true,
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
	if r.data == nil {
		return // not configured yet (validate)
	}
	if !req.State.Raw.IsNull() {
		// This resource settles its grant, whatever the plan: a
		// reconciliation leaves it alone.
		var id types.String
		if diags := req.State.GetAttribute(ctx, path.Root("id"), &id); !diags.HasError() && id.ValueString() != "" {
			r.data.managed.Store(id.ValueString(), true)
		}
	}
	if req.Plan.Raw.IsNull() {
		return // a destroy: removing access needs no approval
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
	if r.wentBackwards(ctx, state, rec) {
		// Neither the ledger's values nor a replacement: a grant that ended
		// never comes back to life from an older ledger.
		addLedgerWentBackwardsError(&resp.Diagnostics, state, rec, r.data.location)
		tflog.Warn(ctx, "ledger went backwards", map[string]any{"grant_id": rec.ID, "state_status": state.Status.ValueString(), "ledger_status": rec.Status})
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
	var withdrawn *ledger.Approval
	if !expired && !outOfBand {
		withdrawn = r.withdrawnApproval(ctx, rec, &resp.Diagnostics)
	}
	if !expired && !outOfBand && withdrawn == nil && !rec.RevokePending && len(grantDrift(state, planned)) == 0 && req.Plan.Raw.Equal(req.State.Raw) {
		return // the plan Terraform proposed is already the ledger's view
	}
	enforced := r.data.run.Enforced(rec)
	if expired {
		planned.Status = types.StringValue(ledger.StatusExpired)
		planned.Active = types.BoolValue(false)
		planned.RevokedAt = types.StringUnknown()
		planned.RevocationReason = types.StringValue(ledger.ReasonExpired)
		if enforced {
			planned.RevocationPending = types.BoolUnknown() // known once the target answered
		}
		addGrantExpiredWarning(&resp.Diagnostics, rec)
		tflog.Info(ctx, "grant expired", map[string]any{"grant_id": rec.ID, "ticket": rec.TicketID, "expires_at": rec.ExpiresAt})
	}
	if outOfBand {
		planned.RevokedAt = types.StringUnknown()
		planned.RevocationPending = types.BoolUnknown()
		addOutOfBandWarning(&resp.Diagnostics, rec)
	}
	if withdrawn != nil {
		planned.Status = types.StringValue(ledger.StatusRevoked)
		planned.Active = types.BoolValue(false)
		planned.RevokedAt = types.StringUnknown()
		planned.RevocationReason = types.StringValue(ledger.ReasonApprovalWithdrawn)
		if enforced {
			planned.RevocationPending = types.BoolUnknown() // known once the target answered
		}
		addGrantApprovalWithdrawnWarning(&resp.Diagnostics, rec, *withdrawn)
		tflog.Info(ctx, "grant's approval withdrawn", map[string]any{"grant_id": rec.ID, "ticket": rec.TicketID, "approval_id": rec.ApprovalID})
	}
	if rec.RevokePending {
		planned.RevocationPending = types.BoolUnknown()
		addRevocationPendingWarning(&resp.Diagnostics, rec, "This apply tries again.")
	}
	if !outOfBand {
		// Access found removed in the target is what the plan is about; state
		// and the ledger are compared otherwise (a plan without refresh).
		addStateVersusLedger(&resp.Diagnostics, state, rec, "so the plan restores the ledger's values")
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &planned)...)
}

// withdrawnApproval returns the approval record of a grant in force when the
// ledger holds it as withdrawn: a withdrawn approval authorises nothing from
// then on, so the grant is revoked. It returns nil otherwise, and when the
// record cannot be read (with a warning: the grant stays as it is).
func (r *grantResource) withdrawnApproval(ctx context.Context, g ledger.Grant, diags *diag.Diagnostics) *ledger.Approval {
	if g.Status != ledger.StatusActive || g.ApprovalID == "" {
		return nil
	}
	// One reading per run says which grants are under a withdrawn approval;
	// only theirs is read, for the warning's detail.
	under, err := r.data.run.UnderWithdrawnApproval(ctx)
	if err == nil && !slices.ContainsFunc(under, func(o ledger.Grant) bool { return o.ID == g.ID }) {
		return nil
	}
	a, err := r.data.ledger.Approval(ctx, g.ApprovalID)
	if err != nil {
		diags.AddWarning(summaryReadApproval, fmt.Sprintf("Could not read approval %s of grant %s from the ledger, "+
			"so the plan could not check that it is still in force: %s.", g.ApprovalID, g.ID, err))
		return nil
	}
	if a.Status != ledger.ApprovalWithdrawn {
		return nil
	}
	return &a
}

// planNewGrant judges a grant that does not exist yet and fills in what is known
// before apply: it will be active.
func (r *grantResource) planNewGrant(ctx context.Context, plan *grantModel, config grantModel, diags *diag.Diagnostics) {
	if plan.Requester.IsUnknown() && config.Requester.IsNull() {
		plan.Requester = stringOrNull(r.data.requester)
	}
	decision, ok := r.evaluate(ctx, config, diags, false)
	if !ok {
		return
	}
	if decision.Replaces != "" {
		if prev, err := r.data.ledger.Grant(ctx, decision.Replaces); err == nil && prev.Status == ledger.StatusActive {
			addSupersedesWarning(diags, prev, config.ApprovalID.ValueString())
		}
	}
	if plan.BreakGlass.ValueBool() {
		addBreakGlassWarning(diags, plan.Entitlement.ValueString(), plan.Principal.ValueString())
	}
	plan.ID = types.StringUnknown()
	plan.GrantedAt = types.StringUnknown()
	plan.Status = types.StringValue(ledger.StatusActive)
	plan.Active = types.BoolValue(true)
	plan.RevokedAt = types.StringNull()
	plan.RevocationReason = types.StringNull()
	plan.RevocationPending = types.BoolValue(false)
	plan.Target, plan.Role = types.StringUnknown(), types.StringUnknown()
	if e := decision.Entitlement; e != nil {
		plan.Target, plan.Role = types.StringValue(e.Target), stringOrNull(e.Role)
	}
	if config.ExpiresAt.IsNull() {
		plan.ExpiresAt = types.StringUnknown()
	}
}

// observe is the run's reading of rec's target (lifecycle.Run.Observe), with
// a warning when the target could not be asked: taking access away must never
// wait on a target that is down, so the plan goes on with the ledger's view.
func (r *grantResource) observe(ctx context.Context, rec ledger.Grant, diags *diag.Diagnostics) (ledger.Grant, bool) {
	view, outOfBand, err := r.data.run.Observe(ctx, rec)
	if err != nil {
		addUncheckedTargetWarning(diags, rec, err)
	}
	return view, outOfBand
}

// evaluate runs every policy check for the configured grant. At apply time
// (atApply) an approval record that is not in the ledger is a refusal; at plan
// time it may still be created earlier in the same apply: the grant is then
// judged against the record as this provider instance planned it, or, when
// no such record was planned, the check waits for the apply. The grant the
// approval already authorised, or the grants its ticket already authorised,
// are read from the ledger, since a grant may re-use them only to narrow one
// in force.
func (r *grantResource) evaluate(ctx context.Context, config grantModel, diags *diag.Diagnostics, atApply bool) (policy.GrantDecision, bool) {
	if !r.data.mayAddAccess(diags, summaryGrantRefused, fmt.Sprintf("issue a grant of %q to %q",
		config.Entitlement.ValueString(), config.Principal.ValueString())) {
		return policy.GrantDecision{}, false
	}
	req := grantRequestFromModel(config, r.data.requesters)
	req.LedgerID = r.data.ledgerID
	var approval *policy.Approval
	if id := config.ApprovalID; !id.IsNull() && !id.IsUnknown() {
		rec, err := r.data.ledger.Approval(ctx, id.ValueString())
		planned, isPlanned := r.data.approvals.get(id.ValueString())
		switch {
		case err == nil:
			a := policyApprovalFromLedger(rec)
			if r.data.run.Resumable(ctx, rec, req.Principal, req.Entitlement, req.TicketID) {
				a.UsedBy = "" // spent on this very grant, by an apply that stopped: it resumes
			} else if a.UsedBy != "" {
				a.Holder = r.predecessor(ctx, a.UsedBy)
			}
			approval = &a
		case errors.Is(err, ledger.ErrNotFound) && atApply:
			addViolations(diags, summaryGrantRefused, []policy.Violation{{
				Rule: policy.RuleApprovalNotFound, Attribute: policy.AttrApprovalID,
				Detail: fmt.Sprintf("approval %q is not in the ledger.", id.ValueString()),
			}})
		case errors.Is(err, ledger.ErrNotFound) && isPlanned:
			approval = &planned
		case errors.Is(err, ledger.ErrNotFound):
			addApprovalNotRecordedWarning(diags, id.ValueString())
		default:
			addReadError(diags, summaryReadApproval, "approval "+id.ValueString(), err)
		}
	} else if id.IsNull() && !config.TicketID.IsUnknown() && !config.Principal.IsUnknown() && !config.Entitlement.IsUnknown() {
		prior, err := r.data.run.TicketGrants(ctx, req.Principal, req.Entitlement, req.TicketID)
		if err != nil {
			addReadError(diags, summaryListGrants, "the grants of ticket "+req.TicketID, err)
		}
		for _, g := range prior {
			req.TicketGrants = append(req.TicketGrants, predecessorFromLedger(g, r.data.run.InForce(g), r.data.now))
		}
	}
	decision, violations := r.data.policy.EvaluateGrant(req, approval, r.data.now)
	addViolations(diags, summaryGrantRefused, violations)
	if len(violations) == 0 && decision.Entitlement != nil {
		violations, err := r.data.run.CheckTarget(ctx, req.Principal, decision.Entitlement)
		if err != nil {
			addTargetCheckError(diags, decision.Entitlement, err)
		}
		addViolations(diags, summaryGrantRefused, violations)
	}
	if diags.HasError() {
		tflog.Info(ctx, "grant refused", map[string]any{"ticket": req.TicketID, "entitlement": req.Entitlement, "principal": req.Principal, "violations": len(violations)})
		return decision, false
	}
	return decision, requireVerifiedLedger(diags, r.data)
}

func (r *grantResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan, config grantModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if state, ok := r.create(ctx, plan, config, &resp.Diagnostics); ok {
		resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
	}
}

// create issues the grant that plan and config describe and returns its
// state, or reports false with the reason in diags. The protocol server's
// direct apply (applyGrantCreateDirect) runs the same function.
func (r *grantResource) create(ctx context.Context, plan, config grantModel, diags *diag.Diagnostics) (grantModel, bool) {
	// Every plan-time check runs again: a saved plan applied later must not grant
	// what is no longer allowed.
	decision, ok := r.evaluate(ctx, config, diags, true)
	if !ok {
		return grantModel{}, false
	}
	if !r.data.keepPolicy(ctx, diags, summaryIssueGrant) {
		return grantModel{}, false
	}
	issued, err := r.data.run.Issue(ctx, ledgerGrantFromModel(plan, decision))
	if errors.Is(err, lifecycle.ErrPredecessorInForce) {
		addPredecessorInForceWarning(diags, issued, err)
		err = nil
	}
	if err != nil {
		addIssueError(diags, err, !config.ApprovalID.IsNull())
		return grantModel{}, false
	}
	tflog.Info(ctx, "grant issued", map[string]any{"grant_id": issued.ID, "ticket": issued.TicketID, "principal": issued.Principal, "entitlement": issued.Entitlement, "expires_at": issued.ExpiresAt})
	return grantModelFromLedger(issued), true
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
	if r.wentBackwards(ctx, state, rec) {
		// State keeps the grant ended: the plan refuses it (ModifyPlan), and a
		// destroy still goes through.
		addLedgerWentBackwardsWarning(&resp.Diagnostics, state, rec, r.data.location)
		return
	}
	view, outOfBand := r.observe(ctx, rec, &resp.Diagnostics)
	next := grantModelFromLedger(view)
	if outOfBand {
		tflog.Info(ctx, "grant removed outside Terraform", map[string]any{"grant_id": rec.ID, "target": rec.Target})
	} else {
		addStateVersusLedger(&resp.Diagnostics, state, rec, "so its values replace the ones in state")
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &next)...)
}

// addStateVersusLedger says why state and the ledger's record of a grant
// differ, if they do. A state written before the ledger recorded the grant's
// end (revoked with governed revoke, expired or revoked by another run) or a
// newer outcome of its revocation is only behind: the end is reported with
// its reason and note. A state that holds only an id has just been imported.
// Any other difference is a hand edit, reported as drift; outcome says what
// the operation does about it.
func addStateVersusLedger(diags *diag.Diagnostics, state grantModel, rec ledger.Grant, outcome string) {
	if state.Status.IsNull() {
		return // imported: nothing was known to differ
	}
	drift := grantDrift(state, grantModelFromLedger(rec))
	switch {
	case len(drift) == 0:
	case stateBehindLedger(state, rec, drift):
		if state.Active.ValueBool() && rec.Status != ledger.StatusActive {
			addGrantEndedWarning(diags, rec)
		}
	default:
		addStateDriftWarning(diags, rec.ID, drift, outcome)
	}
}

// stateBehindLedger reports whether state, which differs from the ledger's
// record rec on the attributes drift, is an earlier view of rec: the grant
// active in state and ended in the ledger since, or only the outcome of its
// revocation changed.
func stateBehindLedger(state grantModel, rec ledger.Grant, drift []string) bool {
	allowed := map[string]bool{"revocation_pending": true}
	if state.Status.ValueString() == ledger.StatusActive && state.Active.ValueBool() &&
		state.RevokedAt.IsNull() && state.RevocationReason.IsNull() &&
		(rec.Status == ledger.StatusExpired || rec.Status == ledger.StatusRevoked) {
		for _, name := range []string{"status", "active", "revoked_at", "revocation_reason"} {
			allowed[name] = true
		}
	}
	for _, name := range drift {
		if !allowed[name] {
			return false
		}
	}
	return true
}

// wentBackwards reports whether state records the grant as ended (expired or
// revoked) while the ledger holds it as active or pending: the ledger went
// backwards, since nothing moves from revoked or expired back to active. A
// grant whose target shows its access removed is not such a case: state
// recorded that removal from the target before the ledger did, and the plan
// records it. A target that cannot be checked proves nothing, and counts as
// showing the access in place.
func (r *grantResource) wentBackwards(ctx context.Context, state grantModel, rec ledger.Grant) bool {
	ended := state.Status.ValueString() == ledger.StatusExpired || state.Status.ValueString() == ledger.StatusRevoked
	if !ended || (rec.Status != ledger.StatusActive && rec.Status != ledger.StatusPending) {
		return false
	}
	_, outOfBand, err := r.data.run.Observe(ctx, rec)
	return err != nil || !outOfBand
}

// recorded reads a grant that state says exists. A grant missing from the
// ledger is an error, never a reason to drop it from state: dropping it would
// plan a fresh grant, and so re-issue access that had expired or been revoked
// on a ledger that was lost or swapped.
func (r *grantResource) recorded(ctx context.Context, id string, diags *diag.Diagnostics) (ledger.Grant, bool) {
	rec, err := r.data.ledger.Grant(ctx, id)
	if errors.Is(err, ledger.ErrNotFound) {
		addGrantNotInLedgerError(diags, id, r.data.location)
		return rec, false
	}
	if err != nil {
		addReadError(diags, summaryReadGrant, "grant "+id, err)
		return rec, false
	}
	return rec, true
}

// Update only ever changes computed attributes: arguments force replacement.
// It carries out an expiry or out-of-band revocation the plan showed, retries
// a pending revocation, or writes the ledger's values over a state that had
// drifted from them.
func (r *grantResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan grantModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	rec, err := r.data.ledger.Grant(ctx, plan.ID.ValueString())
	if err != nil {
		addReadError(&resp.Diagnostics, summaryReadGrant, "grant "+plan.ID.ValueString(), err)
		return
	}
	res, err := r.data.run.Settle(ctx, rec, plan.RevocationReason.ValueString())
	addRemovalNotes(&resp.Diagnostics, rec, res)
	if err != nil {
		addLifecycleError(&resp.Diagnostics, summaryRevokeGrant, err)
		return
	}
	if res.Appended && res.Grant.Status == ledger.StatusExpired {
		tflog.Info(ctx, "expired grant revoked", map[string]any{"grant_id": rec.ID, "ticket": rec.TicketID, "expires_at": rec.ExpiresAt})
	}
	if res.Grant.RevokePending {
		// Not an error: the decision is recorded and everything gated on the
		// grant goes on being removed in this apply; the warning and the
		// revocation_pending attribute say what is left, and every apply retries.
		addRevocationPendingWarning(&resp.Diagnostics, res.Grant, "The next apply tries again.")
	}
	next := grantModelFromLedger(res.Grant)
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
	res, err := r.data.run.Retire(ctx, rec)
	addRemovalNotes(&resp.Diagnostics, rec, res)
	if err != nil {
		addLifecycleError(&resp.Diagnostics, summaryRetireGrant, err, "The grant stays in state; the next apply tries again.")
		return
	}
	if res.Grant.RevokePending {
		// Keep the resource in state so that the next apply retries.
		resp.Diagnostics.AddError(summaryRevocationPending, lifecycle.DescribePending(res.Grant)+
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
	if !known || !ledger.SameApprovers(approvers, rec.Approvers) {
		changed = append(changed, path.Root("approvers"))
	}
	return changed
}

// predecessor reads the grant an approval already authorised, as the policy
// judges a grant that re-uses the approval against it; nil when it cannot be
// read, and the approval then counts as used.
func (r *grantResource) predecessor(ctx context.Context, id string) *policy.Predecessor {
	g, err := r.data.ledger.Grant(ctx, id)
	if err != nil {
		tflog.Warn(ctx, "grant an approval authorised is unreadable", map[string]any{"grant_id": id, "error": err.Error()})
		return nil
	}
	p := predecessorFromLedger(g, r.data.run.InForce(g), r.data.now)
	return &p
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

// grantRequestFromModel maps configuration to the policy's view of a request;
// requesters are the provider instance's.
func grantRequestFromModel(m grantModel, requesters []policy.Requester) policy.GrantRequest {
	req := policy.GrantRequest{Requesters: requesters}
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

// ledgerGrantFromModel builds the ledger record for a planned grant that
// passed policy: its arguments, the entitlement's target and role, and its
// expiry (with a ttl, the one the decision counted from now).
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
		PolicyDigest:  d.PolicyDigest,
		Evidence:      d.Evidence,
	}
	if d.Entitlement != nil {
		g.Target, g.Role = d.Entitlement.Target, d.Entitlement.Role
	}
	g.Replaces = d.Replaces
	if m.ExpiresAt.IsUnknown() || m.ExpiresAt.IsNull() {
		g.ExpiresAt = formatTime(d.ExpiresAt)
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
		Target:            types.StringValue(g.Target),
		Role:              stringOrNull(g.Role),
	}
}

// predecessorFromLedger is the policy's view of a grant that a new grant
// re-uses the approval or ticket of; inForce is the run's judgement
// (lifecycle.Run.InForce).
func predecessorFromLedger(g ledger.Grant, inForce bool, now time.Time) policy.Predecessor {
	exp, err := g.Expiry()
	if err != nil {
		inForce = false // an unreadable expiry is narrowed by nothing
	}
	p := policy.Predecessor{ID: g.ID, Principal: g.Principal, Entitlement: g.Entitlement, ExpiresAt: exp, InForce: inForce}
	if inForce {
		return p
	}
	switch st := g.StatusAt(now); st {
	case ledger.StatusExpired:
		p.Ended = "expired at " + g.ExpiresAt
	case ledger.StatusRevoked:
		p.Ended = fmt.Sprintf("was revoked (%s) at %s", g.RevocationReason, formatTime(g.RevokedAt))
	default:
		p.Ended = "is " + st + ", not in force"
	}
	return p
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
		Statement:   a.Statement,
		Signatures:  a.Signatures,
	}
}
