package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
	"github.com/governed-entitlements/terraform-provider-governed/internal/sshtest"
)

// pinnedPolicy requires alice's signature on every approval of db-read;
// mallory's key is in the organisation's allowed_signers (she approves other
// things) but she is no approver here.
const pinnedPolicy = `approval_signatures {
  allowed_signers = "approvers.allowed_signers"
}

entitlement "db-read" {
  target        = "ledger"
  max_ttl       = "7d"
  approvers     = ["alice@example.com"]
  min_approvals = 1
  principals    = ["svc-*"]
}
`

// pinnedPolicyV2 is the organisation's next version of it, pinned in turn.
const pinnedPolicyV2 = pinnedPolicy + `
entitlement "db-write" {
  target        = "ledger"
  max_ttl       = "1d"
  approvers     = ["alice@example.com"]
  min_approvals = 1
  principals    = ["svc-*"]
}
`

// forgedPolicy is what an insider keeps in the ledger: the organisation's
// policy, with mallory made an alias of alice, so that mallory's key, which
// the organisation's allowed_signers lists for her, counts as alice's.
const forgedPolicy = `identity "alice@example.com" {
  aliases = ["mallory@example.com"]
}

` + pinnedPolicy

// pinWorld is the organisation of the policy-pinning tests: its policy
// files as the pipeline pinned them, its allowed_signers, and alice's and
// mallory's keys.
type pinWorld struct {
	dir                    string
	alice, mallory         sshtest.Key
	v1, v2, forged         *policy.Policy
	v1File, v2File, signed string
}

