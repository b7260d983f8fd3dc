package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

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
			"forces a new record; destroying one withdraws it in the ledger, where the record is kept, and the next " +
			"apply revokes the grant made under it. An id is recorded once: a withdrawn record is never recorded " +
			"again. A replacement that states the same approval (an approver's name spelt otherwise) keeps the " +
			"recorded one as it is.",
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
				MarkdownDescription: "The latest expiry a grant under this approval may have, as an RFC 3339 timestamp with an offset. " +
					"The entitlement's `max_ttl` caps it: it may be at most `max_ttl` after the approval is recorded " +
					"(rule `expiry.max_ttl`), and a grant under it is held to its own `max_ttl` from its issue as well.",
				Required:      true,
				PlanModifiers: replace,
				Validators:    []validator.String{timestampValidator{}},
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

// privateIdenticalReplacement is the private state key under which the plan
// of a record in state notes that its replacement states exactly the same
// approval (the same id): arguments that changed only in spelling, such as
// the case of an approver. Such a replacement keeps the recorded approval as
// it is: Delete does not withdraw it and Create takes it over.
const privateIdenticalReplacement = "identical_replacement"

// ModifyPlan judges a new approval against policy and computes its statement,
// digest and id so they are known at plan time; a record whose id the ledger
// already holds is refused, since an id is recorded once, unless it is the
// record this one replaces with the same statement. The planned record is
// kept for the grants planned after it (approvalRun). A record that exists
// already was judged when it was recorded; the plan only warns when it was
// withdrawn meanwhile.
func (r *approvalRecordResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if r.data == nil || req.Plan.Raw.IsNull() {
		return
	}
	if !req.State.Raw.IsNull() {
		r.planExisting(ctx, req, resp)
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
	id := approvalID(digest)
	if _, ok := r.unrecorded(ctx, id, identicalReplacement(ctx, req.Private, id), &resp.Diagnostics); !ok {
		return
	}
	plan.Statement = types.StringValue(statement)
	plan.Digest = types.StringValue(digest)
	plan.ID = types.StringValue(id)
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
	r.data.approvals.plan(plannedApproval(ledgerApprovalFromModel(plan), dec, r.data.now))
}

// unrecorded reports whether the record id may be recorded: the ledger holds
// no approval under it, or holds the active approval that an identical
// replacement keeps (replacing; returned, for Create to take over). It
// refuses the record otherwise (rule approval.recorded): recording it again
// would make a withdrawn approval active again, or move an active one's
// approved_at, from which approval_max_age counts.
func (r *approvalRecordResource) unrecorded(ctx context.Context, id string, replacing bool, diags *diag.Diagnostics) (*ledger.Approval, bool) {
	rec, err := r.data.ledger.Approval(ctx, id)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		return nil, true
	case err != nil:
		addReadError(diags, summaryReadApproval, "approval "+id, err)
		return nil, false
	case rec.Status == ledger.ApprovalActive && (replacing || r.data.approvals.isKept(id)):
		return &rec, true
	}
	addApprovalRecordedError(diags, rec)
	tflog.Info(ctx, "approval refused", map[string]any{"approval_id": id, "rule": policy.RuleApprovalRecorded.Name, "status": rec.Status})
	return nil, false
}

// planExisting plans a record that is in state. It warns when the ledger
// holds it as withdrawn: it authorises nothing any more, grants made under it
// are revoked, and it stays in state, as the ledger keeps it. When the
// configuration changed, Terraform replaces the record; if the replacement
// states the same approval, the plan notes it in private state for the
// replacement's plan and for Delete.
func (r *approvalRecordResource) planExisting(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	var state, plan approvalRecordModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() || state.ID.IsNull() || state.ID.IsUnknown() {
		return
	}
	id := state.ID.ValueString()
	rec, err := r.data.ledger.Approval(ctx, id)
	if err != nil {
		return // Read reports a record missing from the ledger
	}
	if rec.Status == ledger.ApprovalWithdrawn {
		addApprovalWithdrawnRecordWarning(&resp.Diagnostics, rec)
		return
	}
	if req.Plan.Raw.Equal(req.State.Raw) {
		return
	}
	if plan.Requester.IsUnknown() && !state.Requester.IsNull() {
		plan.Requester = state.Requester
	}
	areq := approvalRequestFromModel(plan, r.data.requesters)
	areq.LedgerID = r.data.ledgerID
	if len(areq.Unknown) > 0 || !sameEvidence(policy.Digest(r.data.policy.Statement(areq)), areq.Signatures, rec) {
		return
	}
	value, _ := json.Marshal(id)
	resp.Diagnostics.Append(resp.Private.SetKey(ctx, privateIdenticalReplacement, value)...)
}

// sameEvidence reports whether an approval with the statement digest and
// signatures given is the one the ledger recorded as a: the same statement
// (and so the same id), and the same signatures by the same approvers,
// however their names are spelt.
func sameEvidence(digest string, signatures map[string]string, a ledger.Approval) bool {
	if digest != a.Digest || len(signatures) != len(a.Signatures) {
		return false
	}
	recorded := make(map[string]string, len(a.Signatures))
	for approver, sig := range a.Signatures {
		recorded[policy.NormalizeIdentity(approver)] = sig
	}
	for approver, sig := range signatures {
		if got, ok := recorded[policy.NormalizeIdentity(approver)]; !ok || got != sig {
			return false
		}
	}
	return true
}

