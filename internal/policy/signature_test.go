package policy

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/sshtest"
)

// signedWorld is a policy that requires signed approvals, with keys made by
// ssh-keygen for its approvers and requester.
type signedWorld struct {
	policy              *Policy
	alice, bob, mallory sshtest.Key // mallory is listed for nobody
	dev                 sshtest.Key // the requester's key
	dir                 string
}

// newSignedWorld writes allowed_signers (and revoked keys) beside the policy
// document and parses it. lines adds allowed_signers lines; revoked lists
// revoked public keys.
func newSignedWorld(t testing.TB, aliceKind string, lines func(w *signedWorld) []string, revoked func(w *signedWorld) []string) *signedWorld {
	t.Helper()
	w := &signedWorld{
		alice: sshtest.NewKey(t, aliceKind), bob: sshtest.NewKey(t, "ed25519"),
		mallory: sshtest.NewKey(t, "ed25519"), dev: sshtest.NewKey(t, "ed25519"), dir: t.TempDir(),
	}
	allowed := []string{
		"alice@example.com " + w.alice.Public,
		"bob@example.com " + w.bob.Public,
		"dev@example.com " + w.dev.Public,
	}
	if lines != nil {
		allowed = lines(w)
	}
	write := func(name string, lines []string) {
		if err := os.WriteFile(filepath.Join(w.dir, name), []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("approvers.allowed_signers", allowed)
	block := "approval_signatures {\n  allowed_signers = \"approvers.allowed_signers\"\n"
	if revoked != nil {
		write("approvers.revoked", revoked(w))
		block += "  revoked_keys = \"approvers.revoked\"\n"
	}
	block += "}\n"
	doc := filepath.Join(w.dir, "policy.hcl")
	if err := os.WriteFile(doc, []byte(block+evalPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(doc, src)
	if err != nil {
		t.Fatal(err)
	}
	w.policy = p
	return w
}

func (w *signedWorld) request() ApprovalRequest {
	r := validApprovalRequest()
	r.LedgerID = "0123456789abcdef0123456789abcdef"
	return r
}

// signed returns the request with each approver's signature by the key given.
func (w *signedWorld) signed(t *testing.T, r ApprovalRequest, keys map[string]sshtest.Key) ApprovalRequest {
	t.Helper()
	statement := w.policy.Statement(r)
	r.Signatures = map[string]string{}
	for approver, k := range keys {
		r.Signatures[approver] = k.Sign(t, SignatureNamespace, statement)
	}
	return r
}

func rulesOf(vs []Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Rule.Name+"@"+v.Attribute)
	}
	return out
}

// Keys of each type that approvers use verify, and so does OpenSSH itself.
func TestSignedApprovalVerifies(t *testing.T) {
	for _, kind := range []string{"ed25519", "ecdsa", "rsa"} {
		t.Run(kind, func(t *testing.T) {
			w := newSignedWorld(t, kind, nil, nil)
			r := w.signed(t, w.request(), map[string]sshtest.Key{"alice@example.com": w.alice, "bob@example.com": w.bob})
			dec, vs := w.policy.EvaluateApproval(r, evalNow)
			if len(vs) != 0 {
				t.Fatalf("violations:\n%s", describe(vs))
			}
			if len(dec.Signers) != 2 || dec.Signers[0].Fingerprint != w.alice.Fingerprint || dec.Signers[1].Fingerprint != w.bob.Fingerprint {
				t.Fatalf("Signers = %+v, want alice's %s and bob's %s", dec.Signers, w.alice.Fingerprint, w.bob.Fingerprint)
			}
			as, _ := os.ReadFile(filepath.Join(w.dir, "approvers.allowed_signers"))
			if !sshtest.Verify(t, string(as), "alice@example.com", SignatureNamespace, dec.Statement, r.Signatures["alice@example.com"]) {
				t.Fatal("ssh-keygen -Y verify refuses a signature governed accepts")
			}
		})
	}
}

func TestSignedApprovalRefusals(t *testing.T) {
	t.Parallel()
	both := func(w *signedWorld) map[string]sshtest.Key {
		return map[string]sshtest.Key{"alice@example.com": w.alice, "bob@example.com": w.bob}
	}
	past, future := evalNow.Add(-24*time.Hour).UTC().Format("20060102")+"Z", evalNow.Add(48*time.Hour).UTC().Format("20060102")+"Z"
	cases := []struct {
		name    string
		lines   func(w *signedWorld) []string
		revoked func(w *signedWorld) []string
		keys    func(w *signedWorld) map[string]sshtest.Key
		edit    func(w *signedWorld, r *ApprovalRequest)
		want    string // rule name; the detail must name alice and, where a key signed, its fingerprint
		noKey   bool
	}{
		{name: "missing", keys: func(w *signedWorld) map[string]sshtest.Key { return map[string]sshtest.Key{"bob@example.com": w.bob} },
			want: RuleSignatureMissing.Name, noKey: true},
		{name: "not an SSH signature", keys: both, edit: func(w *signedWorld, r *ApprovalRequest) {
			r.Signatures["alice@example.com"] = "-----BEGIN PGP SIGNATURE-----\nxx\n-----END PGP SIGNATURE-----"
		}, want: RuleSignatureInvalid.Name, noKey: true},
		{name: "signed another statement", keys: both, edit: func(w *signedWorld, r *ApprovalRequest) {
			r.Signatures["alice@example.com"] = w.alice.Sign(t, SignatureNamespace, "governed approval v2\nticket: SEC-9\n")
		}, want: RuleSignatureInvalid.Name},
		{name: "wrong namespace", keys: both, edit: func(w *signedWorld, r *ApprovalRequest) {
			r.Signatures["alice@example.com"] = w.alice.Sign(t, "git", w.policy.Statement(*r))
		}, want: RuleSignatureNamespace.Name},
		{name: "key restricted to other namespaces", keys: both, lines: func(w *signedWorld) []string {
			return []string{`alice@example.com namespaces="git,file" ` + w.alice.Public, "bob@example.com " + w.bob.Public}
		}, want: RuleSignatureNamespace.Name},
		{name: "key of another approver", keys: func(w *signedWorld) map[string]sshtest.Key {
			return map[string]sshtest.Key{"alice@example.com": w.dev, "bob@example.com": w.bob}
		}, lines: func(w *signedWorld) []string {
			return []string{"alice@example.com " + w.alice.Public, "bob@example.com " + w.bob.Public, "carol@example.com " + w.dev.Public}
		}, want: RuleSignatureSigner.Name},
		{name: "key not listed", keys: func(w *signedWorld) map[string]sshtest.Key {
			return map[string]sshtest.Key{"alice@example.com": w.mallory, "bob@example.com": w.bob}
		}, want: RuleSignatureSigner.Name},
		{name: "key expired", keys: both, lines: func(w *signedWorld) []string {
			return []string{`alice@example.com valid-before="` + past + `" ` + w.alice.Public, "bob@example.com " + w.bob.Public}
		}, want: RuleSignatureValidity.Name},
		{name: "key not valid yet", keys: both, lines: func(w *signedWorld) []string {
			return []string{`alice@example.com valid-after="` + future + `" ` + w.alice.Public, "bob@example.com " + w.bob.Public}
		}, want: RuleSignatureValidity.Name},
		{name: "revoked key", keys: both, revoked: func(w *signedWorld) []string { return []string{w.alice.Public} },
			want: RuleSignatureRevoked.Name},
		{name: "the requester's key", keys: both, lines: func(w *signedWorld) []string {
			return []string{"alice@example.com,dev@example.com " + w.alice.Public, "bob@example.com " + w.bob.Public}
		}, want: RuleSignatureRequester.Name},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newSignedWorld(t, "ed25519", tc.lines, tc.revoked)
			r := w.signed(t, w.request(), tc.keys(w))
			if tc.edit != nil {
				tc.edit(w, &r)
			}
			_, vs := w.policy.EvaluateApproval(r, evalNow)
			if got := strings.Join(rulesOf(vs), " "); got != tc.want+"@"+AttrSignatures {
				t.Fatalf("rules = %q, want %s@%s\n%s", got, tc.want, AttrSignatures, describe(vs))
			}
			if !strings.Contains(vs[0].Detail, `"alice@example.com"`) {
				t.Errorf("detail does not name the approver: %s", vs[0].Detail)
			}
			if fp := tc.keys(w)["alice@example.com"].Fingerprint; !tc.noKey && !strings.Contains(vs[0].Detail, fp) {
				t.Errorf("detail does not name the key %s: %s", fp, vs[0].Detail)
			}
		})
	}
}

