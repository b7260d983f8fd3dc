package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/pgtest"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
	"github.com/governed-entitlements/terraform-provider-governed/internal/sshtest"
)

// signersWorld is an organisation whose policy requires signed approvals:
// alice and mallory approve, each with a key that the organisation's
// allowed_signers lists for them; alice's old key is listed too, and revoked,
// and another of hers only until the day before; an insider holds a key that
// the organisation lists for nobody.
type signersWorld struct {
	dir                                          string
	alice, aliceOld, aliceLapsed, mallory, inner sshtest.Key
	// trusted and revoked are the organisation's files, as an auditor has them.
	trusted, revoked string
	pol              *policy.Policy
}

const signersPolicy = `approval_signatures {
  allowed_signers = "approvers.allowed_signers"
  revoked_keys    = "approvers.revoked"
}

entitlement "db-read" {
  target        = "ledger"
  max_ttl       = "7d"
  approvers     = ["alice@example.com", "mallory@example.com"]
  min_approvals = 1
  principals    = ["svc-*"]
}
`

func newSignersWorld(t *testing.T) *signersWorld {
	t.Helper()
	w := &signersWorld{dir: t.TempDir(), alice: sshtest.NewKey(t, "ed25519"), aliceOld: sshtest.NewKey(t, "ed25519"),
		aliceLapsed: sshtest.NewKey(t, "ed25519"), mallory: sshtest.NewKey(t, "ecdsa"), inner: sshtest.NewKey(t, "ed25519")}
	w.trusted = filepath.Join(w.dir, "approvers.allowed_signers")
	w.revoked = filepath.Join(w.dir, "approvers.revoked")
	write := func(path, text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	lapsed := time.Now().UTC().Add(-24 * time.Hour).Format("20060102150405Z")
	write(w.trusted, fmt.Sprintf("alice@example.com namespaces=\"governed-approval\" %s\nmallory@example.com %s\nalice@example.com %s\n"+
		"alice@example.com valid-before=\"%s\" %s\n", w.alice.Public, w.mallory.Public, w.aliceOld.Public, lapsed, w.aliceLapsed.Public))
	write(w.revoked, w.aliceOld.Public+"\n")
	write(filepath.Join(w.dir, "policy.hcl"), signersPolicy)
	pol, err := policy.Parse(filepath.Join(w.dir, "policy.hcl"), []byte(signersPolicy))
	if err != nil {
		t.Fatal(err)
	}
	w.pol = pol
	return w
}

// request is an approval of db-read for principal, approved by alice.
func (w *signersWorld) request(t *testing.T, l *ledger.Ledger, principal string, at time.Time) policy.ApprovalRequest {
	t.Helper()
	id, err := l.ID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return policy.ApprovalRequest{TicketID: "SEC-1", Entitlement: "db-read", Principal: principal,
		Approvers: []string{"alice@example.com"}, Justification: "nightly reconciliation", Requester: "dev@example.com",
		ExpiresAt: at.Add(48 * time.Hour).Format(time.RFC3339), LedgerID: id}
}

// keep keeps documents in the ledger under their digests.
func keep(t *testing.T, l *ledger.Ledger, at time.Time, docs ...[]byte) {
	t.Helper()
	for _, d := range docs {
		if err := l.KeepPolicy(context.Background(), policy.DocumentDigest(d), d, at); err != nil {
			t.Fatal(err)
		}
	}
}

// recordLegitimate records, as the provider does, an approval for svc-good
// that alice signed with her key and the policy accepted, and a grant under
// it; it returns the approval.
func (w *signersWorld) recordLegitimate(t *testing.T, l *ledger.Ledger, at time.Time) ledger.Approval {
	t.Helper()
	req := w.request(t, l, "svc-good", at)
	req.Signatures = map[string]string{"alice@example.com": w.alice.Sign(t, policy.SignatureNamespace, w.pol.Statement(req))}
	dec, violations := w.pol.EvaluateApproval(req, at)
	if len(violations) > 0 {
		t.Fatalf("the policy refuses alice's approval: %v", violations)
	}
	keep(t, l, at, w.pol.Document, w.pol.Signers.AllowedSignersDocument, w.pol.Signers.RevokedKeysDocument)
	a := ledger.Approval{ID: "apr_" + req.Principal, TicketID: req.TicketID, Entitlement: req.Entitlement, Principal: req.Principal,
		Approvers: req.Approvers, Justification: req.Justification, Requester: req.Requester, ExpiresAt: req.ExpiresAt,
		Statement: dec.Statement, Digest: policy.Digest(dec.Statement), Signatures: req.Signatures, SignerKeys: map[string]string{},
		PolicyDigest: dec.PolicyDigest, Evidence: dec.Evidence,
		AllowedSignersSHA256: w.pol.Signers.AllowedSignersSHA256, RevokedKeysSHA256: w.pol.Signers.RevokedKeysSHA256}
	for _, s := range dec.Signers {
		a.SignerKeys[s.Approver] = s.Fingerprint
	}
	return w.recordWithGrant(t, l, a, at)
}

// recordWithGrant records a, then a grant under it, as an insider who
// writes the store can.
func (w *signersWorld) recordWithGrant(t *testing.T, l *ledger.Ledger, a ledger.Approval, at time.Time) ledger.Approval {
	t.Helper()
	ctx := context.Background()
	a, err := l.RecordApproval(ctx, a, at)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.UseApproval(ctx, a.ID, "grt_"+a.Principal, at); err != nil {
		t.Fatal(err)
	}
	g := ledger.Grant{ID: "grt_" + a.Principal, Principal: a.Principal, Entitlement: a.Entitlement, TicketID: a.TicketID,
		Approvers: a.Approvers, Requester: a.Requester, ApprovalID: a.ID, Target: "ledger",
		ExpiresAt: at.Add(24 * time.Hour).Format(time.RFC3339), PolicyDigest: a.PolicyDigest, Evidence: "signed"}
	if _, err := l.IssueGrant(ctx, g, at); err != nil {
		t.Fatal(err)
	}
	return a
}

// recordInsider records what an insider who can append to the ledger makes
// up: an approval for svc-evil in alice's name signed with key, verified (they claim)
// against an allowed_signers of their own that lists key for alice, which
// they keep in the ledger too. allowedLine is that file's line for the key.
func (w *signersWorld) recordInsider(t *testing.T, l *ledger.Ledger, key sshtest.Key, allowedLine string, at time.Time) ledger.Approval {
	t.Helper()
	req := w.request(t, l, "svc-evil", at)
	st := w.pol.Statement(req)
	own := []byte(allowedLine + "\n")
	keep(t, l, at, w.pol.Document, own)
	a := ledger.Approval{ID: "apr_" + req.Principal, TicketID: req.TicketID, Entitlement: req.Entitlement, Principal: req.Principal,
		Approvers: req.Approvers, Justification: req.Justification, Requester: req.Requester, ExpiresAt: req.ExpiresAt,
		Statement: st, Digest: policy.Digest(st),
		Signatures:   map[string]string{"alice@example.com": key.Sign(t, policy.SignatureNamespace, st)},
		SignerKeys:   map[string]string{"alice@example.com": key.Fingerprint},
		PolicyDigest: w.pol.Digest, Evidence: "signed", AllowedSignersSHA256: policy.DocumentDigest(own)}
	return w.recordWithGrant(t, l, a, at)
}

// signersLedger opens a new ledger on store: "sqlite" or "postgres".
func signersLedger(t *testing.T, store string) (*ledger.Ledger, string) {
	t.Helper()
	location := filepath.Join(t.TempDir(), "governed.db")
	if store == "postgres" {
		_, location = pgtest.Shared(t).NewDatabase(t, "ledger")
	}
	l, err := ledger.Open(context.Background(), location)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, location
}

// TestVerifyAgainstTrustedSigners: the ledger's own copy of allowed_signers
// is only as good as whoever wrote it. An insider who appends an approval
// signed with a key of their own, and keeps an allowed_signers that lists
// it, makes a ledger that verifies by itself; governed verify and evidence
// with the organisation's allowed_signers (or its pinned digests) name the
// event. So do they for a key listed only for another approver, a revoked
// key, and a key used outside the time the file allows it, on both stores.
func TestVerifyAgainstTrustedSigners(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			w := newSignersWorld(t)
			at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
			trust := []string{"--allowed-signers", w.trusted, "--revoked-keys", w.revoked}
			pin := []string{"--signers-sha256", w.pol.Signers.Pin()}

			// A legitimate approval passes every form of the check, and the
			// evidence of its grant.
			l, location := signersLedger(t, store)
			w.recordLegitimate(t, l, at)
			for _, args := range [][]string{nil, trust, pin, append(append([]string{}, trust...), pin...)} {
				code, out, errOut := runCLI(append([]string{"verify", "--ledger", location}, args...)...)
				if code != 0 || !strings.Contains(out, "ledger verified") {
					t.Fatalf("verify %v of a legitimate approval = %d, %q, %q", args, code, out, errOut)
				}
				if len(args) > 0 && !strings.Contains(out, "every signed approval holds against") {
					t.Errorf("verify %v does not say what it held approvals to: %q", args, out)
				}
			}
			code, out, errOut := runCLI(append([]string{"evidence", "--ledger", location, "--format", "json"}, trust...)...)
			if code != 0 || !strings.Contains(out, `"authorised":"signed"`) {
				t.Fatalf("evidence of a legitimate approval = %d, %q\n%s", code, errOut, out)
			}

			for _, tc := range []struct {
				name string
				// insider appends the made-up approval; it returns its event.
				insider func(l *ledger.Ledger) ledger.Approval
				// want is in the trusted check's message.
				want string
			}{
				{"a key the organisation does not list", func(l *ledger.Ledger) ledger.Approval {
					return w.recordInsider(t, l, w.inner, "alice@example.com "+w.inner.Public, at)
				}, "which " + w.trusted + " does not list"},
				{"a key listed only for another approver", func(l *ledger.Ledger) ledger.Approval {
					return w.recordInsider(t, l, w.mallory, "alice@example.com "+w.mallory.Public, at)
				}, "lists for mallory@example.com, not for \"alice@example.com\""},
				{"a revoked key", func(l *ledger.Ledger) ledger.Approval {
					return w.recordInsider(t, l, w.aliceOld, "alice@example.com "+w.aliceOld.Public, at)
				}, "lists as revoked"},
				{"a key past its valid-before", func(l *ledger.Ledger) ledger.Approval {
					return w.recordInsider(t, l, w.aliceLapsed, "alice@example.com "+w.aliceLapsed.Public, at)
				}, "is valid until"},
			} {
				l, location := signersLedger(t, store)
				w.recordLegitimate(t, l, at)
				evil := tc.insider(l)

				// By itself the ledger is consistent: the insider kept the
				// allowed_signers that lists their key.
				if code, out, errOut := runCLI("verify", "--ledger", location); code != 0 {
					t.Fatalf("%s: verify without a trusted file = %d, %q, %q", tc.name, code, out, errOut)
				}
				firstBad := fmt.Sprintf("first bad sequence number %d: event %d records approval %q", evil.Seq, evil.Seq, evil.ID)
				code, out, errOut := runCLI(append([]string{"verify", "--ledger", location}, trust...)...)
				if code != 1 || out != "" || !strings.Contains(errOut, firstBad) ||
					!strings.Contains(errOut, "does not hold against the trusted allowed_signers") || !strings.Contains(errOut, tc.want) {
					t.Errorf("%s: verify --allowed-signers = %d, %q, %q; want exit 1 naming event %d and %q", tc.name, code, out, errOut, evil.Seq, tc.want)
				}
				code, out, errOut = runCLI(append([]string{"verify", "--ledger", location}, pin...)...)
				if code != 1 || !strings.Contains(errOut, firstBad) || !strings.Contains(errOut, "which is not a pinned one") {
					t.Errorf("%s: verify --signers-sha256 = %d, %q, %q", tc.name, code, out, errOut)
				}
				// evidence says the ledger does not verify, naming the
				// event, and that the grant under it is not authorised.
				code, out, errOut = runCLI(append([]string{"evidence", "--ledger", location, "--format", "csv"}, trust...)...)
				if code != 1 || !strings.Contains(errOut, "ledger does NOT verify: "+firstBad) || !strings.Contains(errOut, tc.want) {
					t.Errorf("%s: evidence --allowed-signers = %d, %q", tc.name, code, errOut)
				}
				rows := csvRows(t, out)
				if r := rows["grt_svc-evil"]; r["authorised"] != "no" || !strings.Contains(r["authorised_note"], "does not hold against the trusted allowed_signers") {
					t.Errorf("%s: the insider's grant in evidence: authorised %q, %q", tc.name, r["authorised"], r["authorised_note"])
				}
				if r := rows["grt_svc-good"]; r["authorised"] != "signed" {
					t.Errorf("%s: the legitimate grant in evidence: authorised %q, %q", tc.name, r["authorised"], r["authorised_note"])
				}
			}
		})
	}
}

