package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/sshtest"
)

// TestCheckRecorded holds the keys an approval record counted (by
// fingerprint; the signatures are verified apart) to an
// allowed_signers file given as a document, as the ledger keeps it or as an
// auditor has it: listed for the approver (through the policy's identity
// aliases once WithIdentities gives them), valid at the approval's time, not
// revoked; and ListedName gives the name ssh-keygen -I must use.
func TestCheckRecorded(t *testing.T) {
	t.Parallel()
	alice, mallory := sshtest.NewKey(t, "ed25519"), sshtest.NewKey(t, "ed25519")
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	keys := map[string]string{"alice@example.com": alice.Fingerprint}
	approvers := []string{"alice@example.com"}
	aliased, err := Parse("", []byte("identity \"alice@example.com\" {\n  aliases = [\"github:alice\"]\n}\n"+evalPolicy))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, allowed, revoked string
		aliases                *Policy
		want, listed           string
	}{
		{"listed for the approver", "alice@example.com " + alice.Public, "", nil, "", "alice@example.com"},
		{"listed by a pattern", "a*@example.com " + alice.Public, "", nil, "", "alice@example.com"},
		{"listed for an alias, with the aliases", "github:alice " + alice.Public, "", aliased, "", "github:alice"},
		{"listed for an alias, without them", "github:alice " + alice.Public, "", nil, `lists for github:alice, not for "alice@example.com" (signature.signer)`, ""},
		{"excluded by a negated pattern", "a*@example.com,!alice@example.com " + alice.Public, "", nil, "(signature.signer)", ""},
		{"listed for another approver only", "mallory@example.com " + alice.Public, "", nil, `lists for mallory@example.com, not for "alice@example.com"`, ""},
		{"listed for the requester too", "alice@example.com,dev@example.com " + alice.Public, "", nil, `lists for the requester "dev@example.com" (signature.requester)`, "alice@example.com"},
		{"not listed", "alice@example.com " + mallory.Public, "", nil, "which trusted does not list", ""},
		{"revoked", "alice@example.com " + alice.Public, alice.Public, nil, "which revoked lists as revoked (signature.revoked)", "alice@example.com"},
		{"valid only later", `alice@example.com valid-after="20260302Z" ` + alice.Public, "", nil, "(signature.validity)", "alice@example.com"},
		{"valid only before", `alice@example.com valid-before="20260301090000Z" ` + alice.Public, "", nil, "(signature.validity)", "alice@example.com"},
		{"valid then", `alice@example.com valid-after="20260301Z",valid-before="20260302Z" ` + alice.Public, "", nil, "", "alice@example.com"},
		{"for another namespace", `alice@example.com namespaces="git" ` + alice.Public, "", nil, "(signature.namespace)", "alice@example.com"},
	} {
		var revoked []byte
		if tc.revoked != "" {
			revoked = []byte(tc.revoked + "\n")
		}
		s, err := ParseSigners("trusted", []byte(tc.allowed+"\n"), "revoked", revoked)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		s = s.WithIdentities(tc.aliases)
		got := s.CheckRecorded(approvers, keys, []string{"dev@example.com"}, at)
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%s: CheckRecorded = %q, want %q", tc.name, got, tc.want)
		}
		if listed := s.ListedName(alice.Fingerprint, "alice@example.com"); listed != tc.listed {
			t.Errorf("%s: ListedName = %q, want %q", tc.name, listed, tc.listed)
		}
	}
	// A record that names a key for someone who is not its approver.
	s, err := ParseSigners("trusted", []byte("alice@example.com "+alice.Public+"\n"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CheckRecorded(approvers, map[string]string{"mallory@example.com": mallory.Fingerprint}, nil, at); !strings.Contains(got, "who is not one of its approvers") {
		t.Errorf("CheckRecorded of a key for someone else = %q", got)
	}
	if _, err := ParseSigners("trusted", []byte("alice@example.com cert-authority "+alice.Public+"\n"), "", nil); err == nil || !strings.HasPrefix(err.Error(), "trusted: line 1:") {
		t.Errorf("ParseSigners of a cert-authority line = %v", err)
	}
}
