package provider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// The pipeline's settings are environment variables of the process that
// serves the provider, which in these tests is the test process: they are
// set with t.Setenv, so none of these tests runs in parallel.

// flat is Terraform's output with the diagnostics' box drawing and line
// wrapping undone, so that a message can be matched whatever its width.
func flat(out string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(out, "│", " ")), " ")
}

// expectFailure runs terraform with args, expects it to fail, and expects its
// flattened output to match every pattern.
func expectFailure(t *testing.T, h *cliHarness, patterns []string, args ...string) string {
	t.Helper()
	out, err := h.run(args...)
	if err == nil {
		t.Fatalf("terraform %s succeeded, want a refusal:\n%s", strings.Join(args, " "), out)
	}
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(flat(out)) {
			t.Errorf("terraform %s: output does not match %s:\n%s", strings.Join(args, " "), p, out)
		}
	}
	return out
}

// refusalHarness is a CLI harness for env with no state, where a
// configuration the provider refuses is planned. Terraform serves every
// provider instance from the one provider server of a test process, so once
// one instance's configuration is refused the others have nothing
// configured either; without state, nothing asks them to read.
func refusalHarness(t *testing.T, env *testEnv, config string) *cliHarness {
	t.Helper()
	h := newCLIHarness(t, env.clock, env.options...)
	h.write("main.tf", config)
	h.mustRun("init", "-input=false")
	return h
}

// onProviderAttr matches a diagnostic's source line: attribute attr of the
// provider block aliased alias ("" for the default one).
func onProviderAttr(alias, attr string) string {
	with := `with provider\["[^"]+"\]`
	if alias != "" {
		with += `\.` + alias
	}
	return with + `, on main\.tf line \d+, in provider "governed": \d+: ` + attr + ` = `
}

// On the resource attribute attr, under rule.
func onResourceAttr(address, attr, rule string) string {
	return `with ` + regexp.QuoteMeta(address) + `, on main\.tf line \d+, in resource "[a-z_]+" "[a-z_]+": \d+: ` +
		attr + ` = [^│]*? Rule ` + regexp.QuoteMeta(rule)
}

// GOVERNED_LEDGER pins the ledger for every provider instance: the same file
// written another way passes; an alias that names a scratch ledger is refused
// on its ledger attribute before that ledger is even created.
func TestAccPipeline_ledgerPinned(t *testing.T) {
	skipUnlessAcc(t)
	env := newTestEnv(t)
	t.Setenv(ledger.EnvLocation, env.ledger)
	dir := filepath.Dir(env.ledger)
	scratch := filepath.Join(dir, "scratch.db")

	// The default instance names the pinned ledger, an aliased one names none
	// and so uses the pipeline's: both record there.
	h := newCLIHarness(t, env.clock, env.options...)
	h.write("main.tf", env.config(
		aliasedProvider("other", "policy_file", q(env.policy), "requester", q(env.requester))+
			validGrant().hcl("g")+
			validGrant().with("provider", "governed.other", "ticket_id", `"SEC-102"`).hcl("other")))
	h.mustRun("init", "-input=false")
	h.mustRun("apply", "-input=false", "-auto-approve")

	// The same file written another way: with sqlite:, through a path that
	// is not clean. (Other spellings are covered by
	// TestPipeline_sameLedgerLocation; two instances of one test process
	// share one provider, which keeps one ledger open at a time, so the
	// spelling is tried on one instance.)
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	pinned := env.ledger
	env.ledger = "sqlite:" + filepath.Join(dir, "sub") + "/../governed.db"
	applyInHarness(t, env, validGrant().with("ticket_id", `"SEC-104"`).hcl("g"))
	env.ledger = pinned
	grants, err := env.openLedger().Grants(context.Background(), ledger.GrantFilter{})
	if err != nil || len(grants) != 3 {
		t.Fatalf("the pinned ledger holds %d grants (%v), want all three", len(grants), err)
	}

	// An aliased instance moves the ledger.
	h = refusalHarness(t, env, env.config(
		aliasedProvider("other", "ledger", q(scratch), "policy_file", q(env.policy), "requester", q(env.requester))+
			validGrant().hcl("g")+
			validGrant().with("provider", "governed.other", "ticket_id", `"SEC-103"`).hcl("other2")))
	expectFailure(t, h, []string{
		`Error: Ledger pinned by the pipeline ` + onProviderAttr("other", "ledger") + regexp.QuoteMeta(q(scratch)),
		`The pipeline pins the ledger with GOVERNED_LEDGER to ` + regexp.QuoteMeta(env.ledger) +
			`, and this provider block's ledger names another: ` + regexp.QuoteMeta(scratch) + `\.`,
		`Remove ledger from the provider block`,
	}, "plan", "-input=false")
	if _, err := os.Stat(scratch); !os.IsNotExist(err) {
		t.Errorf("the refused ledger was opened: %v", err)
	}

	// The default instance moves it too.
	env.ledger = scratch
	h.write("main.tf", env.config(validGrant().hcl("g")))
	expectFailure(t, h, []string{`Error: Ledger pinned by the pipeline ` + onProviderAttr("", "ledger")}, "plan", "-input=false")
}

