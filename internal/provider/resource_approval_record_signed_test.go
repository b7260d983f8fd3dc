package provider

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
	"github.com/governed-entitlements/terraform-provider-governed/internal/sshtest"
)

// signedEnv is a test world whose policy requires signed approvals: alice and
// bob have keys in allowed_signers, mallory has a key that is listed for
// nobody.
type signedEnv struct {
	*testEnv
	alice, bob, mallory sshtest.Key
}

func newSignedEnv(t *testing.T) *signedEnv {
	t.Helper()
	env := &signedEnv{testEnv: newTestEnv(t), alice: sshtest.NewKey(t, "ed25519"), bob: sshtest.NewKey(t, "ecdsa"),
		mallory: sshtest.NewKey(t, "rsa")}
	signers := fmt.Sprintf("alice@example.com %s\nbob@example.com %s\n", env.alice.Public, env.bob.Public)
	if err := os.WriteFile(filepath.Join(filepath.Dir(env.policy), "approvers.allowed_signers"), []byte(signers), 0o600); err != nil {
		t.Fatal(err)
	}
	env.writePolicy("approval_signatures {\n  allowed_signers = \"approvers.allowed_signers\"\n}\n" + testPolicy)
	return env
}

// signedRecord is an approval record of payments-db-read approved by alice,
// with her signature read from approvals/SEC-101/alice.sig when signed, and a
// grant under it.
func signedRecord(signed bool) string {
	sigs := ""
	if signed {
		sigs = "\n  signatures = { \"alice@example.com\" = file(\"approvals/SEC-101/alice.sig\") }"
	}
	return fmt.Sprintf(`
resource "governed_approval_record" "read" {
  ticket_id     = "SEC-101"
  entitlement   = "payments-db-read"
  principal     = "svc-payments-api"
  approvers     = ["alice@example.com"]
  justification = "Nightly reconciliation"
  expires_at    = %q%s
}
`, at(5*24*time.Hour), sigs) + validGrant().with("approval_id", "governed_approval_record.read.id").hcl("read")
}

// signCommand is the one-line command a signature.missing refusal shows.
var signCommand = regexp.MustCompile(`echo ([A-Za-z0-9+/=]+) \| base64 -d \| ssh-keygen -Y sign -n governed-approval -f ~/\.ssh/id_ed25519 > (approvals/SEC-101/alice\.sig)`)

