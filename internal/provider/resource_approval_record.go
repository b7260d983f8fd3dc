package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/mapplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/setplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

var (
	_ resource.Resource                = (*approvalRecordResource)(nil)
	_ resource.ResourceWithConfigure   = (*approvalRecordResource)(nil)
	_ resource.ResourceWithModifyPlan  = (*approvalRecordResource)(nil)
	_ resource.ResourceWithImportState = (*approvalRecordResource)(nil)
)

// approvalIDPrefix starts every approval id. The rest of the id comes from the
// statement's digest, so the id is known at plan time and a grant in the same
// configuration can point at it.
const approvalIDPrefix = "apr_"

// NewApprovalRecordResource returns the governed_approval_record resource.
func NewApprovalRecordResource() resource.Resource {
	return &approvalRecordResource{}
}

type approvalRecordResource struct {
	data *providerData
}

type approvalRecordModel struct {
	ID            types.String `tfsdk:"id"`
	TicketID      types.String `tfsdk:"ticket_id"`
	Entitlement   types.String `tfsdk:"entitlement"`
	Principal     types.String `tfsdk:"principal"`
	Approvers     types.Set    `tfsdk:"approvers"`
	Justification types.String `tfsdk:"justification"`
	ExpiresAt     types.String `tfsdk:"expires_at"`
	Requester     types.String `tfsdk:"requester"`
	ApprovedAt    types.String `tfsdk:"approved_at"`
	Statement     types.String `tfsdk:"statement"`
	Digest        types.String `tfsdk:"digest"`
	Signatures    types.Map    `tfsdk:"signatures"`
}

func (r *approvalRecordResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_approval_record"
}

func (r *approvalRecordResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = approvalRecordSchema()
}

func approvalRecordSchema() schema.Schema {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	return schema.Schema{
		MarkdownDescription: "Immutable evidence that named approvers approved one scope: a ticket, an entitlement, a principal " +
			"and a latest expiry. Grants point at it with `approval_id` and must stay inside its scope. Every argument " +
			"forces a new record; destroying one withdraws it in the ledger, where the record is kept.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "The record's id, derived from its digest. Known at plan time.",
				Computed:            true,
				PlanModifiers:       keep,
			},
			"ticket_id": schema.StringAttribute{
				MarkdownDescription: "The ticket that carries the request.",
				Required:            true,
				PlanModifiers:       replace,
			},
			"entitlement": schema.StringAttribute{
				MarkdownDescription: "The entitlement approved, by its name in the policy.",
				Required:            true,
				PlanModifiers:       replace,
			},
			"principal": schema.StringAttribute{
				MarkdownDescription: "Who will receive access.",
				Required:            true,
				PlanModifiers:       replace,
			},
			"approvers": schema.SetAttribute{
				MarkdownDescription: "Who approved. Each must be one of the entitlement's approvers and none may be the requester.",
				ElementType:         types.StringType,
				Required:            true,
				PlanModifiers:       []planmodifier.Set{setplanmodifier.RequiresReplace()},
			},
			"justification": schema.StringAttribute{
				MarkdownDescription: "Why the access is needed.",
				Required:            true,
				PlanModifiers:       replace,
			},
			"expires_at": schema.StringAttribute{
				MarkdownDescription: "The latest expiry a grant under this approval may have, as an RFC 3339 timestamp with an offset.",
				Required:            true,
				PlanModifiers:       replace,
				Validators:          []validator.String{timestampValidator{}},
			},
			"requester": schema.StringAttribute{
				MarkdownDescription: "Who asked for the access. Defaults to the provider's `requester`. Every requester counts " +
					"for separation of duties: neither this one, nor the provider's, nor `" + EnvRequester + "` may approve. " +
					"A blank value is refused.",
				Optional:      true,
				Computed:      true,
				PlanModifiers: append([]planmodifier.String{stringplanmodifier.UseStateForUnknown()}, replace...),
				Validators:    []validator.String{notBlankValidator{}},
			},
			"approved_at": schema.StringAttribute{
				MarkdownDescription: "When the approval was recorded in the ledger (RFC 3339, UTC).",
				Computed:            true,
				PlanModifiers:       keep,
			},
			"statement": schema.StringAttribute{
				MarkdownDescription: "The canonical text of the approval: what the approvers sign. Known at plan time.",
				Computed:            true,
				PlanModifiers:       keep,
			},
			"digest": schema.StringAttribute{
				MarkdownDescription: "The SHA-256 of `statement`, in hex. Known at plan time.",
				Computed:            true,
				PlanModifiers:       keep,
			},
			"signatures": schema.MapAttribute{
				MarkdownDescription: "The approvers' SSH signatures over `statement`, by approver: each an armored " +
					"`-----BEGIN SSH SIGNATURE-----` block made with `ssh-keygen -Y sign -n " + policy.SignatureNamespace + "` " +
					"(OpenSSH PROTOCOL.sshsig), usually read with `file(\"approvals/SEC-1042/alice.sig\")`. Required for every " +
					"approver where the policy has `approval_signatures`: each signature must verify over the exact statement " +
					"with a key the policy's allowed_signers file lists for that approver. A plan that lacks one shows the " +
					"statement and the command that signs it. The ledger keeps the signatures and the keys' fingerprints.",
				ElementType:   types.StringType,
				Optional:      true,
				PlanModifiers: []planmodifier.Map{mapplanmodifier.RequiresReplace()},
			},
		},
	}
}

