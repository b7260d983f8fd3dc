package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
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
	// The verification's starting point and the pipeline's checkpoint.
	VerifiedFrom       types.Int64  `tfsdk:"verified_from"`
	CheckpointSize     types.Int64  `tfsdk:"checkpoint_size"`
	CheckpointExtended types.Bool   `tfsdk:"checkpoint_extended"`
	CheckpointKey      types.String `tfsdk:"checkpoint_key"`
}

func (d *ledgerDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_ledger"
}

func (d *ledgerDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "The ledger's head and whether it verifies. It reuses the verification the provider made when " +
			"it was configured (the whole ledger, or, where the pipeline's checkpoint `GOVERNED_CHECKPOINT` verifies and the " +
			"ledger extends it, what was appended since the checkpoint), and verifies only the events appended since then. " +
			"`governed verify` always verifies the whole ledger.",
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
				MarkdownDescription: "How many events were verified: every event, or those after `verified_from`.",
				Computed:            true,
			},
			"verified": schema.BoolAttribute{
				MarkdownDescription: "Whether the ledger verifies: its hash chain, recorded head, current state and protections, " +
					"and the meaning of its events (every grant's and approval's life, and each decision within the policy it names).",
				Computed: true,
			},
			"first_bad_seq": schema.Int64Attribute{
				MarkdownDescription: "The first sequence number that fails verification; null when the chain verifies.",
				Computed:            true,
			},
			"problem": schema.StringAttribute{
				MarkdownDescription: "What verification found wrong; null when the chain verifies.",
				Computed:            true,
			},
			"verified_from": schema.Int64Attribute{
				MarkdownDescription: "The sequence number of the checkpoint's event after which the events were verified, " +
					"trusting the checkpoint for what came before; 0 when the whole ledger was verified.",
				Computed: true,
			},
			"checkpoint_size": schema.Int64Attribute{
				MarkdownDescription: "The size (head sequence number) of the pipeline's checkpoint; null without a checkpoint, " +
					"or when its signature does not verify.",
				Computed: true,
			},
			"checkpoint_extended": schema.BoolAttribute{
				MarkdownDescription: "Whether the ledger extends the pipeline's checkpoint (same ledger, at least as long, the " +
					"same event at the checkpoint's size); false when the checkpoint's signature does not verify; null without a checkpoint.",
				Computed: true,
			},
			"checkpoint_key": schema.StringAttribute{
				MarkdownDescription: "The name of the key the checkpoint is verified with (`GOVERNED_CHECKPOINT_KEY`); null without a checkpoint.",
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
	report, err := d.verification(ctx)
	if err != nil {
		addReadError(&resp.Diagnostics, summaryVerifyLedger, "the ledger", err)
		return
	}
	m := ledgerDataSourceModel{
		Location:           types.StringValue(d.data.location),
		HeadSeq:            types.Int64Value(report.Head.Seq),
		HeadHash:           types.StringValue(report.Head.Hash),
		Events:             types.Int64Value(report.Events),
		Verified:           types.BoolValue(report.OK),
		FirstBadSeq:        types.Int64Null(),
		Problem:            types.StringNull(),
		VerifiedFrom:       types.Int64Value(report.From),
		CheckpointSize:     types.Int64Null(),
		CheckpointExtended: types.BoolNull(),
		CheckpointKey:      types.StringNull(),
	}
	if !report.OK {
		m.FirstBadSeq = types.Int64Value(report.FirstBad)
		m.Problem = types.StringValue(report.Problem)
	}
	if d.data.checkpointAt != "" {
		m.CheckpointExtended = types.BoolValue(d.data.checkpoint != nil && d.data.anchor == "")
		m.CheckpointKey = types.StringValue(d.data.checkpointKey)
		if d.data.checkpoint != nil {
			m.CheckpointSize = types.Int64Value(d.data.checkpoint.Size)
		}
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// verification is the provider's verification of the ledger when it was
// configured, carried on to the ledger's head now: events appended since (by
// this run's own resources, or by others) are verified from the head that
// verification ended at, never the whole ledger again.
func (d *ledgerDataSource) verification(ctx context.Context) (ledger.Report, error) {
	base := d.data.verification
	if !base.OK {
		return base, nil
	}
	head, err := d.data.ledger.Head(ctx)
	if err != nil || head == base.Head {
		return base, err
	}
	since, err := d.data.ledger.VerifySince(ctx, base.Head)
	if err != nil {
		return ledger.Report{}, err
	}
	if since.From == base.Head.Seq && since.From > 0 {
		since.Events += base.Events
		since.From = base.From
	}
	return since, nil
}