// csvRows reads evidence's CSV into rows by grant_id, each by column name.
func csvRows(t *testing.T, text string) map[string]map[string]string {
	t.Helper()
	records, err := csv.NewReader(strings.NewReader(text)).ReadAll()
	if err != nil || len(records) == 0 {
		t.Fatalf("the evidence CSV does not read (%v):\n%s", err, text)
	}
	out := map[string]map[string]string{}
	for _, rec := range records[1:] {
		row := map[string]string{}
		for i, name := range records[0] {
			row[name] = rec[i]
		}
		out[row["grant_id"]] = row
	}
	return out
}

// TestVerifyKeptSigners: without a trusted file, verification still holds a
// signed approval to the key files the ledger keeps and it names: a digest
// the ledger does not keep, a kept file that does not list the key, and a
// signed approval that stops naming its key files are each the first bad
// event, on both stores.
func TestVerifyKeptSigners(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			w := newSignersWorld(t)
			at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
			for _, tc := range []struct {
				name   string
				change func(a *ledger.Approval)
				want   string
			}{
				{"a digest the ledger does not keep", func(a *ledger.Approval) {
					a.AllowedSignersSHA256 = policy.DocumentDigest([]byte("bob@example.com ssh-ed25519 AAAA\n"))
				}, "which the ledger does not keep"},
				{"a kept file that does not list the key", func(a *ledger.Approval) {
					a.Statement = strings.Replace(a.Statement, "principal: svc-good", "principal: svc-evil", 1)
					a.Digest = policy.Digest(a.Statement)
					a.Signatures = map[string]string{"alice@example.com": w.inner.Sign(t, policy.SignatureNamespace, a.Statement)}
					a.SignerKeys = map[string]string{"alice@example.com": w.inner.Fingerprint}
				}, "does not hold against the key documents it names"},
				{"a signed approval that names no key files", func(a *ledger.Approval) {
					a.AllowedSignersSHA256, a.RevokedKeysSHA256 = "", ""
				}, "without naming the allowed_signers its signatures were verified against, where approvals since event 1 name it"},
			} {
				l, location := signersLedger(t, store)
				good := w.recordLegitimate(t, l, at)
				bad := good
				bad.ID, bad.Seq, bad.Principal = "apr_svc-evil", 0, "svc-evil"
				tc.change(&bad)
				bad = w.recordWithGrant(t, l, bad, at)
				code, out, errOut := runCLI("verify", "--ledger", location)
				if want := fmt.Sprintf("first bad sequence number %d: event %d records", bad.Seq, bad.Seq); code != 1 || out != "" ||
					!strings.Contains(errOut, want) || !strings.Contains(errOut, tc.want) {
					t.Errorf("%s: verify = %d, %q, %q; want exit 1, %q and %q", tc.name, code, out, errOut, want, tc.want)
				}
			}
		})
	}
}

