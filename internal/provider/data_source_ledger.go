package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

var (
	_ datasource.DataSource              = (*ledgerDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*ledgerDataSource)(nil)
)

// NewLedgerDataSource returns the governed_ledger data source.
func NewLedgerDataSource() datasource.DataSource {
	return &ledgerDataSource{}
}

type ledgerDataSource struct {
	data *providerData
}

type ledgerDataSourceModel struct {
	Location    types.String `tfsdk:"location"`
	HeadSeq     types.Int64  `tfsdk:"head_seq"`
	HeadHash    types.String `tfsdk:"head_hash"`
	Events      types.Int64  `tfsdk:"events"`
	Verified    types.Bool   `tfsdk:"verified"`
	FirstBadSeq types.Int64  `tfsdk:"first_bad_seq"`
	Problem     types.String `tfsdk:"problem"`
}

func (d *ledgerDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_ledger"
}

func (d *ledgerDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "The ledger's head and whether its whole hash chain verifies. Reading it verifies every event.",
		Attributes: map[string]schema.Attribute{
			"location": schema.StringAttribute{
				MarkdownDescription: "Where the ledger lives, as the provider resolved it.",
				Computed:            true,
			},
			"head_seq": schema.Int64Attribute{
				MarkdownDescription: "The sequence number of the last event.",
				Computed:            true,
			},
			"head_hash": schema.StringAttribute{
				MarkdownDescription: "The SHA-256 hash of the last event, in hex. Recording it elsewhere lets an auditor detect a rewritten ledger.",
				Computed:            true,
			},
			"events": schema.Int64Attribute{
				MarkdownDescription: "How many events were verified.",
				Computed:            true,
			},
			"verified": schema.BoolAttribute{
				MarkdownDescription: "Whether the whole chain verifies.",
				Computed:            true,
			},
			"first_bad_seq": schema.Int64Attribute{
				MarkdownDescription: "The first sequence number that fails verification; null when the chain verifies.",
				Computed:            true,
			},
			"problem": schema.StringAttribute{
				MarkdownDescription: "What verification found wrong; null when the chain verifies.",
				Computed:            true,
			},
		},
	}
}

func (d *ledgerDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	if pd, ok := configured(req.ProviderData, &resp.Diagnostics); ok {
		d.data = pd
	}
}

func (d *ledgerDataSource) Read(ctx context.Context, _ datasource.ReadRequest, resp *datasource.ReadResponse) {
	report, err := d.data.ledger.Verify(ctx)
	if err != nil {
		addReadError(&resp.Diagnostics, summaryVerifyLedger, "the whole ledger", err)
		return
	}
	m := ledgerDataSourceModel{
		Location:    types.StringValue(d.data.location),
		HeadSeq:     types.Int64Value(report.Head.Seq),
		HeadHash:    types.StringValue(report.Head.Hash),
		Events:      types.Int64Value(report.Events),
		Verified:    types.BoolValue(report.OK),
		FirstBadSeq: types.Int64Null(),
		Problem:     types.StringNull(),
	}
	if !report.OK {
		m.FirstBadSeq = types.Int64Value(report.FirstBad)
		m.Problem = types.StringValue(report.Problem)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