// A PostgreSQL ledger pinned by URL: the same URL with a password is the
// same ledger; another database is refused, and no password is ever shown.
func TestPipeline_sameLedgerLocation(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "governed.db")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.db")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, file)
	if err != nil {
		t.Fatal(err)
	}
	same := [][2]string{
		{file, "sqlite:" + file},
		{file, rel},
		{file, link},
		{file, dir + "//./governed.db"},
		{"postgres://gov@db/ledger", "postgres://gov:s3cret@db:5432/ledger"},
	}
	for _, p := range same {
		if !sameLedgerLocation(p[0], p[1]) || !sameLedgerLocation(p[1], p[0]) {
			t.Errorf("sameLedgerLocation(%q, %q) = false, want true", p[0], p[1])
		}
	}
	different := [][2]string{
		{file, filepath.Join(dir, "scratch.db")},
		{file, "postgres://gov@db/ledger"},
		{"postgres://gov@db/ledger", "postgres://gov@db/scratch"},
		{"postgres://gov@db/ledger", "sqlite:ledger"},
		{"mysql://db/ledger", "mysql://db/other"},
	}
	for _, p := range different {
		if sameLedgerLocation(p[0], p[1]) || sameLedgerLocation(p[1], p[0]) {
			t.Errorf("sameLedgerLocation(%q, %q) = true, want false", p[0], p[1])
		}
	}

	t.Setenv(ledger.EnvLocation, "postgres://gov:pipeline-secret@db/ledger")
	pipe, diags := readPipeline()
	if diags.HasError() {
		t.Fatal(diags)
	}
	pipe.checkLedger(stringOrNull("postgres://gov:change-secret@db/scratch"), &diags)
	if !diags.HasError() {
		t.Fatal("another PostgreSQL database passed the pin")
	}
	detail := diags[0].Detail()
	if strings.Contains(detail, "secret") || !strings.Contains(detail, "postgres://gov@db/ledger") || !strings.Contains(detail, "postgres://gov@db/scratch") {
		t.Errorf("the refusal does not name both ledgers without passwords: %s", detail)
	}
}

// loosenedPolicy is the test policy with a break-glass rule that needs no
// approval for 96 years: what a change under review might slip in.
var loosenedPolicy = strings.Replace(testPolicy, `max_ttl        = "7d"`, `max_ttl        = "35040d"`, 1)

