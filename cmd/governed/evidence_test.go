package main

import (
	"database/sql"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/evidence"
	"github.com/governed-entitlements/terraform-provider-governed/internal/evidence/evidencetest"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
	"github.com/governed-entitlements/terraform-provider-governed/internal/sshtest"
)

// evidenceJSON is the JSON report, as far as the tests read it.
type evidenceJSON struct {
	Ledger   evidence.Ledger    `json:"ledger"`
	Summary  evidence.Summary   `json:"summary"`
	Controls []evidence.Control `json:"controls"`
	Grants   []evidence.Row     `json:"grants"`
}

// TestEvidence judges every kind of grant life through the command line,
// the out-of-band revocation made with governed revoke.
func TestEvidence(t *testing.T) {
	t.Parallel()
	f := evidencetest.Build(t)
	if code, out, errOut := runCLI("revoke", "--ledger", f.Path, "--grant", f.OutOfBand, "--reason", "INC-9: key leaked"); code != 0 {
		t.Fatalf("revoke = %d, %q, %q", code, out, errOut)
	}
	asOf := f.Now.Format(time.RFC3339)
	code, out, errOut := runCLI("evidence", "--ledger", f.Path, "--format", "json", "--as-of", asOf)
	if code != 1 || !strings.Contains(errOut, "3 of 8 grant(s) fail a verdict") {
		t.Fatalf("evidence = %d, stderr %q", code, errOut)
	}
	var doc evidenceJSON
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !doc.Ledger.Verified || doc.Summary.Grants != len(f.Want) || len(doc.Controls) != 7 {
		t.Fatalf("ledger %+v, summary %+v, %d controls", doc.Ledger, doc.Summary, len(doc.Controls))
	}
	for _, r := range doc.Grants {
		want, ok := f.Want[r.GrantID]
		if !ok {
			t.Errorf("unexpected grant %s", r.GrantID)
			continue
		}
		got := evidencetest.Want{Authorised: r.Authorised, TimeBound: r.TimeBound, RevokedOnTime: r.RevokedOnTime, Overdue: r.Overdue, Lateness: r.Lateness}
		if got != want {
			t.Errorf("%s: got %+v, want %+v", r.GrantID, got, want)
		}
		if r.GrantID == f.OutOfBand && (r.Reason != "out_of_band" || r.RemovedBy == "") {
			t.Errorf("the out-of-band revocation: reason %q, removed by %q", r.Reason, r.RemovedBy)
		}
	}

	// A selection whose grants all pass exits 0; every format renders.
	for _, format := range evidence.Formats {
		code, out, errOut := runCLI("evidence", "--ledger", f.Path, "--format", format, "--as-of", asOf, "--principal", "svc-grt_signed")
		if code != 0 || errOut != "" || !strings.Contains(out, "grt_signed") || strings.Contains(out, "grt_late") {
			t.Errorf("evidence --format %s for one signed grant = %d, %q\n%s", format, code, errOut, out)
		}
	}
	// --max-lateness moves what is on time.
	if code, _, errOut := runCLI("evidence", "--ledger", f.Path, "--format", "csv", "--as-of", asOf, "--principal", "svc-grt_late", "--max-lateness", "2d"); code != 0 {
		t.Errorf("grt_late with --max-lateness 2d = %d, %q", code, errOut)
	}
	// --out writes the file.
	html := filepath.Join(t.TempDir(), "evidence.html")
	if code, out, _ := runCLI("evidence", "--ledger", f.Path, "--format", "html", "--as-of", asOf, "--out", html); code != 1 || out != "" {
		t.Errorf("evidence --out = %d, %q", code, out)
	}
	if b, err := os.ReadFile(html); err != nil || !strings.Contains(string(b), "<svg") {
		t.Errorf("the HTML report: %v", err)
	}
}

