package provider

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/review"
)

// These tests make plans with the real Terraform CLI and this provider, and
// review them with the built `governed review`, in every format, against the
// golden files in internal/review/testdata/golden. Run them with -update to
// rewrite the goldens (and the normalised plans the review package's own
// tests and benchmark read) after a deliberate change.

var updateReviewGoldens = flag.Bool("update", false, "rewrite the governed review goldens in internal/review/testdata")

const reviewTestdata = "../review/testdata"

// reviewCase is one plan to review: what its review must exit with (with
// --detailed-exitcode and --expiring-within 1d).
type reviewCase struct {
	name string
	exit int
}

// planForReview plans in h as a pipeline does: terraform plan -json -out,
// then terraform show -json when a plan file was written. It returns the
// plan's JSON ("" when the plan was refused) and its log.
func planForReview(t *testing.T, h *cliHarness, args ...string) (planJSON, planLog string) {
	t.Helper()
	_ = os.Remove(h.path("review.tfplan"))
	cmd := exec.Command(h.tf, append([]string{"plan", "-input=false", "-json", "-out=review.tfplan"}, args...)...)
	cmd.Dir, cmd.Env = h.dir, h.env
	var out bytes.Buffer
	cmd.Stdout = &out
	_ = cmd.Run() // a refused plan exits 1: its log is what is reviewed
	if _, err := os.Stat(h.path("review.tfplan")); err != nil {
		return "", out.String()
	}
	show := exec.Command(h.tf, "show", "-json", "review.tfplan")
	show.Dir, show.Env = h.dir, h.env
	js, err := show.Output()
	if err != nil {
		t.Fatalf("terraform show -json: %v", err)
	}
	return string(js), out.String()
}

