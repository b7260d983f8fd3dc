// Package provider is the Terraform layer of the governed provider: schemas,
// plan and apply logic, and the mapping between Terraform values and the
// domain packages (policy, ledger, target), which know nothing of Terraform.
package provider

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/providervalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/governed-entitlements/terraform-provider-governed/internal/checkpoint"
	"github.com/governed-entitlements/terraform-provider-governed/internal/clock"
	"github.com/governed-entitlements/terraform-provider-governed/internal/evidence"
	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/lifecycle"
	"github.com/governed-entitlements/terraform-provider-governed/internal/pgurl"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
	"github.com/governed-entitlements/terraform-provider-governed/internal/target"
)

var (
	_ provider.Provider                     = (*governedProvider)(nil)
	_ provider.ProviderWithConfigValidators = (*governedProvider)(nil)
)

// Option changes how a provider instance is built. Options exist for tests;
// the released binary uses none.
type Option func(*governedProvider)

// WithFaultHook makes the provider call hook at named points of an apply
// (lifecycle.FaultAfterRequest, lifecycle.FaultAfterTargetGrant); an error
// from hook stops the apply there, as a crash would. Tests use it to prove
// that an interrupted apply is reconciled.
func WithFaultHook(hook func(point string) error) Option {
	return func(p *governedProvider) { p.fault = hook }
}

// WithClock makes the provider read "now" from c instead of the system clock.
func WithClock(c clock.Clock) Option {
	return func(p *governedProvider) { p.clock = c }
}

// New returns a factory for provider instances.
func New(version string, opts ...Option) func() provider.Provider {
	return func() provider.Provider {
		p := &governedProvider{version: version, clock: clock.System{}}
		for _, o := range opts {
			o(p)
		}
		return p
	}
}

type governedProvider struct {
	version string
	clock   clock.Clock
	fault   func(point string) error

	// The ledger is opened once per provider instance, on first configure, and
	// reused when Terraform configures the same instance again.
	mu       sync.Mutex
	ledger   *ledger.Ledger
	location string
	// PostgreSQL targets by name, kept for the instance like the ledger.
	postgres map[string]*postgresTarget
}

// postgresTarget is a configured PostgreSQL target and the settings it was built from.
type postgresTarget struct {
	settings postgresTargetModel
	target   *target.Postgres
}

type providerModel struct {
	Ledger     types.String `tfsdk:"ledger"`
	Requester  types.String `tfsdk:"requester"`
	PolicyFile types.String `tfsdk:"policy_file"`
	Policy     types.String `tfsdk:"policy"`
	Postgres   types.Map    `tfsdk:"postgres_targets"`
}

type postgresTargetModel struct {
	URL               types.String `tfsdk:"url"`
	TerminateSessions types.Bool   `tfsdk:"terminate_sessions_on_revoke"`
}

// providerData is what every resource and data source receives from Configure.
type providerData struct {
	policy  *policy.Policy
	ledger  *ledger.Ledger
	targets target.Registry
	// requester is the one resources default to: the provider block's, else
	// the pipeline's. requesters are all of them, for separation of duties.
	requester  string
	requesters []policy.Requester
	// revokeOnly is set on a run that may only remove access (EnvRevokeOnly).
	revokeOnly bool
	// now is the one instant at which this provider instance judges every grant.
	now time.Time
	// verification is the ledger's state when the provider was configured.
	verification ledger.Report
	// anchor says why the ledger cannot be trusted against the pipeline's
	// checkpoint (see pipeline.anchor); "" when it can, or when there is none.
	anchor string
	// checkpoint is the pipeline's checkpoint when its signature verified
	// (nil without one), read from the file checkpointAt; checkpointKey is
	// the name of the key it verified with.
	checkpoint    *checkpoint.Checkpoint
	checkpointAt  string
	checkpointKey string
	location      string
	// run carries grants through their lives on this instance's ledger and
	// targets, at now.
	run *lifecycle.Run
	// ledgerID is the ledger's id, which approval statements name.
	ledgerID string
	// policyKept guards policyKeptDone: whether this instance has kept its
	// policy document in the ledger (keepPolicy).
	policyKept     sync.Mutex
	policyKeptDone bool
	// approvals holds the approval records this instance planned, so that
	// grants planned after them are judged against them.
	approvals approvalRun
	// managed holds the ids of the grants that governed_grant resources of
	// this instance have in state: each of them settles its own grant, so a
	// reconciliation planned after them leaves those grants to them.
	managed sync.Map
}

