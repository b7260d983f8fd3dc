package provider

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	"github.com/governed-entitlements/terraform-provider-governed/internal/clock/clocktest"
	"github.com/governed-entitlements/terraform-provider-governed/internal/pgtest"
	"github.com/governed-entitlements/terraform-provider-governed/internal/sshtest"
)

const examplesDir = "../../examples"

func readExample(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(examplesDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// exampleVariables set the examples' variables: the approval's expiry three
// days after the test clock's start.
var exampleVariables = config.Variables{"approval_expires_at": config.StringVariable(at(72 * time.Hour))}

// TestAccExamples_resourcesAndDataSources applies the examples shown in the
// resource and data source docs together, under the test policy and clock.
func TestAccExamples_resourcesAndDataSources(t *testing.T) {
	env := newTestEnv(t)
	resources := readExample(t, "resources/governed_approval_record/resource.tf") + "\n" +
		readExample(t, "resources/governed_grant/resource.tf") + "\n" +
		readExample(t, "resources/governed_reconciliation/resource.tf")
	dataSources := readExample(t, "data-sources/governed_grants/data-source.tf") + "\n" +
		readExample(t, "data-sources/governed_ledger/data-source.tf") + "\n" +
		readExample(t, "data-sources/governed_unmanaged_memberships/data-source.tf")
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		Steps: []resource.TestStep{
			{
				Config:          env.config(resources),
				ConfigVariables: exampleVariables,
				ConfigStateChecks: []statecheck.StateCheck{
					expectAttr("governed_grant.reconciliation", "active", knownvalue.Bool(true)),
					expectAttr("governed_grant.incident", "break_glass", knownvalue.Bool(true)),
					expectAttr("governed_approval_record.reconciliation", "approved_at", knownvalue.StringExact(at(0))),
					expectAttr("governed_reconciliation.scheduled", "revokes", knownvalue.MapExact(map[string]knownvalue.Check{})),
				},
			},
			{
				// Data sources read the ledger at plan time, once the grants exist.
				Config:          env.config(resources + "\n" + dataSources),
				ConfigVariables: exampleVariables,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownOutputValue("ledger_head", knownvalue.ObjectPartial(map[string]knownvalue.Check{
						"seq":      knownvalue.Int64Exact(4), // approval recorded and used, two grants issued
						"verified": knownvalue.Bool(true),
					})),
					statecheck.ExpectKnownOutputValue("expiring_grants", knownvalue.ListSizeExact(2)),
				},
			},
		},
	})
}

// TestAccExamples_providerBlock checks that the provider example is valid
// configuration with its policy next to it.
func TestAccExamples_providerBlock(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	env := newTestEnv(t)
	h := newCLIHarness(t, env.clock)
	h.write("main.tf", readExample(t, "provider/provider.tf"))
	h.write("access-policy.hcl", testPolicy)
	h.mustRun("init", "-input=false")
	h.mustRun("validate")
}

