package provider

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

var (
	_ datasource.DataSource              = (*grantsDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*grantsDataSource)(nil)
)

// NewGrantsDataSource returns the governed_grants data source.
func NewGrantsDataSource() datasource.DataSource {
	return &grantsDataSource{}
}

type grantsDataSource struct {
	data *providerData
}

// grantsDataSourceModel is the data source's configuration. The grants are
// built as Terraform values directly (grantItemValue), not through the model.
type grantsDataSourceModel struct {
	Principal      types.String `tfsdk:"principal"`
	Entitlement    types.String `tfsdk:"entitlement"`
	Status         types.String `tfsdk:"status"`
	ExpiringBefore types.String `tfsdk:"expiring_before"`
	Grants         types.List   `tfsdk:"grants"`
}

// grantsTypeName is the data source's type name.
const grantsTypeName = "governed_grants"

func (d *grantsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_grants"
}

func (d *grantsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	computed := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{MarkdownDescription: desc, Computed: true}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Lists grants from the ledger, the system of record, optionally filtered. A grant whose expiry " +
			"has passed is listed as `expired` even before the apply that revokes it.",
		Attributes: map[string]schema.Attribute{
			"principal": schema.StringAttribute{
				MarkdownDescription: "Only grants to this principal (compared after normalisation).",
				Optional:            true,
			},
			"entitlement": schema.StringAttribute{
				MarkdownDescription: "Only grants of this entitlement.",
				Optional:            true,
			},
			"status": schema.StringAttribute{
				MarkdownDescription: "Only grants with this status: one of " + ledgerStatusList + ". A grant is `pending` while its " +
					"target has not confirmed it, or after an apply stopped between the target and the ledger.",
				Optional:   true,
				Validators: []validator.String{stringvalidator.OneOf(ledgerStatuses...)},
			},
			"expiring_before": schema.StringAttribute{
				MarkdownDescription: "Only active grants that expire before this RFC 3339 timestamp.",
				Optional:            true,
				Validators:          []validator.String{timestampValidator{}},
			},
			"grants": schema.ListNestedAttribute{
				MarkdownDescription: "The matching grants, ordered by id.",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"id":          computed("The grant's id."),
						"principal":   computed("Who holds the access."),
						"entitlement": computed("The entitlement granted."),
						"ticket_id":   computed("The ticket that carried the request."),
						"approvers": schema.SetAttribute{
							MarkdownDescription: "Who approved the grant.",
							ElementType:         types.StringType,
							Computed:            true,
						},
						"break_glass": schema.BoolAttribute{
							MarkdownDescription: "Whether the grant was made under break-glass rules.",
							Computed:            true,
						},
						"status": computed("One of " + ledgerStatusList + "."),
						"active": schema.BoolAttribute{
							MarkdownDescription: "Whether the grant is in force now.",
							Computed:            true,
						},
						"granted_at":        computed("When the grant was issued."),
						"expires_at":        computed("When the grant expires."),
						"revoked_at":        computed("When the grant was revoked, if it was."),
						"revocation_reason": computed("Why the grant was revoked, if it was: " + ledgerReasonsList + "."),
						"revocation_pending": schema.BoolAttribute{
							MarkdownDescription: "Whether the grant is no longer active but its target has not removed the access yet.",
							Computed:            true,
						},
					},
				},
			},
		},
	}
}

func (d *grantsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	if pd, ok := configured(req.ProviderData, &resp.Diagnostics); ok {
		d.data = pd
	}
}

// Read lists the matching grants. Every filter is the store's to apply, in SQL
// through an index (ledger.GrantFilter), and the grants are read one by one
// into Terraform values, so that a filtered read over a long ledger costs what
// it returns, not the ledger's history. The provider's server answers most
// reads itself, with the same values, without the framework's walk of the
// result (readGrantsDirect); this is the framework's way, for the rest.
func (d *grantsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m grantsDataSourceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	c := grantsConfig{principal: m.Principal.ValueStringPointer(), entitlement: m.Entitlement.ValueStringPointer(),
		status: m.Status.ValueStringPointer(), expiringBefore: m.ExpiringBefore.ValueStringPointer()}
	objectType, ok := resp.State.Schema.Type().TerraformType(ctx).(tftypes.Object)
	if !ok {
		resp.Diagnostics.AddError(summaryListGrants, "The data source's schema is not an object; this is a bug in the provider.")
		return
	}
	state, diags := listGrants(ctx, d.data, c, objectType, req.Config.Raw)
	resp.Diagnostics.Append(diags...)
	if !diags.HasError() {
		resp.State.Raw = state
	}
}

// grantsConfig is the data source's filters, each nil when not set.
type grantsConfig struct {
	principal, entitlement, status, expiringBefore *string
}