func (p *governedProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "governed"
	resp.Version = p.version
}

func (p *governedProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "The governed provider turns grants of access for non-human identities into code that carries " +
			"a ticket, named approvers with authority over the entitlement, and an expiry. Every decision is recorded " +
			"in an append-only, hash-chained ledger. The pipeline that runs Terraform can pin the ledger and the policy " +
			"with environment variables that outrank the configuration (`" + ledger.EnvLocation + "`, `" + EnvPolicySHA256 +
			"`, `" + EnvSignersSHA256 + "`), name its requester (`" + EnvRequester + "`), and make a run that may only " +
			"remove access (`" + EnvRevokeOnly + "=1`); see the guide \"Pipeline settings\".",
		Attributes: map[string]schema.Attribute{
			"ledger": schema.StringAttribute{
				MarkdownDescription: "Where the ledger lives. A file path or `sqlite:PATH` uses the embedded SQLite ledger; a " +
					"`postgres://` URL uses a PostgreSQL ledger shared by a team and its pipelines (see the guide \"Team setup " +
					"with a PostgreSQL ledger\"). " +
					"Defaults to the `" + ledger.EnvLocation + "` environment variable, then to `" + ledger.DefaultLocation + "` in the working directory. " +
					"Where `" + ledger.EnvLocation + "` is set, the pipeline pins the ledger: a provider block (aliases included) " +
					"whose `ledger` names another location is refused. The same file written another way (relative or absolute, " +
					"with or without `sqlite:`), or the same URL with a password, is the same location.",
				Optional: true,
			},
			"requester": schema.StringAttribute{
				MarkdownDescription: "The identity proposing the change, such as a pull request's author. Resources default to it, " +
					"else to the `" + EnvRequester + "` environment variable. Every requester named anywhere counts for separation " +
					"of duties: this one, `" + EnvRequester + "` and each resource's `requester`; none of them may approve, and " +
					"setting this one never replaces the pipeline's. A blank value is refused.",
				Optional: true,
			},
			"policy_file": schema.StringAttribute{
				MarkdownDescription: "Path to the policy document (HCL, or its JSON form when the name ends in `.json`). " +
					"Exactly one of `policy_file` and `policy` must be set. Where `" + EnvPolicySHA256 + "` is set, a document " +
					"whose SHA-256 (`sha256sum FILE`) differs is refused; where the document has `approval_signatures`, its " +
					"key files are pinned by `" + EnvSignersSHA256 + "`.",
				Optional: true,
			},
			"policy": schema.StringAttribute{
				MarkdownDescription: "The policy document's text. Exactly one of `policy_file` and `policy` must be set. " +
					"Where `" + EnvPolicySHA256 + "` is set, a text whose SHA-256 differs is refused, as for `policy_file`.",
				Optional: true,
			},
			"postgres_targets": schema.MapNestedAttribute{
				MarkdownDescription: "PostgreSQL databases where grants are enforced, by name. An entitlement with " +
					"`target = \"postgres.NAME\"` and `role = \"ROLE\"` grants membership of `ROLE` in database `NAME` " +
					"(`GRANT ROLE TO principal`) and revokes it with `REVOKE`. See the guide \"Granting PostgreSQL roles\" " +
					"for the privileges the provider's database role needs.",
				Optional: true,
				Validators: []validator.Map{
					mapvalidator.KeysAre(stringvalidator.RegexMatches(policy.TargetNamePattern,
						"must be letters, digits, '_' or '-', starting with a letter, digit or '_'")),
				},
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"url": schema.StringAttribute{
							MarkdownDescription: "Connection URL, such as `postgres://governor@db.example.com:5432/payments`. " +
								"Pass the password the usual libpq ways (`PGPASSWORD`, a password file) rather than in the URL.",
							Required:  true,
							Sensitive: true,
							Validators: []validator.String{stringvalidator.RegexMatches(pgurl.Pattern,
								"must be a postgres:// or postgresql:// URL")},
						},
						"terminate_sessions_on_revoke": schema.BoolAttribute{
							MarkdownDescription: "End the principal's open sessions when a grant's membership is revoked. " +
								"`REVOKE` stops new use of the role, but a session that is already open keeps the access it " +
								"had, and one that switched to the role with `SET ROLE` goes on acting as the role. Ending the " +
								"sessions needs `pg_signal_backend` for the provider's role. Defaults to `true`; set `false` only " +
								"where the principal's sessions must survive, knowing that the access then outlives the grant " +
								"until they end.",
							Optional: true,
						},
					},
				},
			},
		},
	}
}