// builtProviderCLIConfig builds the provider binary and returns a Terraform
// CLI configuration whose dev_overrides make Terraform run it, each command in
// a process of its own, as in production.
func builtProviderCLIConfig(t *testing.T) string {
	t.Helper()
	bin := filepath.Dir(buildCommand(t, ".", "terraform-provider-governed"))
	rc := filepath.Join(t.TempDir(), "terraformrc")
	if err := os.WriteFile(rc, []byte(`provider_installation {
  dev_overrides {
    "governed-entitlements/governed" = "`+bin+`"
  }
  direct {}
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	return rc
}

// TestAccExamples_quickstart runs the quickstart exactly as `make demo` does:
// a built provider binary found through dev_overrides, the real clock, and
// the example's own policy and default ledger in the working directory.
func TestAccExamples_quickstart(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	dir := t.TempDir()
	rc := builtProviderCLIConfig(t)
	work := filepath.Join(dir, "quickstart")
	if err := os.CopyFS(work, os.DirFS(filepath.Join(examplesDir, "quickstart"))); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		cmd := exec.Command(cliPath(t), args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+rc, "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1", "TF_CLI_ARGS=-no-color")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("apply", "-input=false", "-auto-approve"); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	if out, err := run("plan", "-input=false", "-detailed-exitcode"); err != nil {
		t.Fatalf("second plan is not empty: %v\n%s", err, out)
	}
	out, err := run("plan", "-input=false", "-var", "show_refusal=true")
	if err == nil || !strings.Contains(out, "Rule approvers.separation") {
		t.Fatalf("self-approved grant was not refused with approvers.separation: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(work, "governed.db")); err != nil {
		t.Fatalf("the default ledger was not created in the working directory: %v", err)
	}
}

// TestAccExamples_postgres applies examples/postgres with a PostgreSQL ledger
// and a PostgreSQL target in a server the test started, with the provider's
// login role holding only what the guide asks for.
func TestAccExamples_postgres(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	srv := pgtest.Shared(t)
	payments, _ := srv.NewDatabase(t, "payments")
	ledgerDB, _ := srv.NewDatabase(t, "ledger")
	srv.MustExec(t, "postgres",
		"CREATE ROLE governor LOGIN",
		"CREATE ROLE payments_read NOLOGIN",
		`CREATE ROLE "svc-payments-api" LOGIN`,
		"GRANT payments_read TO governor WITH ADMIN OPTION",
		"GRANT pg_signal_backend TO governor",
		"GRANT CREATE ON DATABASE "+ledgerDB+" TO governor",
	)
	srv.MustExec(t, ledgerDB, "GRANT CREATE ON SCHEMA public TO governor")

	h := newCLIHarness(t, clocktest.NewManual(testNow))
	// The provider runs in this test process, whose working directory is not
	// Terraform's: the policy's path is made absolute.
	h.write("main.tf", strings.Replace(readExample(t, "postgres/main.tf"), "${path.module}/access-policy.hcl", h.path("access-policy.hcl"), 1))
	h.write("access-policy.hcl", readExample(t, "postgres/access-policy.hcl"))
	vars := []string{"-var", "ledger_url=" + srv.URLAs("governor", ledgerDB), "-var", "payments_url=" + srv.URLAs("governor", payments)}
	h.mustRun("init", "-input=false")
	h.mustRun(append([]string{"apply", "-input=false", "-auto-approve"}, vars...)...)
	isMember := func() bool {
		t.Helper()
		var member bool
		srv.MustQueryRow(t, payments, `SELECT pg_has_role('svc-payments-api', 'payments_read', 'MEMBER')`, nil, &member)
		return member
	}
	if !isMember() {
		t.Fatal("svc-payments-api is not a member of payments_read after apply")
	}
	if out := h.mustRun("output", "-json", "unmanaged_memberships"); strings.Join(strings.Fields(out), "") != "[]" {
		t.Fatalf("unmanaged memberships after the example's apply: %s", out)
	}
	if out := h.mustRun(append([]string{"plan", "-input=false"}, vars...)...); !strings.Contains(out, "No changes.") {
		t.Fatalf("second plan is not empty:\n%s", out)
	}
	h.mustRun(append([]string{"destroy", "-input=false", "-auto-approve"}, vars...)...)
	if isMember() {
		t.Fatal("svc-payments-api is still a member of payments_read after destroy")
	}
}

// TestAccExamples_signedApprovals applies examples/signed-approvals as the
// demo does, with a built provider binary and the real clock: a key made for
// Alice is listed in the example's allowed_signers, the unsigned plan is
// refused with the command that signs, that command signs, and the apply
// issues the grant.
func TestAccExamples_signedApprovals(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	rc := builtProviderCLIConfig(t)
	work := filepath.Join(t.TempDir(), "signed-approvals")
	if err := os.CopyFS(work, os.DirFS(filepath.Join(examplesDir, "signed-approvals"))); err != nil {
		t.Fatal(err)
	}
	alice := sshtest.NewKey(t, "ed25519")
	signers, err := os.OpenFile(filepath.Join(work, "approvers.allowed_signers"), os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = signers.WriteString("alice@example.com " + alice.Public + "\n")
		err = errors.Join(err, signers.Close())
	}
	if err != nil {
		t.Fatal(err)
	}
	// Written out once: the statement Alice signs names it.
	expires := time.Now().UTC().Add(72 * time.Hour).Format(time.RFC3339)
	run := func(name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+rc, "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1", "TF_CLI_ARGS=-no-color",
			"TF_VAR_approval_expires_at="+expires)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run(cliPath(t), "plan", "-input=false", "-var", "signed=false")
	m := regexp.MustCompile(`echo [A-Za-z0-9+/=]+ \| base64 -d \| ssh-keygen -Y sign -n governed-approval -f ~/\.ssh/id_ed25519 > approvals/SEC-1042/alice\.sig`).FindString(out)
	if err == nil || m == "" {
		t.Fatalf("the unsigned example planned (%v), or its refusal shows no command:\n%s", err, out)
	}
	if err := os.MkdirAll(filepath.Join(work, "approvals/SEC-1042"), 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := run("bash", "-c", strings.Replace(m, "~/.ssh/id_ed25519", alice.Private, 1)); err != nil {
		t.Fatalf("signing: %v\n%s", err, out)
	}
	if out, err := run(cliPath(t), "apply", "-input=false", "-auto-approve"); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	if out, err := run(cliPath(t), "output", "-raw", "grant"); err != nil || !strings.HasPrefix(out, "active until ") {
		t.Fatalf("grant output = %q (%v)", out, err)
	}
}
