package provider

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/governed-entitlements/terraform-provider-governed/internal/clock/clocktest"
	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger/ledgertest"
	"github.com/governed-entitlements/terraform-provider-governed/internal/pgtest"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// providerAddress is the provider's source address under the CLI the tests
// run: registry.terraform.io for Terraform, and TF_ACC_PROVIDER_HOST
// (registry.opentofu.org, as `make test` sets it) for OpenTofu, which expands
// a short source address `governed-entitlements/governed` with its own
// registry's host.
var providerAddress = func() string {
	if host := os.Getenv(resource.EnvTfAccProviderHost); host != "" {
		return host + "/" + strings.SplitN(Address, "/", 2)[1]
	}
	return Address
}()

// cliPath is the CLI the acceptance tests run, chosen as
// terraform-plugin-testing chooses it: TF_ACC_TERRAFORM_PATH when set (`make
// test` sets it to OpenTofu for its second run), else terraform on PATH.
func cliPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TF_ACC_TERRAFORM_PATH"); p != "" {
		return p
	}
	p, err := exec.LookPath("terraform")
	if err != nil {
		t.Fatalf("terraform CLI not found on PATH (or set TF_ACC_TERRAFORM_PATH): %v", err)
	}
	return p
}

func TestMain(m *testing.M) {
	// Serve the provider in tests under its real source address, so that test
	// configurations and examples both use `governed-entitlements/governed`.
	os.Setenv("TF_ACC_PROVIDER_NAMESPACE", "governed-entitlements")
	// The tests move a fake clock by days while the ledger records by the
	// real one.
	ledgertest.UnboundDecisionTimes()
	code := pgtest.Main(m)
	removeHistory()
	os.Exit(code)
}

// testNow is where every test clock starts.
var testNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// testPolicy is the quickstart's policy, so that the example is exercised by
// every test that uses it.
var testPolicy = func() string {
	b, err := os.ReadFile("../../examples/quickstart/access-policy.hcl")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

// testEnv is one test's world: its clock, ledger file and policy file.
type testEnv struct {
	t         *testing.T
	clock     *clocktest.Manual
	ledger    string
	policy    string
	requester string
	// providerExtra is added to the provider block, e.g. postgres_targets.
	providerExtra string
	// options are added to the provider's (WithClock is always there).
	options []Option
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	dir := t.TempDir()
	env := &testEnv{
		t:         t,
		clock:     clocktest.NewManual(testNow),
		ledger:    filepath.Join(dir, "governed.db"),
		policy:    filepath.Join(dir, "access-policy.hcl"),
		requester: "dev@example.com",
	}
	env.writePolicy(testPolicy)
	return env
}

// writePolicy replaces the test's policy document.
func (e *testEnv) writePolicy(text string) {
	e.t.Helper()
	if err := os.WriteFile(e.policy, []byte(text), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) factories() map[string]func() (tfprotov6.ProviderServer, error) {
	return map[string]func() (tfprotov6.ProviderServer, error){
		"governed": NewProtocol6Server(New("test", append([]Option{WithClock(e.clock)}, e.options...)...)),
	}
}

// config wraps resources in a provider block pointing at the test's ledger and policy.
func (e *testEnv) config(resources string) string {
	return fmt.Sprintf(`
terraform {
  required_providers {
    governed = { source = "governed-entitlements/governed" }
  }
}

provider "governed" {
  ledger      = %q
  policy_file = %q
  requester   = %q
%s
}
%s
`, e.ledger, e.policy, e.requester, e.providerExtra, resources)
}

// openLedger opens the test's ledger directly, as an auditor or the governed
// command would, and closes it when the test ends.
func (e *testEnv) openLedger() *ledger.Ledger {
	e.t.Helper()
	l, err := ledger.Open(context.Background(), e.ledger)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = l.Close() })
	return l
}

// keepPolicy keeps the test's policy document in l, as the provider does
// before its first decision, and returns its digest, for fixtures that record
// decisions directly.
func (e *testEnv) keepPolicy(l *ledger.Ledger) string {
	e.t.Helper()
	doc, err := os.ReadFile(e.policy)
	if err != nil {
		e.t.Fatal(err)
	}
	digest := policy.DocumentDigest(doc)
	if err := l.KeepPolicy(context.Background(), digest, doc, testNow); err != nil {
		e.t.Fatal(err)
	}
	return digest
}

// at formats testNow+d as RFC 3339.
func at(d time.Duration) string { return testNow.Add(d).Format(time.RFC3339) }

// captureID is a state check that stores a resource's id for later steps.
type captureID struct {
	address string
	id      *string
}

func (c captureID) CheckState(_ context.Context, req statecheck.CheckStateRequest, resp *statecheck.CheckStateResponse) {
	for _, r := range req.State.Values.RootModule.Resources {
		if r.Address == c.address {
			*c.id, _ = r.AttributeValues["id"].(string)
			return
		}
	}
	resp.Error = fmt.Errorf("%s not in state", c.address)
}