// GOVERNED_POLICY_SHA256 pins the policy document for every provider
// instance: the pinned file passes; an alias with a loosened inline policy is
// refused on policy, and a loosened file on policy_file, naming both digests.
func TestAccPipeline_policyPinned(t *testing.T) {
	skipUnlessAcc(t)
	env := newTestEnv(t)
	pinned := policy.DocumentDigest([]byte(testPolicy))
	t.Setenv(EnvPolicySHA256, strings.ToUpper(pinned)) // as some tools print it

	h := newCLIHarness(t, env.clock, env.options...)
	h.write("main.tf", env.config(validGrant().hcl("g")))
	h.mustRun("init", "-input=false")
	h.mustRun("apply", "-input=false", "-auto-approve")

	// An aliased instance with its own, inline, policy.
	h = refusalHarness(t, env, env.config(validGrant().hcl("g")+
		aliasedProvider("other", "ledger", q(env.ledger), "policy", heredoc(loosenedPolicy))+
		validGrant().with("provider", "governed.other", "ticket_id", `"SEC-102"`, "ttl", `"800000h"`).hcl("other")))
	inline := policy.DocumentDigest([]byte(loosenedPolicy + "\n"))
	expectFailure(t, h, []string{
		`Error: Policy pinned by the pipeline ` + onProviderAttr("other", "policy") + `<<-EOT`,
		`The pipeline pins the policy with GOVERNED_POLICY_SHA256=` + pinned + `, and the SHA-256 of the policy document this provider block gives in policy is ` + inline + `\.`,
	}, "plan", "-input=false")

	// The file itself, changed under the default instance.
	env.writePolicy(loosenedPolicy)
	h.write("main.tf", env.config(validGrant().hcl("g")))
	expectFailure(t, h, []string{
		`Error: Policy pinned by the pipeline ` + onProviderAttr("", "policy_file"),
		`GOVERNED_POLICY_SHA256=` + pinned + `, .* gives in policy_file is ` + policy.DocumentDigest([]byte(loosenedPolicy)) + `\.`,
		// A pin mistyped in the pipeline, with no policy change, reads
		// the same: the refusal says how to set it right.
		`Where the policy did not change, the pin is wrong: set it to what sha256sum prints for the policy file on the protected branch\.`,
	}, "plan", "-input=false")

	// A malformed pin stops the run rather than being ignored.
	env.writePolicy(testPolicy)
	t.Setenv(EnvPolicySHA256, "sha256:"+pinned)
	expectFailure(t, h, []string{`Error: Invalid pipeline setting .*The environment variable GOVERNED_POLICY_SHA256 is set to`}, "plan", "-input=false")
}