func (p *governedProvider) ConfigValidators(context.Context) []provider.ConfigValidator {
	return []provider.ConfigValidator{
		providervalidator.ExactlyOneOf(path.MatchRoot("policy_file"), path.MatchRoot("policy")),
	}
}

func (p *governedProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var cfg providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	for name, v := range map[string]types.String{"ledger": cfg.Ledger, "requester": cfg.Requester, "policy_file": cfg.PolicyFile, "policy": cfg.Policy} {
		if v.IsUnknown() {
			addConfigUnknownError(&resp.Diagnostics, path.Root(name), "The value of "+name)
		}
	}
	if resp.Diagnostics.HasError() {
		return
	}

	// What the pipeline says first: it decides what the configuration may say.
	pipe, diags := readPipeline()
	resp.Diagnostics.Append(diags...)
	requester, requesters := pipe.requesters(cfg.Requester, &resp.Diagnostics)
	pipe.checkLedger(cfg.Ledger, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}

	pol, diags := loadPolicy(cfg, pipe)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}

	if cfg.Postgres.IsUnknown() {
		addConfigUnknownError(&resp.Diagnostics, path.Root("postgres_targets"), "postgres_targets")
		return
	}
	var postgresTargets map[string]postgresTargetModel
	resp.Diagnostics.Append(cfg.Postgres.ElementsAs(ctx, &postgresTargets, false)...)
	if resp.Diagnostics.HasError() {
		return
	}
	targets, diags := p.targets(postgresTargets)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}

	location := ledger.Resolve(cfg.Ledger.ValueString())
	l, err := p.openLedger(ctx, location)
	// From here on, the location is only shown: never with a password.
	location = pgurl.Redact(location)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("ledger"), summaryOpenLedger,
			"The provider could not open the ledger at "+location+": "+err.Error()+". Nothing was planned or changed. "+
				"For a file, check that its directory exists and is writable; for PostgreSQL, that the server is up "+
				"and the URL and credentials are right.")
		return
	}
	// The checkpoint first: a ledger that extends it is verified from the
	// event it names, so that a plan's cost does not grow with the history
	// the checkpoint's signer already verified.
	anchor, cp, err := pipe.anchor(ctx, l)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("ledger"), summaryVerifyLedger,
			"Reading the ledger at "+location+" to check it against the checkpoint "+pipe.checkpoint+" failed: "+
				err.Error()+". Nothing was planned or changed.")
		return
	}
	if anchor != "" {
		tflog.Warn(ctx, "ledger not anchored", map[string]any{"ledger": location, "checkpoint": pipe.checkpoint, "problem": anchor})
	}
	var report ledger.Report
	if cp != nil && anchor == "" {
		report, err = l.VerifySince(ctx, ledger.Head{Seq: cp.Size, Hash: cp.Hash})
	} else {
		report, err = l.Verify(ctx)
	}
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("ledger"), summaryVerifyLedger,
			"Reading the ledger at "+location+" failed: "+err.Error()+". Nothing was planned or changed.")
		return
	}
	if !report.OK {
		tflog.Warn(ctx, "ledger does not verify", map[string]any{"ledger": location, "first_bad_seq": report.FirstBad, "problem": report.Problem})
	}
	ledgerID, err := l.ID(ctx)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("ledger"), summaryOpenLedger,
			"Reading the id of the ledger at "+location+" failed: "+err.Error()+". Nothing was planned or changed.")
		return
	}

	now := p.clock.Now().UTC()
	var runOpts []lifecycle.Option
	if p.fault != nil {
		runOpts = append(runOpts, lifecycle.WithFaultHook(p.fault))
	}
	data := &providerData{
		policy:        pol,
		ledger:        l,
		targets:       targets,
		requester:     requester,
		requesters:    requesters,
		revokeOnly:    pipe.revokeOnly,
		now:           now,
		verification:  report,
		anchor:        anchor,
		checkpoint:    cp,
		checkpointAt:  pipe.checkpoint,
		checkpointKey: pipe.checkpointKeyName(),
		location:      location,
		run:           lifecycle.NewRun(l, targets, now, runOpts...),
		ledgerID:      ledgerID,
	}
	if data.requester == "" {
		resp.Diagnostics.AddWarning("No requester configured", "Neither the provider's requester nor "+EnvRequester+
			" is set, so separation of duties can only check a resource's own requester against its approvers. "+
			"In CI, set "+EnvRequester+" to the author of the change.")
	}
	addPendingGrantsWarning(ctx, l, &resp.Diagnostics)
	if overdue, err := data.run.Overdue(ctx); err == nil {
		// An unreadable ledger is reported by the operation that needs it.
		addOverdueWarning(&resp.Diagnostics, overdue)
	}
	if !report.OK {
		resp.Diagnostics.AddWarning(summaryLedgerUnverified, fmt.Sprintf(
			"The ledger at %s failed verification (first bad sequence number %d): %s. Nothing new is granted or "+
				"approved until it verifies; run `governed verify --ledger %s` and restore the ledger from a trusted copy.",
			location, report.FirstBad, report.Problem, location))
	}
	if report.OK && anchor != "" {
		resp.Diagnostics.AddWarning(summaryLedgerNotAnchored, anchorDetail(anchor, location))
	}
	tflog.Debug(ctx, "provider configured", map[string]any{"ledger": location, "now": data.now.Format(time.RFC3339Nano),
		"head_seq": report.Head.Seq, "policy_digest": pol.Digest, "revoke_only": data.revokeOnly})
	resp.ResourceData = data
	resp.DataSourceData = data
	keepConfigured(ctx, data)
}