func (r *approvalRecordResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	if d, ok := configured(req.ProviderData, &resp.Diagnostics); ok {
		r.data = d
	}
}

// ModifyPlan judges a new approval against policy and computes its statement,
// digest and id so they are known at plan time. A record that exists already
// was judged when it was recorded.
func (r *approvalRecordResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if r.data == nil || req.Plan.Raw.IsNull() || !req.State.Raw.IsNull() {
		return
	}
	var plan, config approvalRecordModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if config.Requester.IsNull() {
		plan.Requester = stringOrNull(r.data.requester)
	}
	dec, ok := r.evaluate(ctx, plan, &resp.Diagnostics)
	if !ok {
		return
	}
	statement := dec.Statement
	digest := policy.Digest(statement)
	plan.Statement = types.StringValue(statement)
	plan.Digest = types.StringValue(digest)
	plan.ID = types.StringValue(approvalID(digest))
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

func (r *approvalRecordResource) evaluate(ctx context.Context, m approvalRecordModel, diags *diag.Diagnostics) (policy.ApprovalDecision, bool) {
	if !r.data.mayAddAccess(diags, summaryApprovalRefused, fmt.Sprintf("record an approval of %q for %q",
		m.Entitlement.ValueString(), m.Principal.ValueString())) {
		return policy.ApprovalDecision{}, false
	}
	areq := approvalRequestFromModel(m, r.data.requesters)
	areq.LedgerID = r.data.ledgerID
	dec, violations := r.data.policy.EvaluateApproval(areq, r.data.now)
	addViolations(diags, summaryApprovalRefused, violations)
	if len(violations) > 0 {
		tflog.Info(ctx, "approval refused", map[string]any{"ticket": areq.TicketID, "entitlement": areq.Entitlement, "violations": len(violations)})
		return dec, false
	}
	return dec, requireVerifiedLedger(diags, r.data)
}

func (r *approvalRecordResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan approvalRecordModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	dec, ok := r.evaluate(ctx, plan, &resp.Diagnostics)
	if !ok {
		return
	}
	a := ledgerApprovalFromModel(plan)
	a.Statement = dec.Statement
	a.Digest = policy.Digest(a.Statement)
	a.PolicyDigest = dec.PolicyDigest
	for _, s := range dec.Signers {
		if a.SignerKeys == nil {
			a.SignerKeys = map[string]string{}
		}
		a.SignerKeys[s.Approver] = s.Fingerprint
	}
	a.ID = approvalID(a.Digest)
	recorded, err := r.data.ledger.RecordApproval(ctx, a, r.data.now)
	if errors.Is(err, ledger.ErrExists) {
		resp.Diagnostics.AddError("Approval already recorded", fmt.Sprintf(
			"An identical approval is already recorded in the ledger as %s. Import it instead of recording it twice: "+
				"terraform import <address> %s", a.ID, a.ID))
		return
	}
	if err != nil {
		addWriteError(&resp.Diagnostics, summaryRecordApproval, "record the approval", err)
		return
	}
	tflog.Info(ctx, "approval recorded", map[string]any{"approval_id": recorded.ID, "ticket": recorded.TicketID, "digest": recorded.Digest})
	state := approvalRecordModelFromLedger(recorded)
	state.Signatures = plan.Signatures // an empty map as configured, rather than null
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *approvalRecordResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state approvalRecordModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	rec, err := r.data.ledger.Approval(ctx, state.ID.ValueString())
	if errors.Is(err, ledger.ErrNotFound) {
		resp.Diagnostics.AddAttributeError(path.Root("id"), "Approval not in the ledger", fmt.Sprintf(
			"State holds approval %s, but the ledger at %s has no such record. Point the provider at the ledger "+
				"this state belongs to, or restore the ledger from a backup.", state.ID.ValueString(), r.data.location))
		return
	}
	if err == nil && rec.Status == ledger.ApprovalWithdrawn {
		// Withdrawn outside this configuration: plan to record it again, under policy.
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		addReadError(&resp.Diagnostics, summaryReadApproval, "approval "+state.ID.ValueString(), err)
		return
	}
	next := approvalRecordModelFromLedger(rec)
	if len(rec.Signatures) == 0 && !state.Signatures.IsNull() && len(state.Signatures.Elements()) == 0 {
		next.Signatures = state.Signatures // configured as an empty map
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &next)...)
}