// One key that signs for two approvers counts for one of them.
func TestSignedApprovalSharedKey(t *testing.T) {
	t.Parallel()
	w := newSignedWorld(t, "ed25519", func(w *signedWorld) []string {
		return []string{"alice@example.com,bob@example.com " + w.alice.Public}
	}, nil)
	r := w.signed(t, w.request(), map[string]sshtest.Key{"alice@example.com": w.alice, "bob@example.com": w.alice})
	_, vs := w.policy.EvaluateApproval(r, evalNow)
	if got := strings.Join(rulesOf(vs), " "); got != RuleSignatureSharedKey.Name+"@"+AttrSignatures {
		t.Fatalf("rules = %q\n%s", got, describe(vs))
	}
}

// A missing signature's message carries the statement as one base64 line and
// the command that signs it.
func TestSignatureMissingTellsHowToSign(t *testing.T) {
	t.Parallel()
	w := newSignedWorld(t, "ed25519", nil, nil)
	r := w.request()
	_, vs := w.policy.EvaluateApproval(r, evalNow)
	if len(vs) != 2 {
		t.Fatalf("violations:\n%s", describe(vs))
	}
	m := regexp.MustCompile(`echo ([A-Za-z0-9+/=]+) \| base64 -d \| ssh-keygen -Y sign -n governed-approval -f \S+ > approvals/SEC-1234/alice\.sig`).FindStringSubmatch(vs[0].Detail)
	if m == nil {
		t.Fatalf("no sign command in: %s", vs[0].Detail)
	}
	decoded, err := base64.StdEncoding.DecodeString(m[1])
	if err != nil || string(decoded) != w.policy.Statement(r) {
		t.Fatalf("the base64 line decodes to %q (%v), want the statement", decoded, err)
	}
}