// The key files of approval_signatures are pinned with the policy: a pinned
// policy whose keys are not pinned is refused with the value to pin, a key
// added to allowed_signers by the change is refused naming the file, and
// pinning keys for a policy that requires no signatures is refused.
func TestAccPipeline_signersPinned(t *testing.T) {
	skipUnlessAcc(t)
	env := newSignedEnv(t)
	doc, err := os.ReadFile(env.policy)
	if err != nil {
		t.Fatal(err)
	}
	allowedFile := filepath.Join(filepath.Dir(env.policy), "approvers.allowed_signers")
	allowed, err := os.ReadFile(allowedFile)
	if err != nil {
		t.Fatal(err)
	}
	keys := policy.DocumentDigest(allowed)
	t.Setenv(EnvPolicySHA256, policy.DocumentDigest(doc))

	h := newCLIHarness(t, env.clock, env.options...)
	// A break-glass grant without approvals needs no signature: the plan
	// reaches the provider's configuration and nothing else matters.
	grant := validGrant().with("approvers", "[]", "break_glass", "true", "ttl", `"1h"`, "justification", `"Incident OPS-9"`).hcl("g")
	h.write("main.tf", env.config(grant))
	h.mustRun("init", "-input=false")
	expectFailure(t, h, []string{
		`Error: Policy pinned by the pipeline ` + onProviderAttr("", "policy_file"),
		`The pipeline pins the policy with GOVERNED_POLICY_SHA256 but not the key files its approval_signatures block names`,
		`Set GOVERNED_SIGNERS_SHA256=` + keys + ` in the pipeline`,
	}, "plan", "-input=false")

	t.Setenv(EnvSignersSHA256, keys)
	h.mustRun("plan", "-input=false")

	// The change under review lists mallory's key for alice.
	if err := os.WriteFile(allowedFile, append(allowed, []byte("alice@example.com "+env.mallory.Public+"\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	expectFailure(t, h, []string{
		`Error: Policy pinned by the pipeline ` + onProviderAttr("", "policy_file"),
		`pins approval_signatures' key files with GOVERNED_SIGNERS_SHA256=` + keys + `, but their SHA-256 is [0-9a-f]{64} \(` + regexp.QuoteMeta(allowedFile) + `\)`,
	}, "plan", "-input=false")

	// Keys pinned, but the policy no longer requires signatures.
	t.Setenv(EnvPolicySHA256, "")
	env.writePolicy(testPolicy)
	expectFailure(t, h, []string{`but this policy has no approval_signatures block, so approvals would count unsigned`}, "plan", "-input=false")
}

// Every requester counts: the pipeline's requester cannot approve even where
// the provider block names another requester, on any provider instance; a
// blank requester is refused wherever it is written.
func TestAccPipeline_requesters(t *testing.T) {
	skipUnlessAcc(t)
	env := newTestEnv(t)
	t.Setenv(EnvRequester, "alice@example.com")
	h := newCLIHarness(t, env.clock, env.options...)
	h.write("main.tf", env.config(validGrant().hcl("g")))
	h.mustRun("init", "-input=false")
	expectFailure(t, h, []string{
		onResourceAttr("governed_grant.g", "approvers", policy.RuleApproversSeparation.Name) +
			`: approver "alice@example\.com" is the pipeline's requester`,
	}, "plan", "-input=false")

	// The provider block's requester does not replace the pipeline's, on an alias either.
	h.write("main.tf", env.config(
		aliasedProvider("ci", "ledger", q(env.ledger), "policy_file", q(env.policy), "requester", `"carol@example.com"`)+
			validGrant().with("provider", "governed.ci", "approvers", `["bob@example.com", "Alice@Example.com"]`).hcl("other")))
	expectFailure(t, h, []string{
		onResourceAttr("governed_grant.other", "approvers", policy.RuleApproversSeparation.Name) +
			`: approver "Alice@Example\.com" is the pipeline's requester`,
	}, "plan", "-input=false")

	// The case: a blank requester in the provider block.
	h.write("main.tf", env.config(
		aliasedProvider("ci", "ledger", q(env.ledger), "policy_file", q(env.policy), "requester", `" "`)+
			validGrant().with("provider", "governed.ci").hcl("other")))
	expectFailure(t, h, []string{
		`Error: Invalid requester ` + onProviderAttr("ci", "requester") + `" " Rule ` + policy.RuleRequesterBlank.Name,
	}, "plan", "-input=false")

	// A blank requester on a resource (flat shows its two spaces as one).
	h.write("main.tf", env.config(validGrant().with("approvers", `["bob@example.com"]`, "requester", `"  "`).hcl("g")))
	expectFailure(t, h, []string{
		`Error: Invalid requester ` + onResourceAttr("governed_grant.g", "requester", policy.RuleRequesterBlank.Name),
		`requester = " " Rule`,
	}, "plan", "-input=false")
	h.write("main.tf", env.config(approvalHCL("a", "SEC-101", "bob@example.com", "why", at(24*time.Hour))+
		"\n"+strings.Replace(approvalHCL("b", "SEC-102", "bob@example.com", "why", at(24*time.Hour)), "expires_at", "requester = \"\"\n  expires_at", 1)))
	expectFailure(t, h, []string{
		`Error: Invalid requester with governed_approval_record\.b, .* requester = "" Rule ` + policy.RuleRequesterBlank.Name,
	}, "plan", "-input=false")

	// A blank requester in the pipeline's environment.
	h.write("main.tf", env.config(validGrant().with("approvers", `["bob@example.com"]`).hcl("g")))
	t.Setenv(EnvRequester, " ")
	expectFailure(t, h, []string{
		`Error: Invalid pipeline setting .*The environment variable GOVERNED_REQUESTER is set to " "`,
		`Rule ` + policy.RuleRequesterBlank.Name,
	}, "plan", "-input=false")

	// Passes with an approver who is none of the requesters; the resource
	// defaults to the provider block's requester.
	t.Setenv(EnvRequester, "alice@example.com")
	h.mustRun("apply", "-input=false", "-auto-approve")
	if got := h.stateAttr("governed_grant.g", "requester"); got != env.requester {
		t.Errorf("requester = %v, want the provider block's %q", got, env.requester)
	}
}

// identityPolicy is the test policy where Alice also signs in to CI as
// github:alice-example.
var identityPolicy = "identity \"alice@example.com\" {\n  aliases = [\"github:alice-example\"]\n}\n" + testPolicy

// Aliases make a CI login and an e-mail address one person, for separation
// of duties and for approver authority, on grants and approval records.
func TestAccPipeline_identityAliases(t *testing.T) {
	skipUnlessAcc(t)
	env := newTestEnv(t)
	env.writePolicy(identityPolicy)
	t.Setenv(EnvRequester, "GitHub:Alice-Example")
	h := newCLIHarness(t, env.clock, env.options...)
	h.write("main.tf", env.config(validGrant().hcl("g")+approvalHCL("a", "SEC-102", "alice@example.com", "why", at(24*time.Hour))))
	h.mustRun("init", "-input=false")
	expectFailure(t, h, []string{
		onResourceAttr("governed_grant.g", "approvers", policy.RuleApproversSeparation.Name) +
			`: approver "alice@example\.com" is the pipeline's requester`,
		onResourceAttr("governed_approval_record.a", "approvers", policy.RuleApproversSeparation.Name),
	}, "plan", "-input=false")

	// Alice approves someone else's request under her CI login: she has
	// authority over the entitlement under either name.
	t.Setenv(EnvRequester, "dev2@example.com")
	h.write("main.tf", env.config(validGrant().with("approvers", `["github:alice-example"]`).hcl("g")))
	h.mustRun("apply", "-input=false", "-auto-approve")
	if got := h.stateAttr("governed_grant.g", "status"); got != ledger.StatusActive {
		t.Fatalf("status = %v", got)
	}

	// An alias claimed by two identities is refused where the policy says it.
	env.writePolicy(identityPolicy + "\nidentity \"bob@example.com\" {\n  aliases = [\"GITHUB:alice-example\"]\n}\n")
	expectFailure(t, h, []string{`Error: Invalid policy document`, `access-policy\.hcl:\d+,\d+: Alias claimed twice`}, "plan", "-input=false")
}

// GOVERNED_REVOKE_ONLY=1: nothing that adds access is planned or applied;
// everything that removes it goes through, and data sources work.
func TestAccPipeline_revokeOnly(t *testing.T) {
	skipUnlessAcc(t)
	env := newTestEnv(t)
	base := nightlyRead().hcl() + validGrant().with("ticket_id", `"SEC-201"`, "ttl", `"3d"`).hcl("other") + `
data "governed_grants" "all" {
  depends_on = [governed_grant.read, governed_grant.other]
}
`
	h := applyInHarness(t, env, base)
	otherID, _ := h.stateAttr("governed_grant.other", "id").(string)

	t.Setenv(EnvRevokeOnly, "1")
	refusals := []struct {
		name, config string
		want         []string
	}{
		{"a new grant", base + validGrant().with("ticket_id", `"SEC-202"`).hcl("new"),
			[]string{`Error: Grant refused with governed_grant\.new`, `This run may only remove access: the pipeline set GOVERNED_REVOKE_ONLY\. It cannot issue a grant of "payments-db-read" to "svc-payments-api"\.`}},
		{"a replacement grant", strings.Replace(base, `"SEC-201"`, `"SEC-203"`, 1),
			[]string{`Error: Grant refused with governed_grant\.other`, `GOVERNED_REVOKE_ONLY`}},
		{"a new approval record", base + approvalHCL("new", "SEC-204", "alice@example.com", "why", at(24*time.Hour)),
			[]string{`Error: Approval refused with governed_approval_record\.new`, `It cannot record an approval of "payments-db-read" for "svc-payments-api"\.`}},
	}
	for _, r := range refusals {
		h.write("main.tf", env.config(r.config))
		expectFailure(t, h, r.want, "plan", "-input=false")
	}

	// A saved plan that adds access, made before the run was limited, is
	// refused at apply too.
	t.Setenv(EnvRevokeOnly, "")
	h.write("main.tf", env.config(base+validGrant().with("ticket_id", `"SEC-205"`).hcl("new")))
	h.mustRun("plan", "-input=false", "-out=adds.tfplan")
	t.Setenv(EnvRevokeOnly, "true")
	expectFailure(t, h, []string{`Error: Grant refused`, `GOVERNED_REVOKE_ONLY`}, "apply", "-input=false", "adds.tfplan")

	// Removing access goes through: revoked outside Terraform, expired, destroyed.
	h.write("main.tf", env.config(base))
	l := env.openLedger()
	if _, _, err := l.RevokeGrant(context.Background(), otherID, testNow, ledger.ReasonOutOfBand, "incident", nil); err != nil {
		t.Fatal(err)
	}
	env.clock.Advance(2*24*time.Hour + time.Minute)
	h.mustRun("apply", "-input=false", "-auto-approve")
	for address, want := range map[string]string{"governed_grant.read": ledger.StatusExpired, "governed_grant.other": ledger.StatusRevoked} {
		if got := h.stateAttr(address, "status"); got != want {
			t.Errorf("%s: status = %v, want %s", address, got, want)
		}
	}
	out := h.mustRun("state", "list")
	if strings.Contains(out, "terraform_data.gated") {
		t.Errorf("the gated resource outlived its grant:\n%s", out)
	}
	grants, _ := h.stateAttr("governed_grants.all", "grants").([]any)
	if len(grants) != 2 {
		t.Errorf("the data source read %d grants, want 2", len(grants))
	}
	h.mustRun("destroy", "-input=false", "-auto-approve")
	retired, err := l.Grants(context.Background(), ledger.GrantFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range retired {
		if g.RetiredAt.IsZero() {
			t.Errorf("grant %s was not retired by the destroy", g.ID)
		}
	}

	t.Setenv(EnvRevokeOnly, "maybe")
	expectFailure(t, h, []string{`Error: Invalid pipeline setting .*The environment variable GOVERNED_REVOKE_ONLY is set to "maybe"`}, "plan", "-input=false")
}

// Every grant and approval the ledger records names the digest of the policy
// that judged it.
func TestAccPipeline_decisionsNamePolicyDigest(t *testing.T) {
	skipUnlessAcc(t)
	env, _ := appliedHarness(t, nightlyRead().hcl())
	want := policy.DocumentDigest([]byte(testPolicy))
	l := env.openLedger()
	ctx := context.Background()
	grants, err := l.Grants(ctx, ledger.GrantFilter{})
	if err != nil || len(grants) != 1 {
		t.Fatalf("grants: %d, %v", len(grants), err)
	}
	a, err := l.Approval(ctx, grants[0].ApprovalID)
	if err != nil {
		t.Fatal(err)
	}
	if grants[0].PolicyDigest != want || a.PolicyDigest != want {
		t.Errorf("grant names policy %q and approval %q, want %q", grants[0].PolicyDigest, a.PolicyDigest, want)
	}
	var events []ledger.Event
	if err := l.Store().Events(ctx, func(e ledger.Event) error { events = append(events, e); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if !strings.Contains(string(e.Data), fmt.Sprintf(`"policy_digest":%q`, want)) {
			t.Errorf("event %d (%s) does not name the policy's digest: %s", e.Seq, e.Type, e.Data)
		}
	}
}