func newPinWorld(t *testing.T) *pinWorld {
	t.Helper()
	w := &pinWorld{dir: t.TempDir(), alice: sshtest.NewKey(t, "ed25519"), mallory: sshtest.NewKey(t, "ed25519")}
	write := func(name, text string) string {
		t.Helper()
		path := filepath.Join(w.dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	w.signed = write("approvers.allowed_signers", "alice@example.com "+w.alice.Public+"\nmallory@example.com "+w.mallory.Public+"\n")
	parse := func(name, text string) (*policy.Policy, string) {
		t.Helper()
		path := write(name, text)
		p, err := policy.Parse(path, []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return p, path
	}
	w.v1, w.v1File = parse("policy-v1.hcl", pinnedPolicy)
	w.v2, w.v2File = parse("policy-v2.hcl", pinnedPolicyV2)
	w.forged, _ = parse("forged.hcl", forgedPolicy)
	return w
}

// record records, under p, an approval for principal signed by key in
// alice's name and a grant under it, as an appender of the ledger can; the
// approval names the organisation's allowed_signers. The policy accepts it
// first, as the provider would have (the forged policy accepts mallory's
// key as alice's).
func (w *pinWorld) record(t *testing.T, l *ledger.Ledger, p *policy.Policy, principal string, key sshtest.Key, at time.Time) ledger.Approval {
	t.Helper()
	id, err := l.ID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	req := policy.ApprovalRequest{TicketID: "SEC-1", Entitlement: "db-read", Principal: principal,
		Approvers: []string{"alice@example.com"}, Justification: "nightly reconciliation", Requester: "dev@example.com",
		ExpiresAt: at.Add(48 * time.Hour).Format(time.RFC3339), LedgerID: id}
	req.Signatures = map[string]string{"alice@example.com": key.Sign(t, policy.SignatureNamespace, p.Statement(req))}
	dec, violations := p.EvaluateApproval(req, at)
	if len(violations) > 0 {
		t.Fatalf("the policy refuses the approval of %s: %v", principal, violations)
	}
	keep(t, l, at, p.Document, p.Signers.AllowedSignersDocument)
	a := ledger.Approval{ID: "apr_" + principal, TicketID: req.TicketID, Entitlement: req.Entitlement, Principal: principal,
		Approvers: req.Approvers, Justification: req.Justification, Requester: req.Requester, ExpiresAt: req.ExpiresAt,
		Statement: dec.Statement, Digest: policy.Digest(dec.Statement), Signatures: req.Signatures, SignerKeys: map[string]string{},
		PolicyDigest: dec.PolicyDigest, Evidence: dec.Evidence, AllowedSignersSHA256: p.Signers.AllowedSignersSHA256}
	for _, s := range dec.Signers {
		a.SignerKeys[s.Approver] = s.Fingerprint
	}
	return (&signersWorld{}).recordWithGrant(t, l, a, at)
}

// TestVerifyPinnedPolicies: an insider who can append events keeps a policy
// document of their own, in which mallory is an alias of alice, and records
// an approval that mallory signed in alice's name under it, with a grant.
// Each decision holds against the policy it names, and mallory's key is in
// the organisation's allowed_signers, so the ledger verifies by itself and
// against the trusted allowed_signers. Pinned to the policies the pipeline
// used (--policy-sha256, or --policy with the trusted file), governed verify
// and evidence name the insider's approval; the legitimate ledger, whose
// decisions name two pinned versions of the policy, passes. On both stores.
func TestVerifyPinnedPolicies(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			w := newPinWorld(t)
			at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
			pinBoth := []string{"--policy-sha256", w.v1.Digest + "," + strings.ToUpper(w.v2.Digest)}
			fileBoth := []string{"--policy", w.v1File, "--policy", w.v2File}
			if w.v1.Digest != policy.DocumentDigest([]byte(pinnedPolicy)) {
				t.Fatal("the policy's digest is not the SHA-256 of its file")
			}

			l, location := signersLedger(t, store)
			w.record(t, l, w.v1, "svc-good", w.alice, at)
			w.record(t, l, w.v2, "svc-next", w.alice, at)
			for _, args := range [][]string{pinBoth, fileBoth, append(append([]string{}, pinBoth...), fileBoth...)} {
				code, out, errOut := runCLI(append([]string{"verify", "--ledger", location}, args...)...)
				if code != 0 || !strings.Contains(out, "every decision names a pinned policy: "+w.v1.Digest+" or "+w.v2.Digest+"\n") {
					t.Fatalf("verify %v of the legitimate ledger = %d, %q, %q", args, code, out, errOut)
				}
			}
			// Pinned to the newer version alone, the first decision under
			// the older one is named.
			code, out, errOut := runCLI("verify", "--ledger", location, "--policy", w.v2File)
			if want := fmt.Sprintf("first bad sequence number 1: event 1 records a decision about approval %q under policy digest %s, "+
				"which is not one of the pinned policies (%s)", "apr_svc-good", w.v1.Digest, w.v2.Digest); code != 1 || out != "" || !strings.Contains(errOut, want) {
				t.Fatalf("verify --policy v2 = %d, %q, %q; want %q", code, out, errOut, want)
			}
			code, out, errOut = runCLI(append([]string{"evidence", "--ledger", location, "--format", "csv"}, pinBoth...)...)
			if rows := csvRows(t, out); code != 0 || rows["grt_svc-good"]["authorised"] != "signed" || rows["grt_svc-next"]["authorised"] != "signed" {
				t.Fatalf("evidence %v of the legitimate ledger = %d, %q\n%s", pinBoth, code, errOut, out)
			}

			evil := w.record(t, l, w.forged, "svc-evil", w.mallory, at)
			// By itself, and against the organisation's allowed_signers, the
			// ledger is consistent: the insider kept the policy their
			// decisions name.
			for _, args := range [][]string{nil, {"--allowed-signers", w.signed}, {"--signers-sha256", w.v1.Signers.Pin()}} {
				if code, out, errOut := runCLI(append([]string{"verify", "--ledger", location}, args...)...); code != 0 {
					t.Fatalf("verify %v of the insider's ledger = %d, %q, %q; the attack no longer passes unpinned", args, code, out, errOut)
				}
			}
			firstBad := fmt.Sprintf("first bad sequence number %d: event %d records a decision about approval %q under policy digest %s, "+
				"which is not one of the pinned policies", evil.Seq, evil.Seq, evil.ID, w.forged.Digest)
			for _, args := range [][]string{pinBoth, fileBoth, {"--policy", w.v1File, "--policy-sha256", w.v2.Digest, "--allowed-signers", w.signed}} {
				code, out, errOut := runCLI(append([]string{"verify", "--ledger", location}, args...)...)
				if code != 1 || out != "" || !strings.Contains(errOut, firstBad) {
					t.Errorf("verify %v of the insider's ledger = %d, %q, %q; want exit 1 and %q", args, code, out, errOut, firstBad)
				}
				code, out, errOut = runCLI(append([]string{"evidence", "--ledger", location, "--format", "csv"}, args...)...)
				if code != 1 || !strings.Contains(errOut, "ledger does NOT verify: "+firstBad) {
					t.Errorf("evidence %v of the insider's ledger = %d, %q", args, code, errOut)
				}
				rows := csvRows(t, out)
				if r := rows["grt_svc-evil"]; r["authorised"] != "no" || !strings.Contains(r["authorised_note"], "which is not a pinned one (--policy-sha256)") {
					t.Errorf("evidence %v: the insider's grant: authorised %q, %q", args, r["authorised"], r["authorised_note"])
				}
				if r := rows["grt_svc-good"]; r["authorised"] != "signed" {
					t.Errorf("evidence %v: the legitimate grant: authorised %q, %q", args, r["authorised"], r["authorised_note"])
				}
			}
		})
	}
}