var (
	ledgerIDLine = regexp.MustCompile(`ledger: ([0-9a-f]{32})`)
	signBase64   = regexp.MustCompile(`echo ([A-Za-z0-9+/=]+) \| base64 -d`)
	grantIDs     = regexp.MustCompile(`grt_[0-9a-f]{20}`)
	approvalIDs  = regexp.MustCompile(`apr_[0-9a-f]{24}`)
	digests      = regexp.MustCompile(`\b[0-9a-f]{64}\b`)
	uuids        = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	logStamps    = regexp.MustCompile(`"@timestamp":"[^"]*"`)
	planStamp    = regexp.MustCompile(`"timestamp":"[^"]*"`)
	rfc3339      = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z`)
)

// normalise makes a plan or log the same on every run: the ledger's random
// id (inside statements, and inside the signing commands' base64), grant and
// approval ids, digests and temporary paths get fixed stand-ins, and the
// plan's time is the test clock's.
func (n *normaliser) normalise(env *testEnv, h *cliHarness, s string) string {
	var ledgerID string
	if m := ledgerIDLine.FindStringSubmatch(s); m != nil {
		ledgerID = m[1]
	}
	s = signBase64.ReplaceAllStringFunc(s, func(m string) string {
		b, err := base64.StdEncoding.DecodeString(signBase64.FindStringSubmatch(m)[1])
		if err != nil {
			return m
		}
		stmt := ledgerIDLine.ReplaceAllString(string(b), "ledger: 00000000000000000000000000000000")
		return "echo " + base64.StdEncoding.EncodeToString([]byte(stmt)) + " | base64 -d"
	})
	if ledgerID != "" {
		s = strings.ReplaceAll(s, ledgerID, "00000000000000000000000000000000")
	}
	for _, re := range []struct {
		re     *regexp.Regexp
		prefix string
	}{{grantIDs, "grt_test"}, {approvalIDs, "apr_test"}, {digests, "digest"}, {uuids, "uuid"}} {
		if n.seen[re.prefix] == nil {
			n.seen[re.prefix] = map[string]string{}
		}
		seen := n.seen[re.prefix]
		s = re.re.ReplaceAllStringFunc(s, func(m string) string {
			if _, ok := seen[m]; !ok {
				seen[m] = fmt.Sprintf("%s%d", re.prefix, len(seen)+1)
			}
			return seen[m]
		})
	}
	for _, dir := range []string{h.dir, filepath.Dir(env.ledger), filepath.Dir(env.policy)} {
		s = strings.ReplaceAll(s, dir, "/work")
	}
	s = logStamps.ReplaceAllString(s, `"@timestamp":"`+env.clock.Now().Format(time.RFC3339)+`"`)
	// Times of the wall clock (governed revoke's revoked_at) differ per run.
	s = rfc3339.ReplaceAllStringFunc(s, func(m string) string {
		if t, err := time.Parse(time.RFC3339Nano, m); err == nil && time.Since(t).Abs() < 24*time.Hour && !t.Equal(env.clock.Now()) {
			return "2000-01-01T00:00:00Z"
		}
		return m
	})
	return planStamp.ReplaceAllString(s, `"timestamp":"`+env.clock.Now().UTC().Format(time.RFC3339)+`"`)
}

// normaliser gives each id the same stand-in in a case's plan and log.
type normaliser struct{ seen map[string]map[string]string }

// seed numbers the ids and digests of the plan's resources in the order of
// their addresses (Terraform sorts resource_changes by address), so that the
// stand-ins do not follow the order of the random ids themselves.
func (n *normaliser) seed(planJSON string) {
	var doc struct {
		ResourceChanges []struct {
			Change struct {
				Before, After map[string]any
			} `json:"change"`
		} `json:"resource_changes"`
	}
	if json.Unmarshal([]byte(planJSON), &doc) != nil {
		return
	}
	for _, rc := range doc.ResourceChanges {
		for _, v := range []map[string]any{rc.Change.Before, rc.Change.After} {
			for _, k := range []string{"id", "approval_id", "digest"} {
				s, _ := v[k].(string)
				for _, re := range []struct {
					re     *regexp.Regexp
					prefix string
				}{{grantIDs, "grt_test"}, {approvalIDs, "apr_test"}, {digests, "digest"}} {
					if !re.re.MatchString(s) || s != re.re.FindString(s) {
						continue
					}
					if n.seen[re.prefix] == nil {
						n.seen[re.prefix] = map[string]string{}
					}
					if _, ok := n.seen[re.prefix][s]; !ok {
						n.seen[re.prefix][s] = fmt.Sprintf("%s%d", re.prefix, len(n.seen[re.prefix])+1)
					}
				}
			}
		}
	}
}

var reviewFormatFiles = map[string]string{"md": "md", "json": "json", "github": "github.txt", "sarif": "sarif.json"}

// checkReview normalises the plan and log, reviews them with the built
// governed in every format, and compares output and exit code with the
// goldens; with -update it writes them.
func checkReview(t *testing.T, governed string, env *testEnv, h *cliHarness, c reviewCase, planJSON, planLog string) {
	t.Helper()
	dir := filepath.Join(reviewTestdata, "plans", c.name)
	if c.name == "size_limit" {
		dir = t.TempDir() // 2 MB of plan: made afresh on every run, not kept
	}
	if *updateReviewGoldens || c.name == "size_limit" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		n := &normaliser{seen: map[string]map[string]string{}}
		n.seed(planJSON)
		if planJSON != "" {
			write(t, filepath.Join(dir, "plan.json"), n.normalise(env, h, planJSON))
		}
		write(t, filepath.Join(dir, "plan.jsonl"), n.normalise(env, h, planLog))
	}
	args := []string{"review", "--plan-log", filepath.Join(dir, "plan.jsonl"), "--expiring-within", "1d", "--detailed-exitcode"}
	if planJSON != "" {
		args = append(args, "--plan", filepath.Join(dir, "plan.json"))
	}
	for format, ext := range reviewFormatFiles {
		cmd := exec.Command(governed, append(args, "--format", format)...)
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		err := cmd.Run()
		code := 0
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != c.exit {
			t.Errorf("%s --format %s exited %d, want %d\n%s%s", c.name, format, code, c.exit, stderr.String(), out.String())
		}
		golden := filepath.Join(reviewTestdata, "golden", c.name+"."+ext)
		if *updateReviewGoldens {
			write(t, golden, out.String())
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run the test with -update to write it)", err)
		}
		if out.String() != string(want) {
			t.Errorf("%s --format %s differs from %s (run with -update after a deliberate change):\n%s", c.name, format, golden, out.String())
		}
	}
}

func write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestAccReview_goldens(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	governed := buildCommand(t, "./cmd/governed", "governed")

	t.Run("new", func(t *testing.T) {
		t.Parallel()
		env := newTestEnv(t)
		h := newCLIHarness(t, env.clock)
		record := approvalHCL("a", "SEC-700", "alice@example.com", "Reconciliation", at(24*time.Hour))
		g := validGrant().with("ticket_id", `"SEC-700"`, "approval_id", "governed_approval_record.a.id", "ttl", `"12h"`).hcl("under_record")
		bg := validGrant().with("approvers", "[]", "break_glass", "true", "justification", q("INC-7 outage"), "ttl", q("2h"),
			"ticket_id", q("SEC-701")).hcl("incident")
		h.write("main.tf", env.config(record+g+bg+validGrant().with("expires_at", q(at(6*time.Hour))).with("ttl", "").hcl("plain")))
		h.mustRun("init", "-input=false")
		p, log := planForReview(t, h)
		if strings.Contains(log, "not recorded yet") {
			t.Fatalf("a grant under a record in the same configuration warns that the record is not recorded yet:\n%s", log)
		}
		checkReview(t, governed, env, h, reviewCase{"new", 3}, p, log)
	})

	t.Run("renewal", func(t *testing.T) {
		t.Parallel()
		env, h := appliedHarness(t, validGrant().hcl("g")+validGrant().with("principal", q("svc-payments-worker")).hcl("kept")+
			"\nresource \"terraform_data\" \"keep\" {\n  input = governed_grant.kept.id\n}\n")
		env.clock.Advance(2 * time.Hour)
		// A new ticket and a longer ttl; the second keeps access through
		// the apply with create_before_destroy.
		h.write("main.tf", env.config(validGrant().with("ticket_id", q("SEC-150"), "ttl", q("24h")).hcl("g")+
			validGrant().with("principal", q("svc-payments-worker"), "ticket_id", q("SEC-151"), "create_before_destroy", "true").hcl("kept")+
			"\nresource \"terraform_data\" \"keep\" {\n  input = governed_grant.kept.id\n}\n"))
		p, log := planForReview(t, h)
		checkReview(t, governed, env, h, reviewCase{"renewal", 3}, p, log)
	})

	t.Run("narrowing", func(t *testing.T) {
		t.Parallel()
		env, h := appliedHarness(t, validGrant().with("expires_at", q(at(8*time.Hour))).with("ttl", "").hcl("g"))
		h.write("main.tf", env.config(validGrant().with("expires_at", q(at(4*time.Hour))).with("ttl", "").hcl("g")))
		p, log := planForReview(t, h)
		checkReview(t, governed, env, h, reviewCase{"narrowing", 0}, p, log)
	})

	t.Run("expiry", func(t *testing.T) {
		t.Parallel()
		later := validGrant().with("principal", q("svc-payments-batch"), "ticket_id", q("SEC-203"), "ttl", q("24h")).hcl("later")
		env, h := appliedHarness(t, expiringGrants+later)
		env.clock.Advance(8*time.Hour + time.Minute)
		p, log := planForReview(t, h)
		checkReview(t, governed, env, h, reviewCase{"expiry", 0}, p, log)
	})

	t.Run("out_of_band", func(t *testing.T) {
		t.Parallel()
		env, h := appliedHarness(t, expiringGrants)
		id, _ := h.stateAttr("governed_grant.g", "id").(string)
		revoke := exec.Command(governed, "revoke", "--grant", id, "--reason", "incident INC-42", "--ledger", env.ledger)
		if out, err := revoke.CombinedOutput(); err != nil {
			t.Fatalf("governed revoke: %v\n%s", err, out)
		}
		p, log := planForReview(t, h)
		checkReview(t, governed, env, h, reviewCase{"out_of_band", 0}, p, log)
	})

	t.Run("destroy", func(t *testing.T) {
		t.Parallel()
		record := approvalHCL("a", "SEC-700", "alice@example.com", "Reconciliation", at(24*time.Hour))
		g := validGrant().with("ticket_id", `"SEC-700"`, "approval_id", "governed_approval_record.a.id").hcl("under_record")
		gated := "\nresource \"terraform_data\" \"gated\" {\n  count = governed_grant.under_record.active ? 1 : 0\n  input = governed_grant.under_record.id\n}\n"
		env, h := appliedHarness(t, record+g+gated)
		h.write("main.tf", env.config(""))
		p, log := planForReview(t, h)
		checkReview(t, governed, env, h, reviewCase{"destroy", 0}, p, log)
	})

	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		env := newTestEnv(t)
		h := newCLIHarness(t, env.clock)
		h.write("main.tf", env.config(validGrant().with("ticket_id", q("XX-1"), "approvers", `["dev@example.com"]`).hcl("bad")+
			validGrant().with("expires_at", q(at(30*24*time.Hour))).with("ttl", "").hcl("too_long")))
		h.mustRun("init", "-input=false")
		p, log := planForReview(t, h)
		if p != "" && !strings.Contains(p, `"errored":true`) {
			t.Fatal("a refused plan wrote a plan file that is not marked errored")
		}
		checkReview(t, governed, env, h, reviewCase{"refused", 1}, p, log)
	})

	t.Run("unsigned", func(t *testing.T) {
		t.Parallel()
		env := newSignedEnv(t)
		h := newCLIHarness(t, env.clock, env.options...)
		h.write("main.tf", env.config(signedRecord(false)))
		h.mustRun("init", "-input=false")
		p, log := planForReview(t, h)
		checkReview(t, governed, env.testEnv, h, reviewCase{"unsigned", 1}, p, log)
	})

	t.Run("signed", func(t *testing.T) {
		t.Parallel()
		env := newSignedEnv(t)
		h := newCLIHarness(t, env.clock, env.options...)
		h.write("main.tf", env.config(signedRecord(false)))
		h.mustRun("init", "-input=false")
		out, _ := h.run("plan", "-input=false")
		m := signCommand.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("the refusal does not show the command that signs:\n%s", out)
		}
		if err := os.MkdirAll(h.path("approvals/SEC-101"), 0o700); err != nil {
			t.Fatal(err)
		}
		sign := exec.Command("bash", "-c", strings.Replace(m[0], "~/.ssh/id_ed25519", env.alice.Private, 1))
		sign.Dir = h.dir
		if b, err := sign.CombinedOutput(); err != nil {
			t.Fatalf("signing: %v\n%s", err, b)
		}
		h.write("main.tf", env.config(signedRecord(true)))
		p, log := planForReview(t, h)
		// The armored signature differs on every run (a fresh key): its
		// value is not part of the review.
		checkReview(t, governed, env.testEnv, h, reviewCase{"signed", 3}, stripSignatures(p), log)
	})

	t.Run("size_limit", func(t *testing.T) {
		t.Parallel()
		env := newTestEnv(t)
		h := newCLIHarness(t, env.clock)
		h.write("main.tf", env.config(manyGrants(1000)))
		h.mustRun("init", "-input=false")
		p, log := planForReview(t, h, "-parallelism=20")
		checkReview(t, governed, env, h, reviewCase{"size_limit", 3}, p, log)
		md, err := os.ReadFile(filepath.Join(reviewTestdata, "golden", "size_limit.md"))
		if err != nil {
			t.Fatal(err)
		}
		if len(md) > review.CommentLimit || !strings.Contains(string(md), "Detail was left out") {
			t.Fatalf("the review of 1,000 grants is %d characters, or does not say it left detail out", len(md))
		}
	})
}

// manyGrants is n grants of payments-db-read under tickets SEC-1000 on, each
// to its own principal.
func manyGrants(n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `
locals {
  principals = toset([for i in range(%d) : format("svc-payments-%%04d", i)])
}

resource "governed_grant" "many" {
  for_each    = local.principals
  principal   = each.key
  entitlement = "payments-db-read"
  ticket_id   = "SEC-${1000 + tonumber(substr(each.key, 13, 4))}"
  approvers   = ["alice@example.com"]
  ttl         = "8h"
}
`, n)
	return b.String()
}

var armored = regexp.MustCompile(`-----BEGIN SSH SIGNATURE-----[^"]*?-----END SSH SIGNATURE-----\\n`)

func stripSignatures(planJSON string) string {
	return armored.ReplaceAllString(planJSON, "-----BEGIN SSH SIGNATURE-----\\n(signature)\\n-----END SSH SIGNATURE-----\\n")
}

// examples/ci/review-plan.sh, as the pull-request jobs run it, against real
// plans: a plan that adds access (exit 0, the review in the step summary,
// annotations on stdout) and a refused one (exit 1, the refusal reviewed from
// the plan's log).
func TestAccReview_ciScript(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	governed := buildCommand(t, "./cmd/governed", "governed")
	script, err := filepath.Abs("../../examples/ci/review-plan.sh")
	if err != nil {
		t.Fatal(err)
	}
	env := newTestEnv(t)
	h := newCLIHarness(t, env.clock)
	h.write("main.tf", env.config(validGrant().hcl("g")))
	h.mustRun("init", "-input=false")
	run := func() (int, string, string) {
		t.Helper()
		summary := filepath.Join(t.TempDir(), "summary.md")
		cmd := exec.Command("bash", script, "review")
		cmd.Dir = h.dir
		cmd.Env = append(h.env, "TERRAFORM="+h.tf, "GOVERNED="+governed, "GITHUB_STEP_SUMMARY="+summary)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		code := 0
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		s, _ := os.ReadFile(summary)
		return code, out.String() + errOut.String(), string(s)
	}

	code, out, summary := run()
	md, _ := os.ReadFile(h.path("review/review.md"))
	if code != 0 || !strings.HasPrefix(string(md), review.Marker) || summary != string(md) ||
		!strings.Contains(out, "::notice title=Access%3A new::governed_grant.g:") {
		t.Fatalf("a plan that adds access: exit %d, summary == review %v, output:\n%s\nreview:\n%s", code, summary == string(md), out, md)
	}
	for _, f := range []string{"plan.json", "plan.jsonl", "review.json", "review.sarif"} {
		if st, err := os.Stat(h.path("review/" + f)); err != nil || st.Size() == 0 {
			t.Fatalf("review/%s was not written (%v)", f, err)
		}
	}

	h.write("main.tf", env.config(validGrant().with("ticket_id", q("XX-1")).hcl("g")))
	code, out, summary = run()
	md, _ = os.ReadFile(h.path("review/review.md"))
	if code != 1 || !strings.Contains(string(md), "rule `ticket.pattern`") || !strings.Contains(summary, "Blocking") ||
		!strings.Contains(out, "::error file=main.tf,line=") {
		t.Fatalf("a refused plan: exit %d, output:\n%s\nreview:\n%s", code, out, md)
	}
}