// Update is never called with a change: every argument forces replacement.
func (r *approvalRecordResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan approvalRecordModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// Delete withdraws the approval. The record stays in the ledger.
func (r *approvalRecordResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state approvalRecordModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	_, err := r.data.ledger.WithdrawApproval(ctx, state.ID.ValueString(), r.data.now)
	if err != nil && !errors.Is(err, ledger.ErrNotFound) {
		addWriteError(&resp.Diagnostics, summaryWithdrawApproval, "withdraw approval "+state.ID.ValueString(), err)
		return
	}
	tflog.Info(ctx, "approval withdrawn", map[string]any{"approval_id": state.ID.ValueString()})
}

func (r *approvalRecordResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resource.ImportStatePassthroughID(ctx, path.Root("id"), req, resp)
}

func approvalID(digest string) string {
	return approvalIDPrefix + digest[:24]
}

func approvalRequestFromModel(m approvalRecordModel, requesters []policy.Requester) policy.ApprovalRequest {
	req := policy.ApprovalRequest{Requesters: requesters}
	str := func(name string, v types.String, dst *string) {
		if v.IsUnknown() {
			req.Unknown = append(req.Unknown, name)
			return
		}
		*dst = v.ValueString()
	}
	str(policy.AttrTicketID, m.TicketID, &req.TicketID)
	str(policy.AttrEntitlement, m.Entitlement, &req.Entitlement)
	str(policy.AttrPrincipal, m.Principal, &req.Principal)
	str(policy.AttrJustification, m.Justification, &req.Justification)
	str(policy.AttrExpiresAt, m.ExpiresAt, &req.ExpiresAt)
	str(policy.AttrRequester, m.Requester, &req.Requester)
	approvers, known := setStrings(m.Approvers)
	if !known {
		req.Unknown = append(req.Unknown, policy.AttrApprovers)
	}
	req.Approvers = approvers
	sigs, known := stringMap(m.Signatures)
	if !known {
		req.Unknown = append(req.Unknown, policy.AttrSignatures)
	}
	req.Signatures = sigs
	return req
}

func ledgerApprovalFromModel(m approvalRecordModel) ledger.Approval {
	approvers, _ := setStrings(m.Approvers)
	sigs, _ := stringMap(m.Signatures)
	return ledger.Approval{
		Signatures:    sigs,
		TicketID:      m.TicketID.ValueString(),
		Entitlement:   m.Entitlement.ValueString(),
		Principal:     m.Principal.ValueString(),
		Approvers:     approvers,
		Justification: m.Justification.ValueString(),
		Requester:     m.Requester.ValueString(),
		ExpiresAt:     m.ExpiresAt.ValueString(),
	}
}

func approvalRecordModelFromLedger(a ledger.Approval) approvalRecordModel {
	return approvalRecordModel{
		ID:            types.StringValue(a.ID),
		TicketID:      types.StringValue(a.TicketID),
		Entitlement:   types.StringValue(a.Entitlement),
		Principal:     types.StringValue(a.Principal),
		Approvers:     stringSet(a.Approvers),
		Justification: types.StringValue(a.Justification),
		ExpiresAt:     types.StringValue(a.ExpiresAt),
		Requester:     stringOrNull(a.Requester),
		ApprovedAt:    timeOrNull(a.ApprovedAt),
		Statement:     types.StringValue(a.Statement),
		Digest:        types.StringValue(a.Digest),
		Signatures:    stringMapOrNull(a.Signatures),
	}
}