// The journey of a signed approval: the plan refuses the unsigned record and
// shows the statement and the command; the approver runs that command with
// their key; a signature by a key not listed for them is refused; theirs is
// accepted, and the ledger keeps it with the key's fingerprint.
func TestAccApprovalRecord_signed(t *testing.T) {
	skipUnlessAcc(t)
	env := newSignedEnv(t)
	h := newCLIHarness(t, env.clock, env.options...)
	h.write("main.tf", env.config(signedRecord(false)))
	h.mustRun("init", "-input=false")

	out, err := h.run("plan", "-input=false")
	if err == nil || !strings.Contains(out, "Rule "+policy.RuleSignatureMissing.Name) {
		t.Fatalf("an unsigned record planned:\n%s", out)
	}
	m := signCommand.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the refusal does not show the command that signs:\n%s", out)
	}
	statement, err := base64.StdEncoding.DecodeString(m[1])
	if err != nil || !strings.HasPrefix(string(statement), "governed approval v2\nticket: SEC-101\n") {
		t.Fatalf("the statement shown is %q (%v)", statement, err)
	}

	// mallory signs in alice's name: refused, naming mallory's key.
	sign := func(k sshtest.Key) {
		t.Helper()
		if err := os.MkdirAll(h.path("approvals/SEC-101"), 0o700); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("bash", "-c", strings.Replace(m[0], "~/.ssh/id_ed25519", k.Private, 1))
		cmd.Dir = h.dir
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("the command shown failed: %v\n%s", err, b)
		}
	}
	sign(env.mallory)
	h.write("main.tf", env.config(signedRecord(true)))
	out, err = h.run("plan", "-input=false")
	if err == nil || !strings.Contains(out, "Rule "+policy.RuleSignatureSigner.Name) || !strings.Contains(out, env.mallory.Fingerprint) {
		t.Fatalf("a signature by a key not listed for alice planned, or the refusal does not name the key:\n%s", out)
	}

	// alice signs with her key, exactly as the refusal said.
	sign(env.alice)
	h.mustRun("apply", "-input=false", "-auto-approve")
	if got := h.stateAttr("governed_grant.read", "status"); got != "active" {
		t.Fatalf("grant status = %v", got)
	}
	id, _ := h.stateAttr("governed_approval_record.read", "id").(string)
	l := env.openLedger()
	a, err := l.Approval(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if ledgerID, err := l.ID(context.Background()); err != nil || !strings.HasSuffix(a.Statement, "\nledger: "+ledgerID+"\n") {
		t.Fatalf("the statement does not name the ledger %q (%v):\n%s", ledgerID, err, a.Statement)
	}
	// The policy that judged the approval is kept in the ledger, under the
	// digest the approval names.
	policyDoc, err := os.ReadFile(env.policy)
	if err != nil {
		t.Fatal(err)
	}
	kept := map[string]string{}
	if err := l.Store().Policies(context.Background(), func(d string, b []byte) error { kept[d] = string(b); return nil }); err != nil {
		t.Fatal(err)
	}
	grantID, _ := h.stateAttr("governed_grant.read", "id").(string)
	g, err := l.Grant(context.Background(), grantID)
	if err != nil || g.Evidence != "signed" || a.Evidence != "signed" {
		t.Fatalf("evidence: grant %q (%v), approval %q; want signed", g.Evidence, err, a.Evidence)
	}
	if a.PolicyDigest == "" || kept[a.PolicyDigest] != string(policyDoc) || len(kept) != 2 {
		t.Fatalf("approval names policy %q; the ledger keeps %d documents, that one %v", a.PolicyDigest, len(kept), kept[a.PolicyDigest] != "")
	}
	// So is the allowed_signers file its signatures were verified against,
	// byte for byte, under the digest the approval names; the policy names
	// no revoked keys.
	signersDoc, err := os.ReadFile(filepath.Join(filepath.Dir(env.policy), "approvers.allowed_signers"))
	if err != nil {
		t.Fatal(err)
	}
	if a.AllowedSignersSHA256 != policy.DocumentDigest(signersDoc) || kept[a.AllowedSignersSHA256] != string(signersDoc) || a.RevokedKeysSHA256 != "" {
		t.Fatalf("approval names allowed_signers %q and revoked keys %q; the ledger keeps the file: %v",
			a.AllowedSignersSHA256, a.RevokedKeysSHA256, kept[a.AllowedSignersSHA256] == string(signersDoc))
	}
	if a.SignerKeys["alice@example.com"] != env.alice.Fingerprint || !strings.Contains(a.Signatures["alice@example.com"], "BEGIN SSH SIGNATURE") ||
		a.Statement != string(statement) {
		t.Fatalf("the ledger keeps signer keys %v, signatures %v, statement %q", a.SignerKeys, a.Signatures, a.Statement)
	}
}

// Where signatures are required, a grant without a signed approval record is
// refused, and a break-glass grant whose rules need no approval is not.
func TestAccGrant_signedApprovalRequired(t *testing.T) {
	skipUnlessAcc(t)
	env := newSignedEnv(t)
	h := newCLIHarness(t, env.clock, env.options...)
	h.write("main.tf", env.config(validGrant().hcl("read")))
	h.mustRun("init", "-input=false")
	out, err := h.run("plan", "-input=false")
	if err == nil || !strings.Contains(out, "Rule "+policy.RuleSignatureMissing.Name) || !strings.Contains(out, "approval_id") {
		t.Fatalf("a grant without a signed approval planned:\n%s", out)
	}
	h.write("main.tf", env.config(validGrant().with("approvers", "[]", "break_glass", "true",
		"justification", q("INC-7 outage"), "ttl", q("2h")).hcl("read")))
	h.mustRun("apply", "-input=false", "-auto-approve")
	if got := h.stateAttr("governed_grant.read", "break_glass"); got != true {
		t.Fatalf("break_glass = %v", got)
	}
	id, _ := h.stateAttr("governed_grant.read", "id").(string)
	if g, err := env.openLedger().Grant(context.Background(), id); err != nil || g.Evidence != "none" {
		t.Fatalf("a break-glass grant without approvers has evidence %q (%v), want none", g.Evidence, err)
	}
}