// Where signatures are required, a grant needs a signed record, except a
// break-glass grant whose rules need no approval; every approver of the grant
// signed the record; a key revoked since no longer counts.
func TestGrantNeedsSignedApproval(t *testing.T) {
	t.Parallel()
	w := newSignedWorld(t, "ed25519", nil, func(w *signedWorld) []string { return []string{w.mallory.Public} })
	g := validGrant()
	_, vs := w.policy.EvaluateGrant(g, nil, evalNow)
	if got := strings.Join(rulesOf(vs), " "); got != RuleSignatureMissing.Name+"@"+AttrApprovalID {
		t.Fatalf("unsigned grant: %q\n%s", got, describe(vs))
	}

	bg := validGrant()
	bg.BreakGlass, bg.Approvers, bg.Justification = true, nil, "outage"
	bg.ExpiresAt = stampAt(time.Hour)
	if _, vs := w.policy.EvaluateGrant(bg, nil, evalNow); len(vs) != 0 {
		t.Fatalf("break-glass with no approvals needed:\n%s", describe(vs))
	}

	r := w.signed(t, w.request(), map[string]sshtest.Key{"alice@example.com": w.alice, "bob@example.com": w.bob})
	dec, vs := w.policy.EvaluateApproval(r, evalNow)
	if len(vs) != 0 {
		t.Fatal(describe(vs))
	}
	approval := &Approval{ID: "apr_1", TicketID: r.TicketID, Entitlement: r.Entitlement, Principal: r.Principal,
		Approvers: r.Approvers, ExpiresAt: evalNow.Add(48 * time.Hour), ApprovedAt: evalNow.Add(-time.Hour),
		Statement: dec.Statement, Signatures: r.Signatures}
	g.ApprovalID = "apr_1"
	g.Approvers = []string{"alice@example.com"}
	if _, vs := w.policy.EvaluateGrant(g, approval, evalNow); len(vs) != 0 {
		t.Fatalf("grant under a signed record:\n%s", describe(vs))
	}

	forged := *approval
	forged.Signatures = map[string]string{"alice@example.com": w.bob.Sign(t, SignatureNamespace, dec.Statement)}
	if _, vs := w.policy.EvaluateGrant(g, &forged, evalNow); strings.Join(rulesOf(vs), " ") != RuleSignatureSigner.Name+"@"+AttrApprovalID {
		t.Fatalf("grant under a record alice did not sign: %q", rulesOf(vs))
	}

	revoked := newSignedWorld(t, "ed25519", nil, func(w2 *signedWorld) []string { return []string{w.alice.Public} })
	revoked.policy.Signers.Allowed = w.policy.Signers.Allowed // the same keys, alice's revoked since
	if _, vs := revoked.policy.EvaluateGrant(g, approval, evalNow); strings.Join(rulesOf(vs), " ") != RuleSignatureRevoked.Name+"@"+AttrApprovalID {
		t.Fatalf("grant under a record signed with a key revoked since: %q", rulesOf(vs))
	}
}

