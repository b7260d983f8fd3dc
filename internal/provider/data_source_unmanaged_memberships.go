package provider

import (
	"context"
	"fmt"
	"sort"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/target"
)

var (
	_ datasource.DataSource              = (*unmanagedMembershipsDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*unmanagedMembershipsDataSource)(nil)
)

// NewUnmanagedMembershipsDataSource returns the governed_unmanaged_memberships data source.
func NewUnmanagedMembershipsDataSource() datasource.DataSource {
	return &unmanagedMembershipsDataSource{}
}

type unmanagedMembershipsDataSource struct {
	data *providerData
}

type unmanagedMembershipsModel struct {
	Target      types.String      `tfsdk:"target"`
	Memberships []membershipModel `tfsdk:"memberships"`
}

type membershipModel struct {
	Target      types.String `tfsdk:"target"`
	Role        types.String `tfsdk:"role"`
	Principal   types.String `tfsdk:"principal"`
	AdminOption types.Bool   `tfsdk:"admin_option"`
}

func (d *unmanagedMembershipsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_unmanaged_memberships"
}

func (d *unmanagedMembershipsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Access that bypassed governance: members of governed PostgreSQL roles (the roles of the " +
			"policy's entitlements, in the provider's `postgres_targets`) that no grant in the ledger covers, and every " +
			"membership that carries the admin option (which no grant gives). A grant the ledger holds as active covers " +
			"its membership until its expiry is recorded, so a grant that expires in this run is not reported in the " +
			"plan that revokes it; a membership whose revocation is still pending after an apply shows here, until its " +
			"target removes it. The provider's own login role is left out, since it holds the roles in order to grant " +
			"them. The data source only reports: to fail a run when it lists anything, add a `postcondition` (see the " +
			"example); an `assert` in a `check` block only warns.",
		Attributes: map[string]schema.Attribute{
			"target": schema.StringAttribute{
				MarkdownDescription: "Only this target, such as `postgres.payments`. By default, every PostgreSQL target.",
				Optional:            true,
			},
			"memberships": schema.ListNestedAttribute{
				MarkdownDescription: "The uncovered memberships, sorted by target, role and principal.",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"target":       schema.StringAttribute{Computed: true, MarkdownDescription: "The target, such as `postgres.payments`."},
						"role":         schema.StringAttribute{Computed: true, MarkdownDescription: "The governed role."},
						"principal":    schema.StringAttribute{Computed: true, MarkdownDescription: "The role that holds it."},
						"admin_option": schema.BoolAttribute{Computed: true, MarkdownDescription: "Whether it was granted WITH ADMIN OPTION."},
					},
				},
			},
		},
	}
}

func (d *unmanagedMembershipsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	if data, ok := configured(req.ProviderData, &resp.Diagnostics); ok {
		d.data = data
	}
}

func (d *unmanagedMembershipsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var cfg unmanagedMembershipsModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	only := cfg.Target.ValueString()
	if only != "" {
		if _, err := d.data.targets.Lookup(only); err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("target"), "Unknown target", err.Error()+".")
			return
		}
	}
	// The governed roles of each target, from the policy.
	roles := map[string]map[string]bool{}
	for _, e := range d.data.policy.Entitlements {
		if only != "" && e.Target != only {
			continue
		}
		if roles[e.Target] == nil {
			roles[e.Target] = map[string]bool{}
		}
		roles[e.Target][e.Role] = true
	}
	// A grant the ledger holds as active covers its membership, even past
	// its expiry: the apply that records the expiry also removes the
	// membership, so a plan that reads this before that apply has done its
	// work must not call the membership ungoverned.
	active, err := d.data.ledger.Grants(ctx, ledger.GrantFilter{Status: ledger.StatusActive})
	if err != nil {
		addReadError(&resp.Diagnostics, summaryListMemberships, "the active grants", err)
		return
	}
	covered := map[target.Membership]bool{}
	for _, g := range active {
		covered[target.Membership{Target: g.Target, Role: g.Role, Principal: g.Principal}] = true
	}
	cfg.Memberships = []membershipModel{}
	for name, governed := range roles {
		t, err := d.data.targets.Lookup(name)
		if err != nil {
			continue // an entitlement whose target is not configured here grants nothing here
		}
		lister, ok := t.(target.Lister)
		if !ok {
			continue
		}
		for role := range governed {
			members, err := lister.Members(ctx, role)
			if err != nil {
				resp.Diagnostics.AddError(summaryListMemberships, fmt.Sprintf("Reading the members of %s in %s failed: %s.", role, name, err))
				return
			}
			for _, m := range members {
				// A grant never gives the admin option, so a membership that
				// carries it is not covered, whatever grant exists.
				if !m.AdminOption && covered[target.Membership{Target: m.Target, Role: m.Role, Principal: m.Principal}] {
					continue
				}
				cfg.Memberships = append(cfg.Memberships, membershipModel{
					Target: types.StringValue(m.Target), Role: types.StringValue(m.Role),
					Principal: types.StringValue(m.Principal), AdminOption: types.BoolValue(m.AdminOption),
				})
			}
		}
	}
	sort.Slice(cfg.Memberships, func(i, j int) bool {
		a, b := cfg.Memberships[i], cfg.Memberships[j]
		if a.Target != b.Target {
			return a.Target.ValueString() < b.Target.ValueString()
		}
		if a.Role != b.Role {
			return a.Role.ValueString() < b.Role.ValueString()
		}
		return a.Principal.ValueString() < b.Principal.ValueString()
	})
	resp.Diagnostics.Append(resp.State.Set(ctx, &cfg)...)
}