// TestMistypedPolicyPinNoted: a pinned digest under which the ledger keeps no
// policy, as a mistyped one, gets one line that says so and how to check it,
// before verification names the first decision it does not pin; a digest the
// ledger keeps gets none.
func TestMistypedPolicyPinNoted(t *testing.T) {
	t.Parallel()
	w := newPinWorld(t)
	l, location := signersLedger(t, "sqlite")
	w.record(t, l, w.v1, "svc-good", w.alice, time.Now().UTC().Add(-time.Hour).Truncate(time.Second))
	typo := w.v1.Digest[:63] + map[bool]string{true: "1", false: "0"}[strings.HasSuffix(w.v1.Digest, "0")]
	note := "note: the ledger keeps no policy with SHA-256 " + typo + ", so no decision names it: check the pinned " +
		"digest against sha256sum of the policy file, or pin the file with --policy\n"
	for _, cmd := range []string{"verify", "evidence"} {
		code, _, errOut := runCLI(cmd, "--ledger", location, "--policy-sha256", typo)
		if code != 1 || !strings.HasPrefix(errOut, note) || !strings.Contains(errOut, "which is not one of the pinned policies ("+typo+")") {
			t.Errorf("%s --policy-sha256 TYPO = %d, %q; want exit 1, the note %q first, then the decision named", cmd, code, errOut, note)
		}
		code, _, errOut = runCLI(cmd, "--ledger", location, "--policy-sha256", w.v1.Digest)
		if code != 0 || strings.Contains(errOut, "note:") {
			t.Errorf("%s --policy-sha256 with the kept digest = %d, %q; want exit 0 and no note", cmd, code, errOut)
		}
	}
}

