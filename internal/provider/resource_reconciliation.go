package provider

import (
	"context"
	"encoding/json"
	"sort"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/lifecycle"
)

var (
	_ resource.Resource               = (*reconciliationResource)(nil)
	_ resource.ResourceWithConfigure  = (*reconciliationResource)(nil)
	_ resource.ResourceWithModifyPlan = (*reconciliationResource)(nil)
)

// NewReconciliationResource returns the governed_reconciliation resource.
func NewReconciliationResource() resource.Resource {
	return &reconciliationResource{}
}

// reconciliationResource revokes, from a scheduled apply, the grants whose
// access the ledger says must go although no governed_grant resource settles
// them: past their expiry, under a withdrawn approval, or with a revocation
// pending.
//
// What it revokes must be known at plan and the same at apply, where
// Terraform plans every change again with a later clock. So the ledger is read
// when Terraform refreshes the resource: the grants found are kept in its
// private state, which is part of the state that the plan records and the
// apply starts from. The plan lists them in revokes, and the apply settles
// exactly those.
type reconciliationResource struct {
	data *providerData
}

type reconciliationModel struct {
	ID           types.String `tfsdk:"id"`
	Revokes      types.Map    `tfsdk:"revokes"`
	ReconciledAt types.String `tfsdk:"reconciled_at"`
}

// privateFound is the private state key of what a refresh found.
const privateFound = "found"

// found is what a refresh found due: the grants this provider can revoke,
// and those in targets it is not configured with.
type found struct {
	Revokes   []dueGrant `json:"revokes,omitempty"`
	Elsewhere []dueGrant `json:"elsewhere,omitempty"`
}

// dueGrant is a due grant as the plan names it.
type dueGrant struct {
	ID          string `json:"id"`
	Why         string `json:"why"`
	Principal   string `json:"principal"`
	Entitlement string `json:"entitlement"`
	TicketID    string `json:"ticket_id"`
	Target      string `json:"target"`
	ExpiresAt   string `json:"expires_at"`
	Status      string `json:"status"`
	ApprovalID  string `json:"approval_id,omitempty"`
}

func dueGrantFromLifecycle(d lifecycle.Due) dueGrant {
	g := d.Grant
	return dueGrant{ID: g.ID, Why: d.Why(), Principal: g.Principal, Entitlement: g.Entitlement, TicketID: g.TicketID,
		Target: g.Target, ExpiresAt: g.ExpiresAt, Status: g.Status, ApprovalID: g.ApprovalID}
}

// due is d as the lifecycle settles it; the lifecycle reads the grant again.
func (d dueGrant) due() lifecycle.Due {
	return lifecycle.Due{Grant: ledger.Grant{ID: d.ID}, Ending: lifecycle.EndingOf(d.Why)}
}

func (r *reconciliationResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_reconciliation"
}