// TestEvidenceBundleKeepsSignersFiles: the bundle carries the allowed_signers
// and revoked keys files the ledger keeps, byte for byte, not files rebuilt
// from recorded fingerprints; verify.sh checks each signature against them
// with ssh-keygen at the instant the approval was recorded; and the README
// tells the auditor to compare them with the organisation's, which shows
// the insider's file for what it is.
func TestEvidenceBundleKeepsSignersFiles(t *testing.T) {
	t.Parallel()
	w := newSignersWorld(t)
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	l, location := signersLedger(t, "sqlite")
	w.recordLegitimate(t, l, at)
	insiderLine := "alice@example.com " + w.inner.Public
	w.recordInsider(t, l, w.inner, insiderLine, at)

	bundle := filepath.Join(t.TempDir(), "bundle")
	if code, _, errOut := runCLI("evidence", "--ledger", location, "--format", "md", "--bundle", bundle); code != 0 {
		t.Fatalf("evidence --bundle = %d, %q", code, errOut)
	}
	trusted, err := os.ReadFile(w.trusted)
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := os.ReadFile(w.revoked)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"signers/" + policy.DocumentDigest(trusted) + ".allowed_signers":                  string(trusted),
		"signers/" + policy.DocumentDigest(revoked) + ".revoked_keys":                     string(revoked),
		"signers/" + policy.DocumentDigest([]byte(insiderLine+"\n")) + ".allowed_signers": insiderLine + "\n",
	} {
		if got, err := os.ReadFile(filepath.Join(bundle, name)); err != nil || string(got) != want {
			t.Errorf("%s = %q (%v), want the kept file %q", name, got, err, want)
		}
	}
	for _, rebuilt := range []string{"approvals/apr_svc-good/allowed_signers", "approvals/apr_svc-evil/allowed_signers"} {
		if _, err := os.Stat(filepath.Join(bundle, rebuilt)); err == nil {
			t.Errorf("the bundle has %s, rebuilt from recorded fingerprints", rebuilt)
		}
	}
	script, err := os.ReadFile(filepath.Join(bundle, "verify.sh"))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("ssh-keygen -Y verify -f signers/%s.allowed_signers -I alice@example.com -n governed-approval -O verify-time=%s -r signers/%s.revoked_keys -s approvals/apr_svc-good/alice@example.com.sig < approvals/apr_svc-good/statement.txt",
		policy.DocumentDigest(trusted), at.Format("20060102150405Z"), policy.DocumentDigest(revoked))
	if !strings.Contains(string(script), want) {
		t.Fatalf("verify.sh lacks\n%s\n:\n%s", want, script)
	}
	cmd := exec.Command("sh", "verify.sh")
	cmd.Dir = bundle
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Count(string(out), `Good "governed-approval" signature for alice@example.com`) != 2 {
		t.Fatalf("verify.sh: %v\n%s", err, out)
	}
	readme, err := os.ReadFile(filepath.Join(bundle, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"What you compare", "sha256sum signers/*", "--allowed-signers YOUR_ALLOWED_SIGNERS",
		"signers/" + policy.DocumentDigest([]byte(insiderLine+"\n")) + ".allowed_signers"} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("README.md lacks %q:\n%s", want, readme)
		}
	}
	// What the README asks the auditor to do finds the insider's file: its
	// digest is not the organisation's.
	if policy.DocumentDigest([]byte(insiderLine+"\n")) == policy.DocumentDigest(trusted) {
		t.Fatal("the insider's allowed_signers has the organisation's digest")
	}
}

// TestSignersFlagsUsage: a trusted file that is missing or does not parse,
// a pin that is not a digest, and --revoked-keys alone are usage errors
// (exit 2) that say what to give, before the ledger is read.
func TestSignersFlagsUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.allowed_signers")
	if err := os.WriteFile(bad, []byte("alice@example.com not-a-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	location := filepath.Join(dir, "governed.db")
	for _, cmd := range []string{"verify", "evidence"} {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"--revoked-keys", bad}, "--revoked-keys goes with --allowed-signers"},
			{[]string{"--allowed-signers", filepath.Join(dir, "missing")}, "--allowed-signers: open"},
			{[]string{"--allowed-signers", bad}, bad + ": line 1: the public key does not parse"},
			{[]string{"--signers-sha256", "abc"}, `"abc" is not a SHA-256 in hex`},
		} {
			code, out, errOut := runCLI(append([]string{cmd, "--ledger", location}, tc.args...)...)
			if code != 2 || out != "" || !strings.Contains(errOut, tc.want) {
				t.Errorf("%s %v = %d, %q, %q; want exit 2 and %q", cmd, tc.args, code, out, errOut, tc.want)
			}
		}
	}
}