// keepPolicy keeps the policy document this instance judges by in the ledger,
// under the digest every decision it records names, and the key files its
// approval_signatures names, under the digests signed approvals name, before
// the first such decision: at apply time, never at plan. A failure stops the operation before
// anything is recorded or granted.
func (d *providerData) keepPolicy(ctx context.Context, diags *diag.Diagnostics, summary string) bool {
	d.policyKept.Lock()
	defer d.policyKept.Unlock()
	if d.policyKeptDone {
		return true
	}
	if err := d.ledger.KeepPolicy(ctx, d.policy.Digest, d.policy.Document, d.now); err != nil {
		addWriteError(diags, summary, "keep the policy document in the ledger", err)
		return false
	}
	if s := d.policy.Signers; s != nil {
		// The key documents signed approvals are verified against, which
		// the approvals name by digest.
		for _, doc := range [][]byte{s.AllowedSignersDocument, s.RevokedKeysDocument} {
			if doc == nil {
				continue
			}
			if err := d.ledger.KeepPolicy(ctx, policy.DocumentDigest(doc), doc, d.now); err != nil {
				addWriteError(diags, summary, "keep the approval_signatures key files in the ledger", err)
				return false
			}
		}
	}
	d.policyKeptDone = true
	return true
}

// addPendingGrantsWarning names the grants the ledger holds as pending: being
// issued by a run right now, or left by a run that stopped between the target
// and the ledger. The next apply of the same configuration completes such a
// grant; one whose configuration is gone keeps its access until revoked.
func addPendingGrantsWarning(ctx context.Context, l *ledger.Ledger, diags *diag.Diagnostics) {
	pending, err := l.Grants(ctx, ledger.GrantFilter{Status: ledger.StatusPending})
	if err != nil || len(pending) == 0 {
		return // an unreadable ledger is reported by the operation that needs it
	}
	ids := make([]string, 0, 5)
	for _, g := range pending[:min(len(pending), 5)] {
		ids = append(ids, fmt.Sprintf("%s (%s to %s, ticket %s)", g.ID, g.Entitlement, g.Principal, g.TicketID))
	}
	more := ""
	if len(pending) > len(ids) {
		more = fmt.Sprintf(" and %d more", len(pending)-len(ids))
	}
	diags.AddWarning("Grants pending in the ledger", fmt.Sprintf(
		"The ledger holds %d grant(s) requested but not confirmed in force: %s%s. Either a run is issuing them now, "+
			"or a run stopped between the target and the ledger. Applying the configuration that requested one "+
			"completes it; if that configuration is gone, revoke it with `governed revoke --grant ID` and its target.",
		len(pending), strings.Join(ids, ", "), more))
}