func TestEvidenceUsage(t *testing.T) {
	t.Parallel()
	f := evidencetest.Build(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--format", "pdf"}, `--format "pdf" is not one of csv, json, md, html`},
		{[]string{"--from", "yesterday"}, "--from \"yesterday\" is not an RFC 3339 time"},
		{[]string{"--from", "2026-03-02T00:00:00Z", "--to", "2026-03-01T00:00:00Z"}, "is before --from"},
		{[]string{"--max-lateness", "-1h"}, "is not a positive duration"},
		{[]string{"--checkpoint", "cp"}, "--checkpoint and --checkpoint-key go together"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		code, _, errOut := runCLI(append([]string{"evidence", "--ledger", f.Path}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("evidence %v = %d, %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}

// TestEvidenceBundle re-verifies a bundle with the stock tools its README
// names: sha256sum -c and ssh-keygen -Y verify.
func TestEvidenceBundle(t *testing.T) {
	t.Parallel()
	sshtest.Require(t)
	if _, err := exec.LookPath("sha256sum"); err != nil {
		t.Fatal("sha256sum is not installed")
	}
	f := evidencetest.Build(t)
	dir := t.TempDir()
	signer, verifier := keygen(t, dir)
	cp := filepath.Join(dir, "checkpoint")
	if code, out, errOut := runCLI("checkpoint", "sign", "--ledger", f.Path, "--key", signer, "--out", cp); code != 0 {
		t.Fatalf("checkpoint sign = %d, %q, %q", code, out, errOut)
	}
	// An insider appends after the checkpoint: a grant for longer than its
	// max_ttl and an approval whose signature is over another text.
	f.Tamper(t)
	bundle := filepath.Join(dir, "bundle")
	code, _, errOut := runCLI("evidence", "--ledger", f.Path, "--format", "md", "--as-of", f.Now.Format(time.RFC3339),
		"--checkpoint", cp, "--checkpoint-key", verifier, "--bundle", bundle)
	if code != 1 || !strings.Contains(errOut, "bundle written to "+bundle) {
		t.Fatalf("evidence --bundle = %d, %q", code, errOut)
	}
	for _, name := range []string{"evidence.csv", "evidence.json", "evidence.html", "evidence.md", "README.md", "SHA256SUMS", "verify.sh",
		"checkpoint/checkpoint", "checkpoint/verification.txt", "ledger/verification.txt",
		"policies/" + policy.DocumentDigest([]byte(evidencetest.PolicyDocument)) + ".policy",
		"approvals/apr_signed/statement.txt", "approvals/apr_signed/alice@example.com.sig", "approvals/apr_signed/allowed_signers"} {
		if _, err := os.Stat(filepath.Join(bundle, name)); err != nil {
			t.Errorf("the bundle lacks %s: %v", name, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(bundle, "checkpoint/verification.txt")); !strings.Contains(string(b), "the ledger extends the checkpoint") {
		t.Errorf("checkpoint/verification.txt = %q", b)
	}

	sh := func(name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Dir = bundle
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := sh("sha256sum", "-c", "SHA256SUMS"); err != nil || strings.Contains(out, "FAILED") {
		t.Fatalf("sha256sum -c: %v\n%s", err, out)
	}
	verify := func(approval string) (string, error) {
		d := "approvals/" + approval
		cmd := exec.Command("ssh-keygen", "-Y", "verify", "-f", d+"/allowed_signers", "-I", "alice@example.com",
			"-n", policy.SignatureNamespace, "-s", d+"/alice@example.com.sig")
		cmd.Dir = bundle
		stmt, err := os.Open(filepath.Join(bundle, d, "statement.txt"))
		if err != nil {
			return "", err
		}
		defer stmt.Close()
		cmd.Stdin = stmt
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := verify("apr_signed"); err != nil || !strings.Contains(out, `Good "governed-approval" signature for alice@example.com`) {
		t.Errorf("ssh-keygen -Y verify of the signed approval: %v\n%s", err, out)
	}
	if out, err := verify("apr_forged"); err == nil {
		t.Errorf("ssh-keygen -Y verify accepts the forged approval's signature:\n%s", out)
	}
	readme, _ := os.ReadFile(filepath.Join(bundle, "README.md"))
	if !strings.Contains(string(readme), "sha256sum -c SHA256SUMS") || !strings.Contains(string(readme), "ssh-keygen -Y verify -f approvals/apr_signed/allowed_signers -I alice@example.com -n governed-approval") {
		t.Errorf("README.md:\n%s", readme)
	}
	// The script runs the same commands: it fails on the forged signature,
	// which an insider appended after the checkpoint.
	if out, err := sh("sh", "verify.sh"); err == nil || !strings.Contains(out, "every file matches SHA256SUMS") || !strings.Contains(out, "Good") {
		t.Errorf("verify.sh: %v\n%s", err, out)
	}
	if out, _ := sh("sh", "verify.sh"); !strings.Contains(out, "every kept policy and key file is named by its SHA-256") {
		t.Errorf("verify.sh does not check the kept files' names:\n%s", out)
	}
	// A kept policy swapped for another text, with SHA256SUMS made again to
	// match, fails: its name, the digest the evidence names, is not its
	// SHA-256.
	kept := "policies/" + policy.DocumentDigest([]byte(evidencetest.PolicyDocument)) + ".policy"
	if err := os.WriteFile(filepath.Join(bundle, kept), []byte(evidencetest.PolicyDocument+"\n# changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := sh("sh", "-c", "sha256sum $(grep -v ' SHA256SUMS$' SHA256SUMS | cut -c67-) > SHA256SUMS.new && mv SHA256SUMS.new SHA256SUMS"); err != nil {
		t.Fatalf("making SHA256SUMS again: %v\n%s", err, out)
	}
	if out, err := sh("sh", "verify.sh"); err == nil || !strings.Contains(out, kept+": its SHA-256 is not its name") ||
		strings.Contains(out, "every kept policy and key file is named") {
		t.Errorf("verify.sh after the policy was swapped: %v\n%s", err, out)
	}

	// A changed file fails sha256sum -c.
	if err := os.WriteFile(filepath.Join(bundle, "evidence.csv"), []byte("grant_id\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := sh("sha256sum", "-c", "SHA256SUMS"); err == nil || !strings.Contains(out, "evidence.csv: FAILED") {
		t.Errorf("sha256sum -c after a change: %v\n%s", err, out)
	}
	// A bundle is never written over another.
	if code, _, errOut := runCLI("evidence", "--ledger", f.Path, "--format", "md", "--bundle", bundle); code != 2 || !strings.Contains(errOut, "is not empty") {
		t.Errorf("evidence into a used bundle directory = %d, %q", code, errOut)
	}
}

func TestHistoryAndApprovals(t *testing.T) {
	t.Parallel()
	f := evidencetest.Build(t)
	code, out, errOut := runCLI("history", "--ledger", f.Path, "grt_retried")
	if code != 0 || errOut != "" {
		t.Fatalf("history = %d, %q", code, errOut)
	}
	for _, want := range []string{"grant grt_retried: svc-grt_retried, db-read, ticket SEC-1", "ledger verified:", "grant.issued",
		"grant.expired", "the target has NOT removed the access: connection refused", "grant.revoke_completed", "recorded ", " by "} {
		if !strings.Contains(out, want) {
			t.Errorf("history lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCLI("history", "--ledger", f.Path, "--json", "grt_signed")
	var types []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var e struct {
			Type  string `json:"type"`
			Actor string `json:"actor"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		types = append(types, e.Type)
	}
	if code != 0 || strings.Join(types, " ") != "approval.recorded approval.used grant.issued grant.expired" {
		t.Errorf("history --json grt_signed = %d, %v", code, types)
	}
	if code, _, errOut := runCLI("history", "--ledger", f.Path, "grt_nope"); code != 1 || !strings.Contains(errOut, `grant "grt_nope" is not in the ledger`) {
		t.Errorf("history of an unknown grant = %d, %q", code, errOut)
	}
	if code, _, _ := runCLI("history", "--ledger", f.Path); code != 2 {
		t.Errorf("history without a grant = %d", code)
	}

	code, out, _ = runCLI("approvals", "--ledger", f.Path)
	if code != 0 || !strings.Contains(out, "apr_signed") || !strings.Contains(out, "grt_signed") ||
		!strings.Contains(out, "signed (1 key(s))") {
		t.Errorf("approvals = %d\n%s", code, out)
	}
	code, out, _ = runCLI("approvals", "--ledger", f.Path, "--json", "--principal", "SVC-GRT_SIGNED")
	var a struct {
		ID         string   `json:"id"`
		Authorised []string `json:"authorised_grants"`
		Events     []int64  `json:"events"`
	}
	if err := json.Unmarshal([]byte(out), &a); code != 0 || err != nil || a.ID != "apr_signed" || len(a.Authorised) != 1 || a.Authorised[0] != "grt_signed" || len(a.Events) != 2 {
		t.Errorf("approvals --json --principal = %d, %v, %+v\n%s", code, err, a, out)
	}
	if code, out, _ := runCLI("approvals", "--ledger", f.Path, "--status", "withdrawn"); code != 0 || strings.Contains(out, "apr_") {
		t.Errorf("approvals --status withdrawn = %d\n%s", code, out)
	}
	if code, _, _ := runCLI("approvals", "--ledger", f.Path, "--status", "gone"); code != 2 {
		t.Errorf("approvals --status gone = %d", code)
	}
}

// TestEvidenceOnDecisionsThePolicyForbade: a ledger that records a grant
// beyond its max_ttl and an approval whose signature does not verify does
// not verify, since governed judges every decision against the policy it
// names; each grant is still judged, and the command exits 1.
func TestEvidenceOnDecisionsThePolicyForbade(t *testing.T) {
	t.Parallel()
	f := evidencetest.BuildTampered(t)
	code, out, errOut := runCLI("evidence", "--ledger", f.Path, "--format", "json", "--as-of", f.Now.Format(time.RFC3339))
	var doc evidenceJSON
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if code != 1 || doc.Ledger.Verified || !strings.Contains(doc.Ledger.Problem, `issues grant "grt_toolong"`) ||
		doc.Summary.Grants != len(f.Want) || !strings.Contains(errOut, "ledger does NOT verify") {
		t.Fatalf("evidence = %d, ledger %+v, summary %+v, stderr %q", code, doc.Ledger, doc.Summary, errOut)
	}
	for _, r := range doc.Grants {
		if want := f.Want[r.GrantID]; r.Authorised != want.Authorised || r.TimeBound != want.TimeBound {
			t.Errorf("%s: authorised %s, time bound %s; want %+v", r.GrantID, r.Authorised, r.TimeBound, want)
		}
	}
}

// TestEvidenceOnATamperedLedger: the report says the ledger does not verify,
// and the command exits 1 even where every grant passes.
func TestEvidenceOnATamperedLedger(t *testing.T) {
	t.Parallel()
	path := fixture(t)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`DROP TRIGGER events_no_update; UPDATE events SET data = replace(data, 'SEC-2', 'SEC-9') WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("evidence", "--ledger", path, "--format", "md")
	if code != 1 || !strings.Contains(errOut, "ledger does NOT verify: first bad sequence number 2") ||
		!strings.Contains(out, "## Access evidence: the ledger does not verify") {
		t.Fatalf("evidence on a tampered ledger = %d, %q\n%s", code, errOut, out)
	}
}