// advanceClock is a plan check that moves the clock after the plan is made and
// before it is applied, as when a saved plan is applied later.
type advanceClock struct {
	clock *clocktest.Manual
	by    time.Duration
}

func (a advanceClock) CheckPlan(context.Context, plancheck.CheckPlanRequest, *plancheck.CheckPlanResponse) {
	a.clock.Advance(a.by)
}

func expectAttr(address, attr string, v knownvalue.Check) statecheck.StateCheck {
	return statecheck.ExpectKnownValue(address, tfjsonpath.New(attr), v)
}

func expectPlanned(address, attr string, v knownvalue.Check) plancheck.PlanCheck {
	return plancheck.ExpectKnownValue(address, tfjsonpath.New(attr), v)
}

// TestAccProvider_badConfiguration covers provider settings that must stop a
// plan before anything is judged or written, each with a clear message.
func TestAccProvider_badConfiguration(t *testing.T) {
	grant := validGrant().hcl("g")
	cases := []struct {
		name   string
		policy string // written to the policy file; "" keeps the test policy
		mutate func(env *testEnv)
		want   string
	}{
		{name: "policy with bad HCL", policy: "ticket_pattern = \"^SEC\"\nentitlement \"x\" {\n  max_ttl = \n}\n", want: `access-policy\.hcl:3`},
		{name: "policy with an unknown block", policy: testPolicy + "\nreviewer \"x\" {}\n", want: `access-policy\.hcl:\d+.*(?s).*reviewer`},
		{name: "policy with an unknown attribute", policy: "max_grants = 3\n" + testPolicy, want: `access-policy\.hcl:1.*(?s).*max_grants`},
		{name: "empty policy", policy: "\n", want: `no entitlement`},
		{name: "missing policy file", mutate: func(e *testEnv) { e.policy = filepath.Join(t.TempDir(), "nope.hcl") }, want: `Unable to read the policy file`},
		{name: "ledger in a missing directory", mutate: func(e *testEnv) { e.ledger = filepath.Join(t.TempDir(), "no", "such", "dir", "governed.db") }, want: `Unable to open the ledger`},
		{name: "ledger under a regular file", mutate: func(e *testEnv) { e.ledger = filepath.Join(e.policy, "governed.db") }, want: `Unable to open the ledger`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			if tc.policy != "" {
				env.writePolicy(tc.policy)
			}
			if tc.mutate != nil {
				tc.mutate(env)
			}
			resource.ParallelTest(t, resource.TestCase{
				ProtoV6ProviderFactories: env.factories(),
				Steps: []resource.TestStep{{
					Config:      env.config(grant),
					ExpectError: regexp.MustCompile(tc.want),
				}},
			})
		})
	}
}

func TestAccProvider_policyAndPolicyFileConflict(t *testing.T) {
	env := newTestEnv(t)
	env.providerExtra = "  policy = \"\"\n"
	config := env.config(validGrant().hcl("g"))
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		Steps: []resource.TestStep{{
			Config:      config,
			ExpectError: regexp.MustCompile(`(?s)policy_file.*policy|policy.*policy_file`),
		}},
	})
}

// The policy can be given inline, in its JSON form too.
func TestAccProvider_inlineJSONPolicy(t *testing.T) {
	env := newTestEnv(t)
	jsonPolicy := `{"entitlement": {"read": {"max_ttl": "1d", "approvers": ["alice@example.com"], "principals": ["svc-*"]}}}`
	config := fmt.Sprintf(`
terraform {
  required_providers {
    governed = { source = "governed-entitlements/governed" }
  }
}

provider "governed" {
  ledger = %q
  policy = %q
}

resource "governed_grant" "g" {
  principal   = "svc-a"
  entitlement = "read"
  ticket_id   = "ANY-1"
  approvers   = ["alice@example.com"]
  ttl         = "1h"
}
`, env.ledger, jsonPolicy)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		Steps: []resource.TestStep{{
			Config: config,
			ConfigStateChecks: []statecheck.StateCheck{
				expectAttr("governed_grant.g", "status", knownvalue.StringExact("active")),
				expectAttr("governed_grant.g", "requester", knownvalue.Null()),
			},
		}},
	})
}

// postgres_targets known only after apply stops the plan with a clear
// message, whole or in part.
func TestAccProvider_postgresTargetsUnknown(t *testing.T) {
	for name, tc := range map[string]struct{ input, value string }{
		"whole map": {`{ app = { url = "postgres://governor@db/app" } }`, `terraform_data.later.output`},
		"one url":   {`"postgres://governor@db/app"`, `{ app = { url = terraform_data.later.output } }`},
	} {
		t.Run(name, func(t *testing.T) {
			env := newTestEnv(t)
			env.providerExtra = "  postgres_targets = " + tc.value + "\n"
			resource.ParallelTest(t, resource.TestCase{
				ProtoV6ProviderFactories: env.factories(),
				Steps: []resource.TestStep{{
					Config: env.config(`
resource "terraform_data" "later" {
  input = ` + tc.input + `
}
` + validGrant().hcl("g")),
					ExpectError: regexp.MustCompile(`not known yet`),
				}},
			})
		})
	}
}