// What a plan trusts: an insider who can append to the ledger records an
// approval in alice's name signed with mallory's key, and keeps beside it an
// allowed_signers of their own that lists mallory's key for alice, so that
// the ledger verifies by itself. A grant under that approval is refused at
// plan: the provider verifies the recorded signatures again with the key
// files it reads, which the pipeline pins (GOVERNED_SIGNERS_SHA256), never
// with the ledger's copies.
func TestAccGrant_insiderApprovalRefusedByPinnedSigners(t *testing.T) {
	skipUnlessAcc(t)
	env := newSignedEnv(t)
	doc, err := os.ReadFile(env.policy)
	if err != nil {
		t.Fatal(err)
	}
	allowed, err := os.ReadFile(filepath.Join(filepath.Dir(env.policy), "approvers.allowed_signers"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvPolicySHA256, policy.DocumentDigest(doc))
	t.Setenv(EnvSignersSHA256, policy.DocumentDigest(allowed))

	ctx := context.Background()
	l := env.openLedger()
	ledgerID, err := l.ID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Parse(env.policy, doc)
	if err != nil {
		t.Fatal(err)
	}
	req := policy.ApprovalRequest{TicketID: "SEC-101", Entitlement: "payments-db-read", Principal: "svc-payments-api",
		Approvers: []string{"alice@example.com"}, Justification: "Nightly reconciliation", Requester: "dev@example.com",
		ExpiresAt: at(5 * 24 * time.Hour), LedgerID: ledgerID}
	statement := pol.Statement(req)
	own := []byte("alice@example.com " + env.mallory.Public + "\n")
	env.keepPolicy(l)
	if err := l.KeepPolicy(ctx, policy.DocumentDigest(own), own, testNow); err != nil {
		t.Fatal(err)
	}
	if _, err := l.RecordApproval(ctx, ledger.Approval{ID: "apr_insider", TicketID: req.TicketID, Entitlement: req.Entitlement,
		Principal: req.Principal, Approvers: req.Approvers, Justification: req.Justification, Requester: req.Requester,
		ExpiresAt: req.ExpiresAt, Statement: statement, Digest: policy.Digest(statement),
		Signatures:   map[string]string{"alice@example.com": env.mallory.Sign(t, policy.SignatureNamespace, statement)},
		SignerKeys:   map[string]string{"alice@example.com": env.mallory.Fingerprint},
		PolicyDigest: pol.Digest, Evidence: policy.EvidenceSigned, AllowedSignersSHA256: policy.DocumentDigest(own)},
		testNow.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if r, err := l.Verify(ctx); err != nil || !r.OK {
		t.Fatalf("the insider's ledger does not verify by itself (%v): %s", err, r.Problem)
	}

	h := newCLIHarness(t, env.clock, env.options...)
	h.write("main.tf", env.config(validGrant().with("approval_id", q("apr_insider")).hcl("read")))
	h.mustRun("init", "-input=false")
	out, err := h.run("plan", "-input=false")
	if err == nil || !strings.Contains(out, "Rule "+policy.RuleSignatureSigner.Name) || !strings.Contains(out, env.mallory.Fingerprint) ||
		strings.Contains(out, summaryLedgerUnverified) {
		t.Fatalf("a grant under the insider's approval planned, or was refused for another reason:\n%s", out)
	}
}
