package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/governed-entitlements/terraform-provider-governed/internal/sshtest"
)

// aliasPolicy is evalPolicy with identity blocks: Alice also signs in to CI
// as github:alice-example, and Bob as bob-ci.
const aliasPolicy = `
identity "Alice@Example.com" {
  aliases = ["GitHub:Alice-Example", "alice.example@corp.example"]
}

identity "bob@example.com" {
  aliases = ["bob-ci"]
}
` + evalPolicy

func TestIdentityAliasesParse(t *testing.T) {
	t.Parallel()
	p := mustParse(t, aliasPolicy)
	for in, want := range map[string]string{
		"github:alice-example":       "alice@example.com",
		" GITHUB:Alice-Example ":     "alice@example.com",
		"alice.example@corp.example": "alice@example.com",
		"alice@example.com":          "alice@example.com",
		"BOB-CI":                     "bob@example.com",
		"carol@example.com":          "carol@example.com",
		"":                           "",
	} {
		if got := p.CanonicalIdentity(in); got != want {
			t.Errorf("CanonicalIdentity(%q) = %q, want %q", in, got, want)
		}
	}
	if !p.SameIdentity("github:alice-example", "Alice@example.com") {
		t.Error("an alias and its identity are not the same identity")
	}
	if p.SameIdentity("github:alice-example", "bob-ci") || p.SameIdentity("", "") {
		t.Error("different people, or nobody, compare as the same identity")
	}
	// Groups hold identities: an alias written as a member stands for its identity.
	q := mustParse(t, `
identity "alice@example.com" {
  aliases = ["github:alice-example"]
}
approver_group "ops" {
  members = ["github:alice-example", "bob@example.com"]
}
entitlement "e" {
  max_ttl    = "1h"
  approvers  = ["group:ops", "bob-ci"]
  principals = ["svc-*"]
}
`)
	if got := q.Groups["ops"]; !slices.Equal(got, []string{"alice@example.com", "bob@example.com"}) {
		t.Errorf("group members = %q", got)
	}
	set := q.Entitlements["e"].ApproverSet(q)
	if !set["alice@example.com"] || set["github:alice-example"] {
		t.Errorf("approver set %v does not hold alice@example.com by her identity", set)
	}
	// Without identity blocks nothing changes.
	if got := mustParse(t, evalPolicy).CanonicalIdentity("GitHub:Alice-Example"); got != "github:alice-example" {
		t.Errorf("CanonicalIdentity without identities = %q", got)
	}
	var none *Policy
	if got := none.CanonicalIdentity(" Bob "); got != "bob" {
		t.Errorf("nil policy: CanonicalIdentity = %q", got)
	}
}