// listGrants returns the data source's state for configuration config (of
// type objectType) with filters c: the configuration with its grants.
func listGrants(ctx context.Context, data *providerData, c grantsConfig, objectType tftypes.Object, config tftypes.Value) (tftypes.Value, diag.Diagnostics) {
	var diags diag.Diagnostics
	var filter ledger.GrantFilter
	if c.entitlement != nil {
		filter.Entitlement = *c.entitlement
	}
	if c.principal != nil {
		filter.Identity = *c.principal
	}
	if c.status != nil {
		filter.StatusAt, filter.At = *c.status, data.now
	}
	if c.expiringBefore != nil {
		t, err := policy.ParseTimestamp(*c.expiringBefore)
		if err != nil {
			diags.AddError("Invalid expiring_before", err.Error())
			return tftypes.Value{}, diags
		}
		filter.ExpiringBefore = t
	}
	listType, ok := objectType.AttributeTypes["grants"].(tftypes.List)
	itemType, ok2 := listType.ElementType.(tftypes.Object)
	if !ok || !ok2 {
		diags.AddError(summaryListGrants, "The data source's schema has no list of grant objects; this is a bug in the provider.")
		return tftypes.Value{}, diags
	}
	items := []tftypes.Value{}
	// A principal that is blank after trimming names no one.
	if c.principal == nil || policy.NormalizeIdentity(filter.Identity) != "" {
		err := data.ledger.EachGrant(ctx, filter, func(g ledger.Grant) error {
			items = append(items, grantItemValue(itemType, g, g.StatusAt(data.now)))
			return nil
		})
		if err != nil {
			addReadError(&diags, summaryListGrants, "the grants", err)
			return tftypes.Value{}, diags
		}
	}
	var attrs map[string]tftypes.Value
	if err := config.As(&attrs); err != nil {
		diags.AddError(summaryListGrants, "Reading the configuration: "+err.Error())
		return tftypes.Value{}, diags
	}
	attrs["grants"] = tftypes.NewValue(listType, items)
	return tftypes.NewValue(objectType, attrs), diags
}

// grantsObjectType is the Terraform type of governed_grants' schema.
var grantsObjectType = sync.OnceValue(func() tftypes.Object {
	var resp datasource.SchemaResponse
	NewGrantsDataSource().Schema(context.Background(), datasource.SchemaRequest{}, &resp)
	t, _ := resp.Schema.Type().TerraformType(context.Background()).(tftypes.Object)
	return t
})

// readGrantsDirect answers a ReadDataSource request for governed_grants
// without the framework: it decodes the configuration, lists the grants
// (listGrants, as Read does) and encodes the state. The framework would walk
// every value of the result again (semantic equality, null blocks) and
// convert it, which costs more than the listing for a long list and has no
// effect on this schema, which has no blocks and no custom types. It answers
// only when the result is a plain success with every filter known; for
// anything else (diagnostics, unknown values, an unconfigured provider) it
// reports false, and the framework answers, with its own diagnostics.
// TestGrantsDirectReadIsTheFrameworkRead holds the two answers byte for byte.
func readGrantsDirect(ctx context.Context, data *providerData, req *tfprotov6.ReadDataSourceRequest) (*tfprotov6.ReadDataSourceResponse, bool) {
	objectType := grantsObjectType()
	if data == nil || req.Config == nil || objectType.AttributeTypes == nil {
		return nil, false
	}
	config, err := req.Config.Unmarshal(objectType)
	if err != nil || !config.IsFullyKnown() || config.IsNull() {
		return nil, false
	}
	var attrs map[string]tftypes.Value
	if err := config.As(&attrs); err != nil {
		return nil, false
	}
	var c grantsConfig
	for name, dest := range map[string]**string{"principal": &c.principal, "entitlement": &c.entitlement,
		"status": &c.status, "expiring_before": &c.expiringBefore} {
		v, ok := attrs[name]
		if !ok {
			return nil, false
		}
		if v.IsNull() {
			continue
		}
		var str string
		if err := v.As(&str); err != nil {
			return nil, false
		}
		*dest = &str
	}
	state, diags := listGrants(ctx, data, c, objectType, config)
	if len(diags) > 0 {
		return nil, false
	}
	dv, err := tfprotov6.NewDynamicValue(objectType, state)
	if err != nil {
		return nil, false
	}
	return &tfprotov6.ReadDataSourceResponse{State: &dv}, true
}

// grantItemValue is one element of the grants list, of type t, for g with
// its status as of now: the value the framework would build from the
// element's attributes, made without reflection.
func grantItemValue(t tftypes.Object, g ledger.Grant, status string) tftypes.Value {
	str := func(s string) tftypes.Value { return tftypes.NewValue(tftypes.String, s) }
	strOrNull := func(s string) tftypes.Value {
		if s == "" {
			return tftypes.NewValue(tftypes.String, nil)
		}
		return str(s)
	}
	timeOrNull := func(at time.Time) tftypes.Value {
		if at.IsZero() {
			return tftypes.NewValue(tftypes.String, nil)
		}
		return str(formatTime(at))
	}
	approvers := make([]tftypes.Value, len(g.Approvers))
	for i, a := range g.Approvers {
		approvers[i] = str(a)
	}
	return tftypes.NewValue(t, map[string]tftypes.Value{
		"id":                 str(g.ID),
		"principal":          str(g.Principal),
		"entitlement":        str(g.Entitlement),
		"ticket_id":          str(g.TicketID),
		"approvers":          tftypes.NewValue(t.AttributeTypes["approvers"], approvers),
		"break_glass":        tftypes.NewValue(tftypes.Bool, g.BreakGlass),
		"status":             str(status),
		"active":             tftypes.NewValue(tftypes.Bool, status == ledger.StatusActive),
		"granted_at":         timeOrNull(g.GrantedAt),
		"expires_at":         str(g.ExpiresAt),
		"revoked_at":         timeOrNull(g.RevokedAt),
		"revocation_reason":  strOrNull(g.RevocationReason),
		"revocation_pending": tftypes.NewValue(tftypes.Bool, g.RevokePending),
	})
}