func TestParseAllowedSigners(t *testing.T) {
	t.Parallel()
	k := sshtest.NewKey(t, "ed25519")
	got, err := ParseAllowedSigners([]byte("# approvers\n\n" +
		`"Alice@Example.com,!eve@example.com" namespaces="governed-approval",valid-after="20260101",valid-before="20270101000000Z" ` + k.Public + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || strings.Join(got[0].Principals, ",") != "alice@example.com,!eve@example.com" ||
		strings.Join(got[0].Namespaces, ",") != SignatureNamespace || got[0].Line != 3 ||
		!got[0].ValidBefore.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) || got[0].ValidAfter.IsZero() {
		t.Fatalf("parsed %+v", got)
	}
	for _, bad := range []string{
		"alice@example.com",
		"alice@example.com ssh-ed25519 notbase64",
		"alice@example.com cert-authority " + k.Public,
		`alice@example.com valid-after="2026" ` + k.Public,
		`alice@example.com no-such-option ` + k.Public,
	} {
		if _, err := ParseAllowedSigners([]byte(bad)); err == nil {
			t.Errorf("ParseAllowedSigners(%q) accepted it", bad)
		}
	}
	// A public key file given as the allowed_signers file: the line says
	// that the approver's identity is missing, and how to write it.
	_, err = ParseAllowedSigners([]byte(k.Public + " alice@laptop\n"))
	if err == nil || !strings.Contains(err.Error(), "line 1: it is a public key (ssh-ed25519 …) without the approver") ||
		!strings.Contains(err.Error(), `"alice@example.com ssh-ed25519 AAAA…"`) {
		t.Errorf("a public key file as allowed_signers: err = %v, want the missing identity named", err)
	}
	if _, err := ParseRevokedKeys([]byte("SSHKRL\n\x00")); err == nil {
		t.Error("a binary KRL was accepted")
	}
}

func TestMatchPatterns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		patterns []string
		s        string
		want     bool
	}{
		{[]string{"alice@example.com"}, "alice@example.com", true},
		{[]string{"*@example.com"}, "alice@example.com", true},
		{[]string{"*@example.com", "!eve@example.com"}, "eve@example.com", false},
		{[]string{"bob@example.com"}, "alice@example.com", false},
		{[]string{"governed-*"}, "governed-approval", true},
	} {
		if got := matchPatterns(tc.patterns, tc.s); got != tc.want {
			t.Errorf("matchPatterns(%q, %q) = %v, want %v", tc.patterns, tc.s, got, tc.want)
		}
	}
}

func TestApprovalSignaturesBlock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	doc := filepath.Join(dir, "policy.hcl")
	src := []byte("approval_signatures {\n  allowed_signers = \"missing.allowed_signers\"\n}\n" + evalPolicy)
	_, err := Parse(doc, src)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "missing.allowed_signers")) || !strings.Contains(err.Error(), "policy.hcl:2,") {
		t.Fatalf("a missing allowed_signers file: %v", err)
	}
}

func newSignedWorldTB(b *testing.B) *signedWorld { return newSignedWorld(b, "ed25519", nil, nil) }

// BenchmarkEvaluateGrantSigned is one grant decision under a record signed by
// its approver (an ed25519 key made by ssh-keygen), where the policy requires
// signatures: what a signed plan adds per grant over BenchmarkEvaluateGrant's
// kind of decision.
func BenchmarkEvaluateGrantSigned(b *testing.B) {
	for _, signed := range []bool{false, true} {
		b.Run(map[bool]string{false: "unsigned", true: "signed"}[signed], func(b *testing.B) {
			w := newSignedWorldTB(b)
			p := w.policy
			if !signed {
				p.Signers = nil
			}
			r := w.request()
			r.Approvers = []string{"alice@example.com"}
			statement := w.policy.Statement(r)
			approval := &Approval{ID: "apr_1", TicketID: r.TicketID, Entitlement: r.Entitlement, Principal: r.Principal,
				Approvers: r.Approvers, ExpiresAt: evalNow.Add(48 * time.Hour), ApprovedAt: evalNow.Add(-time.Hour),
				Statement: statement, Signatures: map[string]string{"alice@example.com": w.alice.Sign(b, SignatureNamespace, statement)}}
			g := validGrant()
			g.ApprovalID, g.Approvers = "apr_1", []string{"alice@example.com"}
			if _, vs := p.EvaluateGrant(g, approval, evalNow); len(vs) != 0 {
				b.Fatalf("refused:\n%s", describe(vs))
			}
			b.ReportAllocs()
			for b.Loop() {
				p.EvaluateGrant(g, approval, evalNow)
			}
		})
	}
}