func TestIdentityAliasesParseErrors(t *testing.T) {
	t.Parallel()
	const ent = "\nentitlement \"e\" {\n  max_ttl = \"1h\"\n  approvers = [\"alice@example.com\"]\n  principals = [\"svc-*\"]\n}\n"
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "alias claimed by two identities",
			src:  "identity \"alice@example.com\" {\n  aliases = [\"ci-bot\"]\n}\nidentity \"bob@example.com\" {\n  aliases = [\"CI-Bot\"]\n}\n" + ent,
			want: []string{"policy.hcl:5,14: Alias claimed twice", `Identities "alice@example.com" and "bob@example.com" both list "CI-Bot"`, "also at policy.hcl:2,14"},
		},
		{
			name: "alias equal to another identity",
			src:  "identity \"alice@example.com\" {\n  aliases = [\"Bob@example.com\"]\n}\nidentity \"bob@example.com\" {\n  aliases = [\"bob-ci\"]\n}\n" + ent,
			want: []string{"policy.hcl:2,14: Alias is another identity", `"bob@example.com" is an identity of its own (defined at policy.hcl:4,1)`},
		},
		{
			name: "alias equal to its own identity",
			src:  "identity \"alice@example.com\" {\n  aliases = [\"ALICE@example.com\"]\n}\n" + ent,
			want: []string{"policy.hcl:2,14: Invalid alias", "lists itself"},
		},
		{
			name: "alias listed twice",
			src:  "identity \"alice@example.com\" {\n  aliases = [\"ci\", \"CI \"]\n}\n" + ent,
			want: []string{"policy.hcl:2,20: Duplicate alias"},
		},
		{
			name: "identity defined twice",
			src:  "identity \"alice@example.com\" {\n  aliases = [\"a\"]\n}\nidentity \"Alice@Example.com\" {\n  aliases = [\"b\"]\n}\n" + ent,
			want: []string{"policy.hcl:4,10: Duplicate identity", "already defined at policy.hcl:1,1"},
		},
		{
			name: "no aliases",
			src:  "identity \"alice@example.com\" {\n  aliases = []\n}\n" + ent,
			want: []string{"policy.hcl:2,13: Empty aliases"},
		},
		{
			name: "aliases missing",
			src:  "identity \"alice@example.com\" {\n}\n" + ent,
			want: []string{"policy.hcl:1,", `"aliases" is required`},
		},
		{
			name: "wildcard alias",
			src:  "identity \"alice@example.com\" {\n  aliases = [\"github:*\"]\n}\n" + ent,
			want: []string{"policy.hcl:2,14: Invalid alias", "wildcard"},
		},
		{
			name: "group as an alias",
			src:  "identity \"alice@example.com\" {\n  aliases = [\"group:security\"]\n}\n" + ent,
			want: []string{"policy.hcl:2,14: Invalid alias", "refers to a group"},
		},
		{
			name: "empty identity",
			src:  "identity \" \" {\n  aliases = [\"x\"]\n}\n" + ent,
			want: []string{"policy.hcl:1,10: Invalid identity name"},
		},
		{
			name: "unknown attribute",
			src:  "identity \"alice@example.com\" {\n  aliases = [\"x\"]\n  email = \"a\"\n}\n" + ent,
			want: []string{"policy.hcl:3,3: Unsupported argument"},
		},
		{
			name: "approvers the same through an alias",
			src:  "identity \"alice@example.com\" {\n  aliases = [\"github:alice\"]\n}\nentitlement \"e\" {\n  max_ttl = \"1h\"\n  approvers = [\"alice@example.com\", \"github:alice\"]\n  principals = [\"svc-*\"]\n}\n",
			want: []string{"policy.hcl:6,37: Duplicate approver", "the same approver through the policy's identity aliases"},
		},
		{
			name: "group members the same through an alias",
			src:  "identity \"alice@example.com\" {\n  aliases = [\"github:alice\"]\n}\napprover_group \"g\" {\n  members = [\"github:alice\", \"Alice@example.com\"]\n}\n" + ent,
			want: []string{"policy.hcl:5,30: Duplicate group member", "the same identity through the policy's identity aliases"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("policy.hcl", []byte(tt.src))
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%s", w, err)
				}
			}
		})
	}
}