func (r *reconciliationResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Revokes, in a scheduled apply, every grant whose access the ledger says must go although no " +
			"`governed_grant` resource settles it any more: a grant past its expiry whose block was replaced by a " +
			"`removed` block, whose state was removed with `terraform state rm`, or whose workspace was deleted; a grant " +
			"under an approval record that was withdrawn; a revocation its target has not carried out yet. It takes no " +
			"arguments; declare it in the configuration that a scheduled apply runs, with the provider configured with " +
			"every target. It reads every grant of the ledger, whichever configuration or workspace issued it, so one " +
			"per ledger is enough.\n\n" +
			"The ledger is read when Terraform refreshes the resource, as every plan does unless `-refresh=false` is " +
			"given. The plan lists the grants found in `revokes` and warns about each one; the apply revokes exactly " +
			"those, in the targets this provider is configured with, and records each revocation in the ledger. " +
			"Grants in other targets are named in a warning and left alone. A plan that finds nothing shows no change.\n\n" +
			"The grants are found from the ledger's events (each grant's and approval's last event), never from its " +
			"current-state tables, which the pipeline's own database role can write: a row edited to say revoked or to " +
			"move an expiry, or deleted, does not hide a grant from it. Reading every grant's last event takes time in " +
			"proportion to the grants the ledger ever recorded (2 to 3 seconds for a million events on SQLite or PostgreSQL; see the performance guide), once per plan " +
			"(and again in the apply that creates the resource); keep this resource in the configuration of the " +
			"scheduled job rather than in every workspace.\n\n" +
			"A grant that a `governed_grant` resource of this configuration manages is that resource's to settle, and " +
			"the plan shows its expiry there. Where this resource depends on those grant resources (`depends_on`), it " +
			"is planned after them and leaves their grants out of `revokes`; otherwise it may list them too, and the " +
			"apply records each such revocation once, whichever resource comes first.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "The id of the ledger this reconciliation reads.",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"revokes": schema.MapAttribute{
				MarkdownDescription: "The grants this apply revokes, by id, each with why: `" + ledger.ReasonExpired + "` (past its " +
					"expiry and still recorded as active or pending), `" + ledger.ReasonApprovalWithdrawn + "` (its approval " +
					"record was withdrawn) or `" + lifecycle.PendingRevocation + "` (its target has not removed the access " +
					"yet). Known at plan time, except in the apply that creates the resource, which revokes what is due " +
					"then. Between reconciliations it keeps what the last one revoked.",
				ElementType: types.StringType,
				Computed:    true,
			},
			"reconciled_at": schema.StringAttribute{
				MarkdownDescription: "When the last apply that had anything to revoke ran (RFC 3339, UTC).",
				Computed:            true,
			},
		},
	}
}

func (r *reconciliationResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	if d, ok := configured(req.ProviderData, &resp.Diagnostics); ok {
		r.data = d
	}
}

// find lists what is due now in the ledger, leaving out the grants that
// governed_grant resources of this provider instance have in state.
//
// It lists from the events (DueFromEvents), not from the current-state rows
// that Due's indexed queries read: the pipeline's own database role, or the
// SQLite file's owner, can edit a row's status, expiry or revoke_pending, or
// delete the row, and so hide a due grant from the rows until a full
// verification reads them all, and a plan that verifies from a checkpoint
// never reads the rows that nothing since touched. No cheaper reading is as
// safe: the rows are the only index of which grants are still in force,
// and without a trusted summary of them every grant's last event must be
// read. That costs time in proportion to the grants the ledger ever
// recorded (BenchmarkDueListing), paid by the refresh of every plan of a
// configuration that declares this resource (an apply of a saved plan does
// not list again, except to create the resource).
func (r *reconciliationResource) find(ctx context.Context, diags *diag.Diagnostics) (found, bool) {
	due, err := r.data.run.DueFromEvents(ctx)
	if err != nil {
		addReadError(diags, summaryListGrants, "the grants due for revocation", err)
		return found{}, false
	}
	var f found
	for _, d := range due {
		if _, managed := r.data.managed.Load(d.Grant.ID); managed {
			continue
		}
		if _, err := r.data.targets.Lookup(d.Grant.Target); err != nil {
			f.Elsewhere = append(f.Elsewhere, dueGrantFromLifecycle(d))
			continue
		}
		f.Revokes = append(f.Revokes, dueGrantFromLifecycle(d))
	}
	return f, true
}

// Read is the refresh of every plan: it reads the ledger for what is due
// and keeps it in private state for the plan, and for the apply of that plan.
func (r *reconciliationResource) Read(ctx context.Context, _ resource.ReadRequest, resp *resource.ReadResponse) {
	if r.data == nil {
		return
	}
	f, ok := r.find(ctx, &resp.Diagnostics)
	if !ok {
		return
	}
	var value []byte
	if len(f.Revokes)+len(f.Elsewhere) > 0 {
		b, err := json.Marshal(f)
		if err != nil {
			resp.Diagnostics.AddError(summaryListGrants, "Encoding the grants due for revocation failed: "+err.Error()+".")
			return
		}
		value = b
	}
	resp.Diagnostics.Append(resp.Private.SetKey(ctx, privateFound, value)...)
}

