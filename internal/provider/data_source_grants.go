package provider

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
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
// it returns, not the ledger's history.
func (d *grantsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m grantsDataSourceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	filter := ledger.GrantFilter{Entitlement: m.Entitlement.ValueString(), Identity: m.Principal.ValueString()}
	if !m.Status.IsNull() {
		filter.StatusAt, filter.At = m.Status.ValueString(), d.data.now
	}
	if !m.ExpiringBefore.IsNull() {
		t, err := policy.ParseTimestamp(m.ExpiringBefore.ValueString())
		if err != nil {
			resp.Diagnostics.AddError("Invalid expiring_before", err.Error())
			return
		}
		filter.ExpiringBefore = t
	}
	objectType, ok := resp.State.Schema.Type().TerraformType(ctx).(tftypes.Object)
	listType, ok2 := objectType.AttributeTypes["grants"].(tftypes.List)
	itemType, ok3 := listType.ElementType.(tftypes.Object)
	if !ok || !ok2 || !ok3 {
		resp.Diagnostics.AddError(summaryListGrants, "The data source's schema has no list of grant objects; this is a bug in the provider.")
		return
	}
	items := []tftypes.Value{}
	// A principal that is blank after trimming names no one.
	if m.Principal.IsNull() || policy.NormalizeIdentity(filter.Identity) != "" {
		err := d.data.ledger.EachGrant(ctx, filter, func(g ledger.Grant) error {
			items = append(items, grantItemValue(itemType, g, g.StatusAt(d.data.now)))
			return nil
		})
		if err != nil {
			addReadError(&resp.Diagnostics, summaryListGrants, "the grants", err)
			return
		}
	}
	var attrs map[string]tftypes.Value
	if err := req.Config.Raw.As(&attrs); err != nil {
		resp.Diagnostics.AddError(summaryListGrants, "Reading the configuration: "+err.Error())
		return
	}
	attrs["grants"] = tftypes.NewValue(listType, items)
	resp.State.Raw = tftypes.NewValue(objectType, attrs)
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
