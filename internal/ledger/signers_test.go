package ledger_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/evidence"
	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
	"github.com/governed-entitlements/terraform-provider-governed/internal/sshtest"
)

const signedAttackPolicy = `
approval_signatures {
  allowed_signers = "approvers.allowed_signers"
}
` + attackPolicy

// The pipeline's least-privileged role, which may insert events and keep
// documents, signs an approval in alice's name with a key of its own and
// keeps an allowed_signers listing that key for alice. The ledger is
// consistent with itself, so verification against the kept files passes;
// held to the organisation's allowed_signers, that approval is the first
// bad event, and so it is against the pinned digest of that file. An
// allowed_signers digest the ledger does not keep fails without any trust.
func TestAttackSelfMadeSignature(t *testing.T) {
	t.Parallel()
	alice, insider := sshtest.NewKey(t, "ed25519"), sshtest.NewKey(t, "ed25519")
	orgFile := []byte("alice@example.com " + alice.Public + "\n")
	insiderFile := []byte("alice@example.com " + insider.Public + "\n")
	trusted, err := policy.ParseSigners("approvers.allowed_signers", orgFile, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	ledger.ForEachStore(t, func(t *testing.T, st ledger.StoreUnderTest) {
		ctx := context.Background()
		keep := func(l *ledger.Ledger, doc []byte) {
			t.Helper()
			if err := l.KeepPolicy(ctx, policy.DocumentDigest(doc), doc, attackT0); err != nil {
				t.Fatal(err)
			}
		}
		// Recorded as the provider does: alice signs, the files are kept.
		l := st.Ledger()
		l.SetJudge(evidence.NewJudge())
		keep(l, []byte(signedAttackPolicy))
		keep(l, orgFile)
		record := func(l *ledger.Ledger, id string, key sshtest.Key, file []byte) ledger.Approval {
			t.Helper()
			statement := "governed approval v2\nticket: SEC-1\nentitlement: payments-db-read\nprincipal: svc-payments-api\nexpires_at: " +
				attackT0.Add(48*time.Hour).Format(time.RFC3339) + "\njustification: " + id + "\n"
			a := ledger.Approval{ID: id, TicketID: "SEC-1", Entitlement: "payments-db-read", Principal: "svc-payments-api",
				Approvers: []string{"alice@example.com"}, Justification: "reconciliation", Requester: "dev@example.com",
				ExpiresAt: attackT0.Add(48 * time.Hour).Format(time.RFC3339), Statement: statement, Digest: policy.Digest(statement),
				Signatures:   map[string]string{"alice@example.com": key.Sign(t, policy.SignatureNamespace, statement)},
				SignerKeys:   map[string]string{"alice@example.com": key.Fingerprint},
				PolicyDigest: policy.DocumentDigest([]byte(signedAttackPolicy)), Evidence: policy.EvidenceSigned}
			if file != nil {
				a.AllowedSignersSHA256 = policy.DocumentDigest(file)
			}
			a, err := l.RecordApproval(ctx, a, attackT0)
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
		record(l, "apr_alice", alice, orgFile)
		mustVerify(t, l, 1)

		attacker := st.Appender(t)
		keep(attacker, insiderFile)
		evil := record(attacker, "apr_evil", insider, insiderFile)
		mustVerify(t, l, 2)

		verify := func(j ledger.Judge) ledger.Report {
			t.Helper()
			l.SetJudge(j)
			r, err := l.Verify(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		r := verify(evidence.NewTrustingJudge(evidence.Trust{Signers: trusted}))
		if want := fmt.Sprintf("event %d records approval %q, whose evidence does not hold: a key it records does not hold against the trusted allowed_signers: "+
			"approver \"alice@example.com\" signed with key %s, which approvers.allowed_signers does not list", evil.Seq, evil.ID, insider.Fingerprint); r.OK || r.FirstBad != evil.Seq || !strings.HasPrefix(r.Problem, want) {
			t.Fatalf("Verify against the organisation's file = %+v; want %q", r, want)
		}
		r = verify(evidence.NewTrustingJudge(evidence.Trust{SignersPins: []string{trusted.Pin()}}))
		if r.OK || r.FirstBad != evil.Seq || !strings.Contains(r.Problem, "which is not a pinned one ("+trusted.Pin()+")") {
			t.Fatalf("Verify against the pinned digest = %+v", r)
		}

		// Without any judge: a digest the ledger does not keep.
		verify(nil)
		record(attacker, "apr_unkept", insider, []byte("not kept\n"))
		if r := verify(nil); r.OK || r.FirstBad != evil.Seq+1 || !strings.Contains(r.Problem, "which the ledger does not keep") {
			t.Fatalf("Verify with an allowed_signers digest the ledger does not keep = %+v", r)
		}
	})
}

// Once an approval has named the key files its signatures were verified
// against, a later signed approval that names none fails verification from
// a trusted point too (VerifySince), where the approval that named them is
// before the point and is not read again: as the least-privileged role, an
// insider appends such an approval after the checkpoint. A ledger none of
// whose approvals before the point named key files (recorded before the
// ledger kept them) still verifies from it. On both stores.
func TestStoresVerifySinceKeepsNamingKeyFiles(t *testing.T) {
	t.Parallel()
	alice := sshtest.NewKey(t, "ed25519")
	orgFile := []byte("alice@example.com " + alice.Public + "\n")
	ledger.ForEachStore(t, func(t *testing.T, st ledger.StoreUnderTest) {
		ctx := context.Background()
		record := func(l *ledger.Ledger, id string, file []byte, evidence string) ledger.Approval {
			t.Helper()
			statement := "governed approval v2\nticket: SEC-1\nentitlement: payments-db-read\nprincipal: svc-payments-api\nexpires_at: " +
				attackT0.Add(48*time.Hour).Format(time.RFC3339) + "\njustification: " + id + "\n"
			a := ledger.Approval{ID: id, TicketID: "SEC-1", Entitlement: "payments-db-read", Principal: "svc-payments-api",
				Approvers: []string{"alice@example.com"}, Justification: "reconciliation", Requester: "dev@example.com",
				ExpiresAt: attackT0.Add(48 * time.Hour).Format(time.RFC3339), Statement: statement, Digest: policy.Digest(statement),
				PolicyDigest: policy.DocumentDigest([]byte(attackPolicy)), Evidence: evidence}
			if evidence == policy.EvidenceSigned {
				a.PolicyDigest = policy.DocumentDigest([]byte(signedAttackPolicy))
				a.Signatures = map[string]string{"alice@example.com": alice.Sign(t, policy.SignatureNamespace, statement)}
				a.SignerKeys = map[string]string{"alice@example.com": alice.Fingerprint}
			}
			if file != nil {
				a.AllowedSignersSHA256 = policy.DocumentDigest(file)
			}
			a, err := l.RecordApproval(ctx, a, attackT0)
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
		l := st.Ledger()
		head := func() ledger.Head {
			t.Helper()
			h, err := l.Head(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return h
		}
		l.SetJudge(evidence.NewJudge())
		for _, doc := range [][]byte{[]byte(attackPolicy), []byte(signedAttackPolicy), orgFile} {
			if err := l.KeepPolicy(ctx, policy.DocumentDigest(doc), doc, attackT0); err != nil {
				t.Fatal(err)
			}
		}
		// 1 an asserted approval; 2 a signed one recorded before the ledger
		// kept key files. No approval up to 1 named key files, so from 1 the
		// signed approval that names none verifies.
		record(l, "apr_asserted", nil, policy.EvidenceAsserted)
		early := head()
		record(l, "apr_old", nil, policy.EvidenceSigned)
		if r, err := l.VerifySince(ctx, early); err != nil || !r.OK || r.From != early.Seq {
			t.Fatalf("VerifySince(%d) before any approval named key files = %+v, %v; want OK", early.Seq, r, err)
		}
		// 3 an approval that names them; 4 another asserted one; the
		// checkpoint at 4. 5 the insider's signed approval naming none.
		named := record(l, "apr_alice", orgFile, policy.EvidenceSigned)
		record(l, "apr_asserted_2", nil, policy.EvidenceAsserted)
		trusted := head()
		mustVerify(t, l, 4)
		evil := record(st.Appender(t), "apr_evil", nil, policy.EvidenceSigned)
		want := fmt.Sprintf("event %d records signed approval %q without naming the allowed_signers its signatures were verified against, "+
			"where approvals since event %d name it", evil.Seq, evil.ID, named.Seq)
		r, err := l.VerifySince(ctx, trusted)
		if err != nil || r.OK || r.From != trusted.Seq || r.FirstBad != evil.Seq || r.Problem != want {
			t.Fatalf("VerifySince(%d) = %+v, %v; want event %d: %s", trusted.Seq, r, err, evil.Seq, want)
		}
		if r, err := l.Verify(ctx); err != nil || r.OK || r.FirstBad != evil.Seq || r.Problem != want {
			t.Fatalf("Verify = %+v, %v; want event %d: %s", r, err, evil.Seq, want)
		}
		// From before the approval that named them, the walk reads it, and
		// the insider's is named all the same.
		if r, err := l.VerifySince(ctx, early); err != nil || r.OK || r.FirstBad != evil.Seq || r.Problem != want {
			t.Fatalf("VerifySince(%d) = %+v, %v; want event %d", early.Seq, r, err, evil.Seq)
		}
	})
}
