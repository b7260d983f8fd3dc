package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

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

type grantsDataSourceModel struct {
	Principal      types.String     `tfsdk:"principal"`
	Entitlement    types.String     `tfsdk:"entitlement"`
	Status         types.String     `tfsdk:"status"`
	ExpiringBefore types.String     `tfsdk:"expiring_before"`
	Grants         []grantItemModel `tfsdk:"grants"`
}

type grantItemModel struct {
	ID                types.String `tfsdk:"id"`
	Principal         types.String `tfsdk:"principal"`
	Entitlement       types.String `tfsdk:"entitlement"`
	TicketID          types.String `tfsdk:"ticket_id"`
	Approvers         types.Set    `tfsdk:"approvers"`
	BreakGlass        types.Bool   `tfsdk:"break_glass"`
	Status            types.String `tfsdk:"status"`
	Active            types.Bool   `tfsdk:"active"`
	GrantedAt         types.String `tfsdk:"granted_at"`
	ExpiresAt         types.String `tfsdk:"expires_at"`
	RevokedAt         types.String `tfsdk:"revoked_at"`
	RevocationReason  types.String `tfsdk:"revocation_reason"`
	RevocationPending types.Bool   `tfsdk:"revocation_pending"`
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

func (d *grantsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m grantsDataSourceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	filter := ledger.GrantFilter{Entitlement: m.Entitlement.ValueString()}
	if !m.ExpiringBefore.IsNull() {
		t, err := policy.ParseTimestamp(m.ExpiringBefore.ValueString())
		if err != nil {
			resp.Diagnostics.AddError("Invalid expiring_before", err.Error())
			return
		}
		filter.ExpiringBefore = t
	}
	grants, err := d.data.ledger.Grants(ctx, filter)
	if err != nil {
		addReadError(&resp.Diagnostics, summaryListGrants, "the grants", err)
		return
	}
	principal := policy.NormalizeIdentity(m.Principal.ValueString())
	m.Grants = []grantItemModel{}
	for _, g := range grants {
		status := g.StatusAt(d.data.now)
		if !m.Principal.IsNull() && policy.NormalizeIdentity(g.Principal) != principal {
			continue
		}
		if !m.Status.IsNull() && m.Status.ValueString() != status {
			continue
		}
		m.Grants = append(m.Grants, grantItemFromLedger(g, status))
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func grantItemFromLedger(g ledger.Grant, status string) grantItemModel {
	return grantItemModel{
		ID:                types.StringValue(g.ID),
		Principal:         types.StringValue(g.Principal),
		Entitlement:       types.StringValue(g.Entitlement),
		TicketID:          types.StringValue(g.TicketID),
		Approvers:         stringSet(g.Approvers),
		BreakGlass:        types.BoolValue(g.BreakGlass),
		Status:            types.StringValue(status),
		Active:            types.BoolValue(status == ledger.StatusActive),
		GrantedAt:         timeOrNull(g.GrantedAt),
		ExpiresAt:         types.StringValue(g.ExpiresAt),
		RevokedAt:         timeOrNull(g.RevokedAt),
		RevocationReason:  stringOrNull(g.RevocationReason),
		RevocationPending: types.BoolValue(g.RevokePending),
	}
}