// Separation of duties and approver authority see through aliases: a CI
// login and an e-mail address are one person.
func TestEvaluateGrantThroughAliases(t *testing.T) {
	t.Parallel()
	p := mustParse(t, aliasPolicy)
	tests := []struct {
		name   string
		edit   func(r *GrantRequest)
		want   []string
		detail string
	}{
		{name: "an alias of an authorised approver is authorised", edit: func(r *GrantRequest) { r.Approvers = []string{"github:alice-example"} }},
		{
			name: "the resource's requester approves under an alias",
			edit: func(r *GrantRequest) {
				r.Requester, r.Approvers = "alice@example.com", []string{"GitHub:Alice-Example", "bob@example.com"}
			},
			want: []string{"approvers.separation@approvers"}, detail: `approver "GitHub:Alice-Example" is the resource's requester`,
		},
		{
			name: "the pipeline's requester is an alias of the approver",
			edit: func(r *GrantRequest) {
				r.Requesters = append(r.Requesters, Requester{Identity: "bob-ci", Whose: "the pipeline's"})
				r.Approvers = []string{"alice@example.com", "bob@example.com"}
			},
			want: []string{"approvers.separation@approvers"}, detail: `approver "bob@example.com" is the pipeline's requester`,
		},
		{
			name: "one person under two names is one approver",
			edit: func(r *GrantRequest) {
				r.Entitlement, r.TicketID = "payments-db-write", "OPS-1"
				r.Approvers = []string{"alice@example.com", "github:alice-example"}
			},
			want: []string{"approvers.duplicate@approvers"},
		},
		{
			name: "an approval record's approver under another name is in scope",
			edit: func(r *GrantRequest) { r.ApprovalID, r.Approvers = "apr_1", []string{"alice.example@corp.example"} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := validGrant()
			tt.edit(&r)
			var approval *Approval
			if r.ApprovalID != "" {
				approval = validApprovalRecord()
				approval.ID, approval.Approvers = r.ApprovalID, []string{"GitHub:Alice-Example"}
			}
			_, vs := p.EvaluateGrant(r, approval, evalNow)
			if got := rulesOf(vs); !slices.Equal(got, tt.want) {
				t.Fatalf("violations = %v, want %v\n%s", got, tt.want, describe(vs))
			}
			if tt.detail != "" && !strings.Contains(describe(vs), tt.detail) {
				t.Errorf("no violation says %q:\n%s", tt.detail, describe(vs))
			}
		})
	}
}

// Every requester counts, wherever it was named; a blank one is refused.
func TestEvaluateRequesterList(t *testing.T) {
	t.Parallel()
	p := mustParse(t, evalPolicy)
	pipeline := func(id string) Requester { return Requester{Identity: id, Whose: "the pipeline's"} }
	provider := func(id string) Requester { return Requester{Identity: id, Whose: "the provider's"} }
	tests := []struct {
		name   string
		edit   func(r *GrantRequest)
		want   []string
		detail string
	}{
		{name: "none approves", edit: func(r *GrantRequest) {
			r.Requesters = []Requester{provider("ci@example.com"), pipeline("dev2@example.com")}
		}},
		{
			name: "the pipeline's requester approves though the provider names another",
			edit: func(r *GrantRequest) {
				r.Requesters = []Requester{provider("ci@example.com"), pipeline("Alice@example.com")}
			},
			want: []string{"approvers.separation@approvers"}, detail: `approver "alice@example.com" is the pipeline's requester`,
		},
		{
			name: "every requester is the approver",
			edit: func(r *GrantRequest) {
				r.Requester = "alice@example.com"
				r.Requesters = []Requester{provider("alice@example.com"), pipeline("ALICE@example.com")}
			},
			want: []string{"approvers.separation@approvers"}, detail: `is the resource's, the provider's and the pipeline's requester`,
		},
		{
			name: "no requester's approval counts toward min_approvals",
			edit: func(r *GrantRequest) {
				r.Entitlement, r.TicketID = "payments-db-write", "OPS-1"
				r.Approvers = []string{"alice@example.com", "bob@example.com", "carol@example.com"}
				r.Requesters = []Requester{provider("ci@example.com"), pipeline("bob@example.com")}
			},
			// carol has no authority over payments-db-write; alice is the only one who counts.
			want: []string{"approvers.unauthorised@approvers", "approvers.separation@approvers"},
		},
		{
			name: "a blank resource requester",
			edit: func(r *GrantRequest) { r.Requester = " \t" },
			want: []string{"requester.blank@requester"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := validGrant()
			tt.edit(&r)
			_, vs := p.EvaluateGrant(r, nil, evalNow)
			if got := rulesOf(vs); !slices.Equal(got, tt.want) {
				t.Fatalf("violations = %v, want %v\n%s", got, tt.want, describe(vs))
			}
			if tt.detail != "" && !strings.Contains(describe(vs), tt.detail) {
				t.Errorf("no violation says %q:\n%s", tt.detail, describe(vs))
			}
		})
	}

	// Approval records count every requester the same way.
	a := validApprovalRequest()
	a.Requesters = append(a.Requesters, pipeline("bob@example.com"))
	_, vs := p.EvaluateApproval(a, evalNow)
	if got := rulesOf(vs); !slices.Contains(got, "approvers.separation@approvers") {
		t.Errorf("approval whose approver is the pipeline's requester: violations = %v", got)
	}
}

