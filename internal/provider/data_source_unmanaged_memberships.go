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
	Target              types.String              `tfsdk:"target"`
	Memberships         []membershipModel         `tfsdk:"memberships"`
	ProviderMemberships []providerMembershipModel `tfsdk:"provider_memberships"`
}

type membershipModel struct {
	Target      types.String `tfsdk:"target"`
	Role        types.String `tfsdk:"role"`
	Principal   types.String `tfsdk:"principal"`
	Via         types.String `tfsdk:"via"`
	AdminOption types.Bool   `tfsdk:"admin_option"`
}

type providerMembershipModel struct {
	Target      types.String `tfsdk:"target"`
	Role        types.String `tfsdk:"role"`
	Principal   types.String `tfsdk:"principal"`
	Via         types.String `tfsdk:"via"`
	AdminOption types.Bool   `tfsdk:"admin_option"`
	Inherit     types.Bool   `tfsdk:"inherit"`
}

func (d *unmanagedMembershipsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_unmanaged_memberships"
}

func (d *unmanagedMembershipsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Access that bypassed governance: holders of governed PostgreSQL roles (the roles of the " +
			"policy's entitlements, in the provider's `postgres_targets`) that no grant in the ledger covers. " +
			"Holders are found by effective membership: a member of a role that holds a governed role holds it too, " +
			"and shows here with `via`, since no grant gives that. Every membership that carries the admin option " +
			"shows as well (no grant gives it). A grant covers a direct membership of its role and principal on the " +
			"server it was granted on, whatever the target is called in the workspace that granted it; a grant that " +
			"does not record its server (one issued before grants recorded it) counts for the target of the same " +
			"name. A grant the ledger holds as active covers its membership until its expiry is recorded, so a grant " +
			"that expires in this run is not reported in the plan that revokes it; a membership whose revocation is " +
			"still pending after an apply shows here, until its target removes it. The provider's own login role " +
			"holds the governed roles in order to grant them: its memberships are listed apart, in " +
			"`provider_memberships`. The data source only reports: to fail a run when it lists anything, add a " +
			"`postcondition` (see the example); an `assert` in a `check` block only warns.",
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
						"via":          schema.StringAttribute{Computed: true, MarkdownDescription: viaDescription},
						"admin_option": schema.BoolAttribute{Computed: true, MarkdownDescription: adminOptionDescription},
					},
				},
			},
			"provider_memberships": schema.ListNestedAttribute{
				MarkdownDescription: "The memberships of the provider's own login role in the governed roles, sorted by " +
					"target and role. It needs the admin option on each governed role to grant it, and should not use " +
					"the role's privileges: `inherit` shows when it does (see the guide \"Granting PostgreSQL roles\" " +
					"for `NOINHERIT`, or `INHERIT FALSE` in PostgreSQL 16 and later). A `check` block can assert that " +
					"none inherits.",
				Computed: true,
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"target":       schema.StringAttribute{Computed: true, MarkdownDescription: "The target, such as `postgres.payments`."},
						"role":         schema.StringAttribute{Computed: true, MarkdownDescription: "The governed role."},
						"principal":    schema.StringAttribute{Computed: true, MarkdownDescription: "The provider's login role."},
						"via":          schema.StringAttribute{Computed: true, MarkdownDescription: viaDescription},
						"admin_option": schema.BoolAttribute{Computed: true, MarkdownDescription: adminOptionDescription},
						"inherit": schema.BoolAttribute{Computed: true, MarkdownDescription: "Whether the provider's role uses " +
							"the governed role's privileges without `SET ROLE`."},
					},
				},
			},
		},
	}
}

const (
	viaDescription = "The role through which `principal` holds the governed role when it is not a direct member but " +
		"a member of a role that holds it (directly or not); empty for a direct member."
	adminOptionDescription = "Whether the membership carries the admin option (for one held through another role, " +
		"whether that role's does)."
)

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
	cfg.Memberships, cfg.ProviderMemberships = []membershipModel{}, []providerMembershipModel{}
	for name, governed := range roles {
		t, err := d.data.targets.Lookup(name)
		if err != nil {
			continue // an entitlement whose target is not configured here grants nothing here
		}
		lister, ok := t.(target.Lister)
		if !ok {
			continue
		}
		covers, err := coveringGrants(ctx, t, name, active)
		if err != nil {
			resp.Diagnostics.AddError(summaryListMemberships, fmt.Sprintf("Identifying the server of %s failed: %s.", name, err))
			return
		}
		for role := range governed {
			members, err := lister.Members(ctx, role)
			if err != nil {
				resp.Diagnostics.AddError(summaryListMemberships, fmt.Sprintf("Reading the members of %s in %s failed: %s.", role, name, err))
				return
			}
			for _, m := range members {
				if m.Provider {
					cfg.ProviderMemberships = append(cfg.ProviderMemberships, providerMembershipModel{
						Target: types.StringValue(m.Target), Role: types.StringValue(m.Role),
						Principal: types.StringValue(m.Principal), Via: types.StringValue(m.Via),
						AdminOption: types.BoolValue(m.AdminOption), Inherit: types.BoolValue(m.Inherit),
					})
					continue
				}
				// A grant gives a direct membership without the admin option;
				// anything else is not covered, whatever grant exists.
				if m.Via == "" && !m.AdminOption && covers[[2]string{m.Role, m.Principal}] {
					continue
				}
				cfg.Memberships = append(cfg.Memberships, membershipModel{
					Target: types.StringValue(m.Target), Role: types.StringValue(m.Role),
					Principal: types.StringValue(m.Principal), Via: types.StringValue(m.Via),
					AdminOption: types.BoolValue(m.AdminOption),
				})
			}
		}
	}
	sort.Slice(cfg.Memberships, func(i, j int) bool {
		a, b := cfg.Memberships[i], cfg.Memberships[j]
		return lessStrings([]types.String{a.Target, a.Role, a.Principal}, []types.String{b.Target, b.Role, b.Principal})
	})
	sort.Slice(cfg.ProviderMemberships, func(i, j int) bool {
		a, b := cfg.ProviderMemberships[i], cfg.ProviderMemberships[j]
		return lessStrings([]types.String{a.Target, a.Role, a.Principal}, []types.String{b.Target, b.Role, b.Principal})
	})
	resp.Diagnostics.Append(resp.State.Set(ctx, &cfg)...)
}

// coveringGrants returns the role and principal of every grant in active
// (recorded active in the ledger, even past its expiry: the run that records
// the expiry is the one that revokes it) on the server that t, configured
// here as name, reaches. A grant that does not record its server, issued before grants
// recorded it, counts for the target of the same name, where it most likely
// is: this only decides what is reported, never whether access is removed.
func coveringGrants(ctx context.Context, t target.Target, name string, active []ledger.Grant) (map[[2]string]bool, error) {
	server := ""
	if id, ok := t.(target.ServerIdentifier); ok {
		var err error
		if server, err = id.Server(ctx); err != nil {
			return nil, err
		}
	}
	covers := map[[2]string]bool{}
	for _, g := range active {
		here := g.Target == name && (server == "" || g.TargetServer == "") || server != "" && g.TargetServer == server
		if here && g.Status == ledger.StatusActive {
			covers[[2]string{g.Role, g.Principal}] = true
		}
	}
	return covers, nil
}

// lessStrings orders two equally long lists of strings by their first
// difference.
func lessStrings(a, b []types.String) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i].ValueString() < b[i].ValueString()
		}
	}
	return false
}
