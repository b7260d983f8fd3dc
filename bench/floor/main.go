// Command floor is a provider that does nothing, for scripts/bench.sh: the cost
// of serving governed_grant through the plugin framework without any of the
// governed provider's own work.
//
// It is served like the released binary (same wrapper, same address, same log
// handling) and takes its provider and governed_grant schemas from the real
// provider, so Terraform sees the same provider type, the same attributes, and
// runs the same validators, defaults and schema plan modifiers. What it leaves
// out is everything governed does itself: no policy, no ledger, no target.
// Create and Update copy the plan to state and fill the computed attributes
// with fixed values; Read and Delete do nothing. The same configuration text
// works against both binaries; the provider block's arguments are accepted and
// ignored.
//
// Build it into a dev_overrides directory under the provider's name:
//
//	go build -o DIR/terraform-provider-governed ./bench/floor
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	governed "github.com/governed-entitlements/terraform-provider-governed/internal/provider"
)

// Fixed values for the computed attributes.
const (
	fixedGrantedAt = "2026-01-01T00:00:00Z"
	fixedExpiresAt = "2026-01-01T08:00:00Z"
)

func main() {
	var debug bool
	flag.BoolVar(&debug, "debug", false, "run the provider with support for debuggers such as delve")
	flag.Parse()

	if err := governed.Serve(governed.Address, newProvider, debug); err != nil {
		log.Fatal(err)
	}
}

// --- provider ---------------------------------------------------------------

var _ provider.Provider = (*floorProvider)(nil)

type floorProvider struct{}

func newProvider() provider.Provider { return &floorProvider{} }

func (p *floorProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "governed"
	resp.Version = "floor"
}

// Schema is the real provider's schema. The real provider's ConfigValidators
// are not carried over: the floor has no use for its arguments.
func (p *floorProvider) Schema(ctx context.Context, req provider.SchemaRequest, resp *provider.SchemaResponse) {
	governed.New("floor")().Schema(ctx, req, resp)
}

// Configure ignores the provider block.
func (p *floorProvider) Configure(context.Context, provider.ConfigureRequest, *provider.ConfigureResponse) {
}

func (p *floorProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{func() resource.Resource { return &floorGrant{} }}
}

func (p *floorProvider) DataSources(context.Context) []func() datasource.DataSource {
	return nil
}

// --- governed_grant -----------------------------------------------------------

var (
	_ resource.Resource               = (*floorGrant)(nil)
	_ resource.ResourceWithModifyPlan = (*floorGrant)(nil)
)

type floorGrant struct{}

// grantModel mirrors the real resource's model, which is unexported. Decoding
// the plan into it fails if the real schema gains or loses an attribute, so the
// floor cannot drift from the real schema unnoticed.
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

func (r *floorGrant) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_grant"
}

// Schema is the real governed_grant schema, validators and plan modifiers included.
func (r *floorGrant) Schema(ctx context.Context, req resource.SchemaRequest, resp *resource.SchemaResponse) {
	governed.NewGrantResource().Schema(ctx, req, resp)
}

// ModifyPlan makes status and active known when a grant is planned for
// creation, as the real resource does. Any other plan is left as proposed.
func (r *floorGrant) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || !req.State.Raw.IsNull() {
		return
	}
	var plan grantModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	plan.Status = types.StringValue("active")
	plan.Active = types.BoolValue(true)
	plan.Target, plan.Role = types.StringValue("ledger"), types.StringValue("bench_read")
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

func (r *floorGrant) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	planToState(ctx, req.Plan, &resp.State, &resp.Diagnostics)
}

// Read does nothing: the framework starts the response from the current state,
// so the state comes back unchanged.
func (r *floorGrant) Read(context.Context, resource.ReadRequest, *resource.ReadResponse) {}

func (r *floorGrant) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	planToState(ctx, req.Plan, &resp.State, &resp.Diagnostics)
}

// Delete does nothing; the framework removes the resource from state.
func (r *floorGrant) Delete(context.Context, resource.DeleteRequest, *resource.DeleteResponse) {}

// planToState decodes the plan, sets the computed attributes to fixed values,
// and writes the result as the state. Arguments keep their planned values;
// expires_at, requester and break_glass are filled in only where the plan
// leaves them open, and requester then becomes null.
func planToState(ctx context.Context, plan tfsdk.Plan, state *tfsdk.State, diags *diag.Diagnostics) {
	var m grantModel
	diags.Append(plan.Get(ctx, &m)...)
	if diags.HasError() {
		return
	}
	m.ID = types.StringValue("grant-" + m.Principal.ValueString())
	m.Status = types.StringValue("active")
	m.Active = types.BoolValue(true)
	m.GrantedAt = types.StringValue(fixedGrantedAt)
	if m.ExpiresAt.IsUnknown() || m.ExpiresAt.IsNull() {
		m.ExpiresAt = types.StringValue(fixedExpiresAt)
	}
	m.RevokedAt = types.StringNull()
	m.RevocationReason = types.StringNull()
	m.RevocationPending = types.BoolValue(false)
	m.Target, m.Role = types.StringValue("ledger"), types.StringValue("bench_read")
	if m.Requester.IsUnknown() {
		m.Requester = types.StringNull()
	}
	if m.BreakGlass.IsUnknown() || m.BreakGlass.IsNull() {
		m.BreakGlass = types.BoolValue(false)
	}
	diags.Append(state.Set(ctx, &m)...)
}