// ModifyPlan lists, in revokes, what the refresh found, with a warning for
// each grant. A new resource revokes what is due when it is created.
func (r *reconciliationResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if r.data == nil || req.Plan.Raw.IsNull() {
		return // not configured yet (validate), or a destroy, which changes nothing in the ledger
	}
	if req.State.Raw.IsNull() {
		f, ok := r.find(ctx, &resp.Diagnostics)
		if !ok {
			return
		}
		warnFound(&resp.Diagnostics, f)
		plan := reconciliationModel{
			ID:           types.StringValue(r.data.ledgerID),
			Revokes:      types.MapUnknown(types.StringType),
			ReconciledAt: types.StringUnknown(),
		}
		resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
		return
	}
	var state reconciliationModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	raw, diags := req.Private.GetKey(ctx, privateFound)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	var f found
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &f); err != nil {
			resp.Diagnostics.AddError(summaryListGrants, "Decoding the grants due for revocation that the refresh found failed: "+
				err.Error()+". Plan again.")
			return
		}
	}
	warnFound(&resp.Diagnostics, f)
	if len(f.Revokes) == 0 {
		return // nothing to revoke: no change
	}
	plan := state
	plan.Revokes = revokesMap(f.Revokes)
	plan.ReconciledAt = types.StringUnknown()
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
	// The apply of this plan settles them; a later plan without a refresh
	// finds nothing to settle again.
	resp.Diagnostics.Append(resp.Private.SetKey(ctx, privateFound, nil)...)
}

func warnFound(diags *diag.Diagnostics, f found) {
	for _, d := range f.Revokes {
		addReconcilesWarning(diags, d)
	}
	addDueElsewhereWarning(diags, f.Elsewhere)
}

func revokesMap(due []dueGrant) types.Map {
	elems := make(map[string]attr.Value, len(due))
	for _, d := range due {
		elems[d.ID] = types.StringValue(d.Why)
	}
	return types.MapValueMust(types.StringType, elems)
}

// Create revokes what is due when the resource is created.
func (r *reconciliationResource) Create(ctx context.Context, _ resource.CreateRequest, resp *resource.CreateResponse) {
	f, ok := r.find(ctx, &resp.Diagnostics)
	if !ok {
		return
	}
	due := make([]lifecycle.Due, len(f.Revokes))
	for i, d := range f.Revokes {
		due[i] = d.due()
	}
	r.settle(ctx, due, &resp.Diagnostics)
	addDueElsewhereWarning(&resp.Diagnostics, f.Elsewhere)
	state := reconciliationModel{
		ID:           types.StringValue(r.data.ledgerID),
		Revokes:      revokesMap(f.Revokes),
		ReconciledAt: types.StringValue(formatTime(r.data.now)),
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// Update revokes exactly the grants the plan listed.
func (r *reconciliationResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan reconciliationModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	revokes, _ := stringMap(plan.Revokes)
	due := make([]lifecycle.Due, 0, len(revokes))
	for id, why := range revokes {
		due = append(due, dueGrant{ID: id, Why: why}.due())
	}
	sort.Slice(due, func(i, j int) bool { return due[i].Grant.ID < due[j].Grant.ID })
	r.settle(ctx, due, &resp.Diagnostics)
	plan.ReconciledAt = types.StringValue(formatTime(r.data.now))
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	resp.Diagnostics.Append(resp.Private.SetKey(ctx, privateFound, nil)...)
}

// settle reconciles each grant, and says what did not go as planned.
func (r *reconciliationResource) settle(ctx context.Context, due []lifecycle.Due, diags *diag.Diagnostics) {
	results, errs := r.data.run.ReconcileAll(ctx, due)
	for i, res := range results {
		switch {
		case errs[i] != nil:
			addLifecycleError(diags, summaryReconcile, errs[i], "The next plan finds the grant again and this resource retries.")
		case res.Grant.RevokePending:
			addRevocationPendingWarning(diags, res.Grant, "The next plan finds it again and this resource retries.")
		case res.Appended:
			tflog.Info(ctx, "grant reconciled", map[string]any{"grant_id": res.Grant.ID, "ticket": res.Grant.TicketID,
				"status": res.Grant.Status, "reason": res.Grant.RevocationReason})
		}
	}
}

// Delete forgets the resource; the ledger keeps what it recorded.
func (r *reconciliationResource) Delete(context.Context, resource.DeleteRequest, *resource.DeleteResponse) {
}