// openLedger opens the ledger at location once per provider instance.
func (p *governedProvider) openLedger(ctx context.Context, location string) (*ledger.Ledger, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ledger != nil && p.location == location {
		return p.ledger, nil
	}
	l, err := ledger.Open(ctx, location)
	if err != nil {
		return nil, err
	}
	// Verification judges every recorded decision against its policy.
	l.SetJudge(evidence.NewJudge())
	if p.ledger != nil {
		_ = p.ledger.Close()
	}
	p.ledger, p.location = l, location
	return l, nil
}

// targets builds the registry of targets, reusing the PostgreSQL targets of
// an earlier configure whose settings did not change.
func (p *governedProvider) targets(cfg map[string]postgresTargetModel) (target.Registry, diag.Diagnostics) {
	var diags diag.Diagnostics
	p.mu.Lock()
	defer p.mu.Unlock()
	reg := target.NewRegistry()
	kept := map[string]*postgresTarget{}
	for name, settings := range cfg {
		at := path.Root("postgres_targets").AtMapKey(name)
		if settings.URL.IsUnknown() || settings.TerminateSessions.IsUnknown() {
			addConfigUnknownError(&diags, at, "The settings of PostgreSQL target "+name)
			continue
		}
		if old, ok := p.postgres[name]; ok && old.settings == settings {
			kept[name] = old
			reg[policy.PostgresTarget(name)] = old.target
			continue
		}
		t, err := target.NewPostgres(name, settings.URL.ValueString(), target.PostgresOptions{
			// Unset means on: access must not outlive its grant in an open session.
			TerminateSessions: settings.TerminateSessions.IsNull() || settings.TerminateSessions.ValueBool(),
		})
		if err != nil {
			diags.AddAttributeError(at.AtName("url"), "Invalid PostgreSQL target", err.Error()+".")
			continue
		}
		kept[name] = &postgresTarget{settings: settings, target: t}
		reg[policy.PostgresTarget(name)] = t
	}
	for name, old := range p.postgres {
		if kept[name] != old {
			old.target.Close()
		}
	}
	p.postgres = kept
	return reg, diags
}

func (p *governedProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{
		NewGrantResource,
		NewApprovalRecordResource,
		NewReconciliationResource,
	}
}

func (p *governedProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{
		NewGrantsDataSource,
		NewLedgerDataSource,
		NewUnmanagedMembershipsDataSource,
	}
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