// A recorded approval whose fields no longer match the statement its
// approvers signed (copied to another principal, another ledger) authorises
// nothing; a key listed for a requester counts for nothing at grant time too;
// two signatures for one approver are refused.
func TestSignedApprovalTampering(t *testing.T) {
	t.Parallel()
	w := newSignedWorld(t, "ed25519", func(w *signedWorld) []string {
		return []string{"alice@example.com " + w.alice.Public, "bob@example.com,dev@example.com " + w.bob.Public}
	}, nil)
	r := w.signed(t, w.request(), map[string]sshtest.Key{"alice@example.com": w.alice, "bob@example.com": w.bob})
	r.Requester, r.Requesters = "carol@example.com", nil // bob's key is not the requester's while recording
	r = w.signed(t, r, map[string]sshtest.Key{"alice@example.com": w.alice, "bob@example.com": w.bob})
	dec, vs := w.policy.EvaluateApproval(r, evalNow)
	if len(vs) != 0 {
		t.Fatal(describe(vs))
	}
	approval := func() *Approval {
		return &Approval{ID: "apr_1", TicketID: r.TicketID, Entitlement: r.Entitlement, Principal: r.Principal,
			Approvers: r.Approvers, ExpiresAt: evalNow.Add(48 * time.Hour), ApprovedAt: evalNow.Add(-time.Hour),
			Statement: dec.Statement, Signatures: r.Signatures}
	}
	g := validGrant()
	g.ApprovalID, g.Approvers, g.Requester, g.Requesters = "apr_1", []string{"alice@example.com"}, "carol@example.com", nil
	g.LedgerID = r.LedgerID
	if _, vs := w.policy.EvaluateGrant(g, approval(), evalNow); len(vs) != 0 {
		t.Fatalf("the untouched record: %s", describe(vs))
	}

	moved := approval()
	moved.Principal = "svc-payments-other"
	g2 := g
	g2.Principal = "svc-payments-other"
	if _, vs := w.policy.EvaluateGrant(g2, moved, evalNow); !strings.Contains(strings.Join(rulesOf(vs), " "), RuleSignatureInvalid.Name+"@"+AttrApprovalID) {
		t.Fatalf("a record moved to another principal: %q", rulesOf(vs))
	}
	g3 := g
	g3.LedgerID = "fedcba9876543210fedcba9876543210"
	if _, vs := w.policy.EvaluateGrant(g3, approval(), evalNow); strings.Join(rulesOf(vs), " ") != RuleSignatureInvalid.Name+"@"+AttrApprovalID {
		t.Fatalf("a record copied into another ledger: %q", rulesOf(vs))
	}

	// bob's key is also listed for dev: with dev requesting the grant, bob's
	// signature counts for nothing.
	g4 := g
	g4.Approvers, g4.Requester = []string{"bob@example.com"}, "dev@example.com"
	if _, vs := w.policy.EvaluateGrant(g4, approval(), evalNow); strings.Join(rulesOf(vs), " ") != RuleSignatureRequester.Name+"@"+AttrApprovalID {
		t.Fatalf("a grant dev requests under bob's signature with a key listed for dev: %q", rulesOf(vs))
	}

	twice := w.request()
	twice.Requester, twice.Requesters = "carol@example.com", nil
	twice = w.signed(t, twice, map[string]sshtest.Key{"alice@example.com": w.alice, "bob@example.com": w.bob})
	twice.Signatures["ALICE@example.com "] = twice.Signatures["alice@example.com"]
	if _, vs := w.policy.EvaluateApproval(twice, evalNow); strings.Join(rulesOf(vs), " ") != RuleSignatureSigner.Name+"@"+AttrSignatures {
		t.Fatalf("two signatures for one approver: %q", rulesOf(vs))
	}
}

// The decision says what shows the approval: signatures, only names, or
// nothing.
func TestDecisionEvidence(t *testing.T) {
	t.Parallel()
	p := mustParse(t, evalPolicy)
	if dec, vs := p.EvaluateGrant(validGrant(), nil, evalNow); len(vs) != 0 || dec.Evidence != EvidenceAsserted {
		t.Fatalf("unsigned policy: evidence %q, %s", dec.Evidence, describe(vs))
	}
	bg := validGrant()
	bg.BreakGlass, bg.Approvers, bg.Justification, bg.ExpiresAt = true, nil, "outage", stampAt(time.Hour)
	if dec, vs := p.EvaluateGrant(bg, nil, evalNow); len(vs) != 0 || dec.Evidence != EvidenceNone {
		t.Fatalf("break-glass without approvers: evidence %q, %s", dec.Evidence, describe(vs))
	}
	if dec, _ := p.EvaluateApproval(validApprovalRequest(), evalNow); dec.Evidence != EvidenceAsserted {
		t.Fatalf("unsigned approval: evidence %q", dec.Evidence)
	}
}
