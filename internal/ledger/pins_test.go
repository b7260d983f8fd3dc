package ledger_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/evidence"
	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// A Judge that pins policies (ledger.PolicyPinner) holds every decision to
// them, on every store: the fixture verifies pinned to its policy; pinned to
// another, its first decision is named; from a trusted point (VerifySince) a
// decision after it, under a policy the appender kept and which allows it,
// is held to the pins as well; a decision that names no policy digest cannot
// be held to a pin and is named too.
func TestStoresPinnedPolicies(t *testing.T) {
	t.Parallel()
	other := policy.DocumentDigest([]byte(signedAttackPolicy))
	ledger.ForEachStore(t, func(t *testing.T, st ledger.StoreUnderTest) {
		ctx := context.Background()
		l := st.Ledger()
		digest := attackFixture(t, l)
		verify := func(pins ...string) ledger.Report {
			t.Helper()
			l.SetJudge(evidence.NewTrustingJudge(evidence.Trust{PolicyPins: pins}))
			r, err := l.Verify(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		if r := verify(other, digest); !r.OK {
			t.Fatalf("Verify pinned to the fixture's policy = %+v", r)
		}
		if r := verify(other); r.OK || r.FirstBad != 1 || r.Problem != `event 1 records a decision about approval "apr_1" under policy digest `+
			digest+", which is not one of the pinned policies ("+other+")" {
			t.Fatalf("Verify pinned to another policy = %+v", r)
		}
		trusted, err := l.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// The appender keeps another policy and issues a break-glass grant
		// under it, which that policy allows.
		appender := st.Appender(t)
		if err := appender.KeepPolicy(ctx, other, []byte(signedAttackPolicy), attackT0); err != nil {
			t.Fatal(err)
		}
		if _, err := appender.IssueGrant(ctx, ledger.Grant{ID: "grt_unpinned", Principal: "svc-payments-api",
			Entitlement: "payments-db-read", TicketID: "SEC-3", Justification: "incident INC-9", BreakGlass: true, Target: "ledger",
			Role: "payments_read", ExpiresAt: attackT0.Add(4 * time.Hour).Format(time.RFC3339), PolicyDigest: other,
			Evidence: policy.EvidenceNone}, attackT0.Add(3*time.Hour)); err != nil {
			t.Fatal(err)
		}
		l.SetJudge(evidence.NewJudge())
		if r, err := l.VerifySince(ctx, trusted); err != nil || !r.OK {
			t.Fatalf("VerifySince unpinned = %+v, %v; the kept policy allows the grant", r, err)
		}
		l.SetJudge(evidence.NewTrustingJudge(evidence.Trust{PolicyPins: []string{digest}}))
		r, err := l.VerifySince(ctx, trusted)
		if err != nil || r.OK || r.From != trusted.Seq || r.FirstBad != trusted.Seq+1 ||
			!strings.Contains(r.Problem, `grant "grt_unpinned" under policy digest `+other+", which is not one of the pinned policies") {
			t.Fatalf("VerifySince pinned = %+v, %v", r, err)
		}
	})
	// A ledger whose decisions name no policy digest (recorded before the
	// ledger kept policies) cannot be held to pinned policies.
	ledger.ForEachStore(t, func(t *testing.T, st ledger.StoreUnderTest) {
		ctx := context.Background()
		l := st.Ledger()
		if _, err := l.IssueGrant(ctx, ledger.Grant{ID: "grt_old", Principal: "svc-payments-api", Entitlement: "payments-db-read",
			TicketID: "SEC-1", Approvers: []string{"alice@example.com"}, Target: "ledger", Role: "payments_read",
			ExpiresAt: attackT0.Add(time.Hour).Format(time.RFC3339)}, attackT0); err != nil {
			t.Fatal(err)
		}
		mustVerify(t, l, 1)
		l.SetJudge(evidence.NewTrustingJudge(evidence.Trust{PolicyPins: []string{other}}))
		r, err := l.Verify(ctx)
		if err != nil || r.OK || r.FirstBad != 1 || r.Problem != `event 1 records a decision about grant "grt_old" that names no policy digest, `+
			"so it cannot be held to the pinned policies ("+other+")" {
			t.Fatalf("Verify of a decision naming no policy, pinned = %+v, %v", r, err)
		}
	})
}