// privateState is the framework's private state of a resource, whose
// methods accept a nil receiver.
type privateState interface {
	GetKey(context.Context, string) ([]byte, diag.Diagnostics)
}

// identicalReplacement reports whether private state notes that the record
// being planned or destroyed is replaced by an identical record, id.
func identicalReplacement(ctx context.Context, private privateState, id string) bool {
	value, diags := private.GetKey(ctx, privateIdenticalReplacement)
	var noted string
	return !diags.HasError() && json.Unmarshal(value, &noted) == nil && noted == id
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
	a.Evidence = dec.Evidence
	if s := r.data.policy.Signers; s != nil && dec.Evidence == policy.EvidenceSigned {
		// The key files the signatures were verified against, which
		// keepPolicy keeps in the ledger under these digests.
		a.AllowedSignersSHA256, a.RevokedKeysSHA256 = s.AllowedSignersSHA256, s.RevokedKeysSHA256
	}
	for _, s := range dec.Signers {
		if a.SignerKeys == nil {
			a.SignerKeys = map[string]string{}
		}
		a.SignerKeys[s.Approver] = s.Fingerprint
	}
	a.ID = approvalID(a.Digest)
	kept, ok := r.unrecorded(ctx, a.ID, false, &resp.Diagnostics)
	if !ok {
		return
	}
	if kept != nil {
		// The record this one replaces (destroyed just before, without being
		// withdrawn) states the same approval: it stays as recorded, with its
		// approved_at, and this resource takes it over, as configured.
		if !sameEvidence(a.Digest, a.Signatures, *kept) {
			addApprovalRecordedError(&resp.Diagnostics, *kept)
			return
		}
		tflog.Info(ctx, "approval kept for its identical replacement", map[string]any{"approval_id": a.ID})
		state := keptRecordModel(plan, *kept)
		resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
		return
	}
	if !r.data.keepPolicy(ctx, &resp.Diagnostics, summaryRecordApproval) {
		return
	}
	recorded, err := r.data.ledger.RecordApproval(ctx, a, r.data.now)
	if errors.Is(err, ledger.ErrExists) {
		// Recorded by another writer since the check above.
		r.unrecorded(ctx, a.ID, false, &resp.Diagnostics)
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

// keptRecordModel is the state of a record that holds the same evidence as
// the ledger's record a (sameEvidence): its arguments as configured, which
// may spell names otherwise, and what the ledger computed.
func keptRecordModel(m approvalRecordModel, a ledger.Approval) approvalRecordModel {
	m.ID = types.StringValue(a.ID)
	m.ApprovedAt = timeOrNull(a.ApprovedAt)
	m.Statement = types.StringValue(a.Statement)
	m.Digest = types.StringValue(a.Digest)
	return m
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
	// A record withdrawn outside this configuration stays in state, as the
	// ledger keeps it: it is never recorded again, and the plan warns that it
	// authorises nothing (ModifyPlan).
	if err != nil {
		addReadError(&resp.Diagnostics, summaryReadApproval, "approval "+state.ID.ValueString(), err)
		return
	}
	next := approvalRecordModelFromLedger(rec)
	if sigs, known := stringMap(state.Signatures); known && sameEvidence(state.Digest.ValueString(), sigs, rec) {
		// The same evidence, as the configuration spells it (an approver's
		// name in other case, an empty map of signatures rather than none).
		next = keptRecordModel(state, rec)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &next)...)
}

// Update is never called with a change: every argument forces replacement.
func (r *approvalRecordResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan approvalRecordModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// Delete withdraws the approval. The record stays in the ledger. A record
// that an identical record replaces (planExisting) is not withdrawn: its
// replacement, created next in this apply, takes it over.
func (r *approvalRecordResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state approvalRecordModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if id := state.ID.ValueString(); identicalReplacement(ctx, req.Private, id) {
		r.data.approvals.keep(id)
		tflog.Info(ctx, "approval kept for its identical replacement", map[string]any{"approval_id": id})
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

// approvalRun is what one provider instance knows of approval records beyond
// the ledger. planned holds the records it planned, by id: Terraform plans a
// record before the grants that refer to its id, so a grant under a record
// that is not in the ledger yet is judged at plan time against the record as
// planned; the apply judges it again against the record as recorded. kept
// holds the ids of records this instance destroyed without withdrawing them,
// because an identical record replaces them in the same apply.
type approvalRun struct {
	planned sync.Map // id -> policy.Approval
	kept    sync.Map // id -> true
}

func (p *approvalRun) plan(a policy.Approval) { p.planned.Store(a.ID, a) }

func (p *approvalRun) get(id string) (policy.Approval, bool) {
	v, ok := p.planned.Load(id)
	if !ok {
		return policy.Approval{}, false
	}
	a, ok := v.(policy.Approval)
	return a, ok
}

func (p *approvalRun) keep(id string) { p.kept.Store(id, true) }

func (p *approvalRun) isKept(id string) bool {
	_, ok := p.kept.Load(id)
	return ok
}

// plannedApproval is the policy's view of an approval record as planned: as
// if recorded at now, unused, with the signatures its plan verified.
func plannedApproval(a ledger.Approval, dec policy.ApprovalDecision, now time.Time) policy.Approval {
	a.ID = approvalID(policy.Digest(dec.Statement))
	a.Statement = dec.Statement
	a.ApprovedAt = now
	a.Status = ledger.ApprovalActive
	pa := policyApprovalFromLedger(a)
	pa.Signers = dec.Signers
	return pa
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