// An approver's key is found under any of their names, and a requester's key
// never counts, whichever name allowed_signers lists it under.
func TestSignaturesThroughAliases(t *testing.T) {
	t.Parallel()
	alice, bob := sshtest.NewKey(t, "ed25519"), sshtest.NewKey(t, "ed25519")
	dir := t.TempDir()
	allowed := "github:alice-example " + alice.Public + "\nbob@example.com " + bob.Public + "\n"
	if err := os.WriteFile(filepath.Join(dir, "approvers.allowed_signers"), []byte(allowed), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := "approval_signatures {\n  allowed_signers = \"approvers.allowed_signers\"\n}\n" + aliasPolicy
	p, err := Parse(filepath.Join(dir, "policy.hcl"), []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	sign := func(r ApprovalRequest) ApprovalRequest {
		st := p.Statement(r)
		r.Signatures = map[string]string{
			"alice@example.com": alice.Sign(t, SignatureNamespace, st),
			"bob@example.com":   bob.Sign(t, SignatureNamespace, st),
		}
		return r
	}
	dec, vs := p.EvaluateApproval(sign(validApprovalRequest()), evalNow)
	if len(vs) != 0 || len(dec.Signers) != 2 {
		t.Fatalf("alice's key, listed under her alias, does not count: %d signers\n%s", len(dec.Signers), describe(vs))
	}

	// The requester signs in to CI as bob-ci; bob's key is listed under his e-mail.
	r := validApprovalRequest()
	r.Approvers = []string{"alice@example.com", "bob@example.com"}
	r.Requesters = append(r.Requesters, Requester{Identity: "bob-ci", Whose: "the pipeline's"})
	_, vs = p.EvaluateApproval(sign(r), evalNow)
	if got := rulesOf(vs); !slices.Contains(got, "signature.requester@signatures") || !slices.Contains(got, "approvers.separation@approvers") {
		t.Fatalf("violations = %v, want signature.requester and approvers.separation\n%s", got, describe(vs))
	}
}

// A policy's digest is the SHA-256 of its bytes, and its key files' pin is
// the SHA-256 of each, as sha256sum prints them.
func TestPolicyDigests(t *testing.T) {
	t.Parallel()
	p := mustParse(t, evalPolicy)
	sum := sha256.Sum256([]byte(evalPolicy))
	if p.Digest != hex.EncodeToString(sum[:]) {
		t.Errorf("Digest = %q, want the SHA-256 of the document", p.Digest)
	}
	if mustParse(t, evalPolicy+"\n").Digest == p.Digest {
		t.Error("a changed document has the same digest")
	}
	dec, _ := p.EvaluateGrant(validGrant(), nil, evalNow)
	adec, _ := p.EvaluateApproval(validApprovalRequest(), evalNow)
	if dec.PolicyDigest != p.Digest || adec.PolicyDigest != p.Digest {
		t.Errorf("decisions name %q and %q, want %q", dec.PolicyDigest, adec.PolicyDigest, p.Digest)
	}

	digest := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	w := newSignedWorld(t, "ed25519", nil, nil)
	as, err := os.ReadFile(filepath.Join(w.dir, "approvers.allowed_signers"))
	if err != nil {
		t.Fatal(err)
	}
	if got := w.policy.Signers.Pin(); got != digest(string(as)) {
		t.Errorf("Pin = %q, want the allowed_signers file's SHA-256", got)
	}
	w = newSignedWorld(t, "ed25519", nil, func(w *signedWorld) []string { return []string{w.mallory.Public} })
	as, _ = os.ReadFile(filepath.Join(w.dir, "approvers.allowed_signers"))
	rk, _ := os.ReadFile(filepath.Join(w.dir, "approvers.revoked"))
	if got, want := w.policy.Signers.Pin(), digest(string(as))+","+digest(string(rk)); got != want {
		t.Errorf("Pin = %q, want %q", got, want)
	}
}