// TestEvidenceRecordsWhatItWasHeldTo: a report and its bundle say which
// pinned policies and trusted key files the ledger was held to, so that an
// auditor reading them later can tell; without those flags they say nothing
// of it.
func TestEvidenceRecordsWhatItWasHeldTo(t *testing.T) {
	t.Parallel()
	w := newPinWorld(t)
	l, location := signersLedger(t, "sqlite")
	w.record(t, l, w.v1, "svc-good", w.alice, time.Now().UTC().Add(-time.Hour).Truncate(time.Second))
	signers, err := os.ReadFile(w.signed)
	if err != nil {
		t.Fatal(err)
	}
	trusted := policy.DocumentDigest(signers)

	bundle := filepath.Join(t.TempDir(), "bundle")
	code, out, errOut := runCLI("evidence", "--ledger", location, "--format", "json", "--policy", w.v1File,
		"--allowed-signers", w.signed, "--bundle", bundle)
	if code != 0 {
		t.Fatalf("evidence = %d, %q", code, errOut)
	}
	var rep struct {
		Ledger struct {
			PinnedPolicies []string `json:"pinned_policies"`
			TrustedSigners string   `json:"trusted_signers"`
		} `json:"ledger"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if got := rep.Ledger; len(got.PinnedPolicies) != 1 || got.PinnedPolicies[0] != w.v1.Digest || got.TrustedSigners != trusted {
		t.Errorf("the JSON report's ledger says pinned_policies %v, trusted_signers %q; want [%s], %q",
			got.PinnedPolicies, got.TrustedSigners, w.v1.Digest, trusted)
	}
	v, err := os.ReadFile(filepath.Join(bundle, "ledger", "verification.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"every decision was held to the pinned policies: " + w.v1.Digest + "\n",
		"every signed approval was held to the trusted key files with SHA-256 " + trusted + "\n",
	} {
		if !strings.Contains(string(v), want) {
			t.Errorf("ledger/verification.txt lacks %q:\n%s", want, v)
		}
	}
	md, _ := os.ReadFile(filepath.Join(bundle, "evidence.md"))
	if !strings.Contains(string(md), "- Every decision was held to the pinned policies: "+w.v1.Digest+".") {
		t.Errorf("evidence.md does not say what it was held to:\n%.800s", md)
	}

	code, out, _ = runCLI("evidence", "--ledger", location, "--format", "md")
	if code != 0 || strings.Contains(out, "held to") {
		t.Errorf("evidence without pins = %d and says it was held to something:\n%s", code, out)
	}
}

// TestPolicyPinFlagsUsage: a pinned digest that is not a SHA-256 in hex, a
// policy file that is missing or is not a policy document, are usage errors
// (exit 2) of one line, before the ledger is read.
func TestPolicyPinFlagsUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPolicy := filepath.Join(dir, "approvers.allowed_signers")
	if err := os.WriteFile(notPolicy, []byte("alice@example.com ssh-ed25519 AAAA\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	location := filepath.Join(dir, "governed.db")
	good := strings.Repeat("ab", 32)
	for _, cmd := range []string{"verify", "evidence"} {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"--policy-sha256", "abc"}, `governed ` + cmd + `: --policy-sha256: "abc" is not a SHA-256 in hex`},
			{[]string{"--policy-sha256", good + ",zz"}, "governed " + cmd + `: --policy-sha256: "zz" is not a SHA-256 in hex`},
			{[]string{"--policy-sha256", good + ","}, "governed " + cmd + `: --policy-sha256: "" is not a SHA-256 in hex`},
			{[]string{"--policy-sha256", good + " " + good}, "governed " + cmd + ": --policy-sha256: digests separated by white space: " +
				"pass --policy-sha256 " + good + "," + good},
			{[]string{"--policy-sha256", good + "  access-policy.hcl"}, "governed " + cmd + ": --policy-sha256: that is sha256sum's " +
				"output for access-policy.hcl, not the digest alone: pass --policy-sha256 " + good + ", or the file with --policy access-policy.hcl"},
			{[]string{"--policy", filepath.Join(dir, "missing.hcl")}, "governed " + cmd + ": --policy: open " + filepath.Join(dir, "missing.hcl")},
			{[]string{"--policy", notPolicy}, "governed " + cmd + ": --policy: " + notPolicy + " is not a policy document: "},
		} {
			code, out, errOut := runCLI(append([]string{cmd, "--ledger", location}, tc.args...)...)
			if code != 2 || out != "" || !strings.HasPrefix(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
				t.Errorf("%s %v = %d, %q, %q; want exit 2 and one line starting %q", cmd, tc.args, code, out, errOut, tc.want)
			}
		}
	}
	if _, err := os.Stat(location); !os.IsNotExist(err) {
		t.Errorf("a usage error left a ledger at %s (%v)", location, err)
	}
}

// TestHistoryAndApprovalsShowDigests: governed history and governed
// approvals show, for each approval, the SHA-256 of the policy that judged
// it and of the key files its signatures were verified against, in full and
// in the forms --policy-sha256 and --signers-sha256 take, so that an auditor
// can hold them to what the pipeline pinned. On both stores.
func TestHistoryAndApprovalsShowDigests(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			w := newSignersWorld(t)
			at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
			l, location := signersLedger(t, store)
			a := w.recordLegitimate(t, l, at)
			judged := "policy sha256 " + w.pol.Digest + ", allowed_signers sha256 " + w.pol.Signers.AllowedSignersSHA256 +
				", revoked keys sha256 " + w.pol.Signers.RevokedKeysSHA256

			code, out, errOut := runCLI("history", "--ledger", location, "grt_svc-good")
			if code != 0 || errOut != "" {
				t.Fatalf("history = %d, %q", code, errOut)
			}
			if !strings.Contains(out, "approval.recorded\n    approval "+a.ID+": active, by alice@example.com, expires "+a.ExpiresAt+", signed\n    "+judged+"\n") {
				t.Errorf("history does not show the approval's digests (%s):\n%s", judged, out)
			}
			if !strings.Contains(out, "grant.issued\n") || !strings.Contains(out, "under "+a.ID+"\n    policy sha256 "+w.pol.Digest+"\n") {
				t.Errorf("history does not show the grant's policy digest:\n%s", out)
			}
			code, out, _ = runCLI("history", "--ledger", location, "--json", "grt_svc-good")
			first := strings.SplitN(out, "\n", 2)[0]
			if code != 0 || !strings.Contains(first, `"policy_digest":"`+w.pol.Digest+`"`) ||
				!strings.Contains(first, `"allowed_signers_sha256":"`+w.pol.Signers.AllowedSignersSHA256+`"`) ||
				!strings.Contains(first, `"revoked_keys_sha256":"`+w.pol.Signers.RevokedKeysSHA256+`"`) {
				t.Errorf("history --json = %d, first event %s", code, first)
			}

			code, out, _ = runCLI("approvals", "--ledger", location)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if code != 0 || len(lines) != 2 {
				t.Fatalf("approvals = %d\n%s", code, out)
			}
			// The last two columns, as the header names them.
			if h := strings.Fields(lines[0]); h[len(h)-2] != "POLICY" || h[len(h)-1] != "KEY_FILES" {
				t.Fatalf("approvals header = %q", lines[0])
			}
			if f := strings.Fields(lines[1]); f[len(f)-2] != w.pol.Digest || f[len(f)-1] != w.pol.Signers.Pin() {
				t.Errorf("approvals shows policy %q and key files %q; want %s and %s", f[len(f)-2], f[len(f)-1], w.pol.Digest, w.pol.Signers.Pin())
			}
			code, out, _ = runCLI("approvals", "--ledger", location, "--json")
			if code != 0 || !strings.Contains(out, `"policy_digest":"`+w.pol.Digest+`"`) ||
				!strings.Contains(out, `"allowed_signers_sha256":"`+w.pol.Signers.AllowedSignersSHA256+`"`) {
				t.Errorf("approvals --json = %d\n%s", code, out)
			}
		})
	}
}
