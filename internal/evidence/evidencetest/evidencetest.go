// Package evidencetest builds, for tests, a ledger holding every kind of
// grant life that governed evidence judges, through the ledger's own API at
// chosen instants, with a real SSH signature for the signed approval.
package evidencetest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
	"github.com/governed-entitlements/terraform-provider-governed/internal/sshtest"
)

// PolicyDocument is the policy every grant of the fixture was judged by.
const PolicyDocument = `entitlement "db-read" {
  target        = "ledger"
  role          = "reader"
  max_ttl       = "7d"
  approvers     = ["alice@example.com", "bob@example.com"]
  min_approvals = 1
  principals    = ["svc-*"]
  break_glass {
    max_ttl       = "4h"
    min_approvals = 0
  }
}
`

// Want is what evidence must say of each grant of the fixture: its
// verdicts, and whether it is overdue.
type Want struct {
	Authorised, TimeBound, RevokedOnTime string
	Overdue                              bool
	Lateness                             string
}

// Fixture is a ledger built by Build.
type Fixture struct {
	Path   string
	Ledger *ledger.Ledger
	// Want holds the expected verdicts by grant id. OutOfBand is the grant
	// the caller revokes out of band (governed revoke) before judging;
	// Want already holds its verdicts as of then.
	Want      map[string]Want
	OutOfBand string
	// T0 is when the grants are issued, ten days before Now, the instant to
	// judge them at: the hour before the fixture was built, so that a
	// revocation made through the command line (which records the real
	// time) comes after it.
	T0, Now time.Time
	// Signer is the key that signed the signed approval.
	Signer sshtest.Key
	// SignedApproval is the id of the signed approval.
	SignedApproval string
}

// Option changes what Build writes.
type Option int

// OnlyAllowed leaves out the grants whose decisions the fixture's policy did
// not allow (grt_toolong, beyond its max_ttl, and grt_forged, whose
// signature does not verify): verification of meaning, which judges every
// decision against its policy, finds them, so that a ledger with them does
// not verify once a judge is set (as governed sets one).
const OnlyAllowed Option = 1

// Build writes the fixture into a new SQLite ledger in a temporary directory.
func Build(t testing.TB, opts ...Option) *Fixture {
	onlyAllowed := false
	for _, o := range opts {
		onlyAllowed = onlyAllowed || o == OnlyAllowed
	}
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "governed.db")
	l, err := ledger.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	pol, err := policy.Parse("", []byte(PolicyDocument))
	if err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	Now := time.Now().UTC().Truncate(time.Hour)
	T0 := Now.Add(-10 * day)
	f := &Fixture{Path: path, Ledger: l, Want: map[string]Want{}, OutOfBand: "grt_oob", T0: T0, Now: Now}
	if err := l.KeepPolicy(ctx, pol.Digest, pol.Document, T0); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	grant := func(id string, expires time.Duration) ledger.Grant {
		return ledger.Grant{ID: id, Principal: "svc-" + id, Entitlement: "db-read", TicketID: "SEC-1", Target: "ledger",
			Role: "reader", Approvers: []string{"alice@example.com"}, Requester: "dev@example.com", TTL: policy.FormatDuration(expires),
			ExpiresAt: T0.Add(expires).Format(time.RFC3339), PolicyDigest: pol.Digest, Evidence: "asserted"}
	}
	issue := func(g ledger.Grant) {
		t.Helper()
		_, err := l.IssueGrant(ctx, g, T0)
		must(err)
	}
	expire := func(id string, at time.Time, targetErr error) {
		t.Helper()
		_, _, err := l.ExpireGrant(ctx, id, at, targetErr)
		must(err)
	}

	// Expired an hour after its expiry, by the next scheduled apply.
	issue(grant("grt_ontime", day))
	expire("grt_ontime", T0.Add(day+time.Hour), nil)
	f.Want["grt_ontime"] = Want{Authorised: "asserted", TimeBound: "yes", RevokedOnTime: "yes", Lateness: "1h"}

	// Expired 30 hours late: the scheduled apply did not run.
	issue(grant("grt_late", day))
	expire("grt_late", T0.Add(day+30*time.Hour), nil)
	f.Want["grt_late"] = Want{Authorised: "asserted", TimeBound: "yes", RevokedOnTime: "no", Lateness: "1d6h"}

	// Still in force eight days after its expiry.
	issue(grant("grt_overdue", 2*day))
	f.Want["grt_overdue"] = Want{Authorised: "asserted", TimeBound: "yes", RevokedOnTime: "no", Overdue: true, Lateness: "8d"}

	// Still in force, expiring after now.
	notDue := grant("grt_notdue", 7*day)
	notDue.ExpiresAt = Now.Add(day).Format(time.RFC3339)
	_, err = l.IssueGrant(ctx, notDue, Now.Add(-day))
	must(err)
	f.Want["grt_notdue"] = Want{Authorised: "asserted", TimeBound: "yes", RevokedOnTime: "not_due"}

	// Revoked out of band by the caller, before its expiry.
	oob := grant("grt_oob", 3*day)
	oob.ExpiresAt = Now.Add(2 * day).Format(time.RFC3339)
	_, err = l.IssueGrant(ctx, oob, Now.Add(-day))
	must(err)
	f.Want["grt_oob"] = Want{Authorised: "asserted", TimeBound: "yes", RevokedOnTime: "yes"}

	// Break-glass with no approver, expired on time.
	bg := grant("grt_breakglass", 4*time.Hour)
	bg.BreakGlass, bg.Approvers, bg.Evidence, bg.Justification = true, nil, "none", "INC-7: payments down"
	issue(bg)
	expire("grt_breakglass", T0.Add(5*time.Hour), nil)
	f.Want["grt_breakglass"] = Want{Authorised: "no", TimeBound: "yes", RevokedOnTime: "yes", Lateness: "1h"}

	// Longer than the entitlement's max_ttl.
	if !onlyAllowed {
		long := grant("grt_toolong", 8*day)
		issue(long)
		expire("grt_toolong", T0.Add(8*day), nil)
		f.Want["grt_toolong"] = Want{Authorised: "asserted", TimeBound: "no", RevokedOnTime: "yes"}
	}

	// The target refused the revocation; a later run carried it out.
	issue(grant("grt_retried", day))
	expire("grt_retried", T0.Add(day+time.Hour), errors.New("connection refused"))
	_, _, err = l.CompleteRevocation(ctx, "grt_retried", T0.Add(day+3*time.Hour), "")
	must(err)
	f.Want["grt_retried"] = Want{Authorised: "asserted", TimeBound: "yes", RevokedOnTime: "yes", Lateness: "3h"}

	// Signed by alice, with a real SSH signature over the statement.
	f.Signer = sshtest.NewKey(t, "ed25519")
	id, err := l.ID(ctx)
	must(err)
	signed := func(approvalID, grantID string, sign func(statement string) string) {
		t.Helper()
		req := policy.ApprovalRequest{TicketID: "SEC-2", Entitlement: "db-read", Principal: "svc-" + grantID,
			Approvers: []string{"alice@example.com"}, Justification: "nightly reconciliation", Requester: "dev@example.com",
			ExpiresAt: T0.Add(2 * day).Format(time.RFC3339), LedgerID: id}
		st := pol.Statement(req)
		a := ledger.Approval{ID: approvalID, TicketID: req.TicketID, Entitlement: req.Entitlement, Principal: req.Principal,
			Approvers: req.Approvers, Justification: req.Justification, Requester: req.Requester, ExpiresAt: req.ExpiresAt,
			Statement: st, Digest: policy.Digest(st), Signatures: map[string]string{"alice@example.com": sign(st)},
			SignerKeys: map[string]string{"alice@example.com": f.Signer.Fingerprint}, PolicyDigest: pol.Digest, Evidence: "signed"}
		_, err := l.RecordApproval(ctx, a, T0.Add(-time.Hour))
		must(err)
		_, err = l.UseApproval(ctx, approvalID, grantID, T0)
		must(err)
		g := grant(grantID, day)
		g.ApprovalID, g.Evidence, g.TicketID = approvalID, "signed", "SEC-2"
		issue(g)
		expire(grantID, T0.Add(day+2*time.Hour), nil)
	}
	f.SignedApproval = "apr_signed"
	signed("apr_signed", "grt_signed", func(st string) string { return f.Signer.Sign(t, policy.SignatureNamespace, st) })
	f.Want["grt_signed"] = Want{Authorised: "signed", TimeBound: "yes", RevokedOnTime: "yes", Lateness: "2h"}

	// Recorded as signed, but the signature is over another text.
	if !onlyAllowed {
		signed("apr_forged", "grt_forged", func(string) string {
			return f.Signer.Sign(t, policy.SignatureNamespace, "some other statement")
		})
		f.Want["grt_forged"] = Want{Authorised: "no", TimeBound: "yes", RevokedOnTime: "yes", Lateness: "2h"}
	}
	return f
}

// BenchPolicy is the policy of the grants Populate writes.
const BenchPolicy = `entitlement "bench-read" {
  max_ttl    = "7d"
  approvers  = ["alice@example.com", "bob@example.com"]
  principals = ["svc-*"]
}
`

// Populate appends total grants to l through its own API, each with its
// life, issued one second apart from t0: one in ten made under a recorded
// approval, most expired an hour after their expiry, one in a hundred
// revoked out of band before it, one in a hundred still in force past it.
func Populate(ctx context.Context, l *ledger.Ledger, total int, t0 time.Time) error {
	pol, err := policy.Parse("", []byte(BenchPolicy))
	if err != nil {
		return err
	}
	if err := l.KeepPolicy(ctx, pol.Digest, pol.Document, t0); err != nil {
		return err
	}
	for i := range total {
		at := t0.Add(time.Duration(i) * time.Second)
		g := ledger.Grant{ID: fmt.Sprintf("grt_%020d", i), Principal: fmt.Sprintf("svc-%d", i%1000),
			Entitlement: "bench-read", TicketID: fmt.Sprintf("SEC-%d", i), Approvers: []string{"alice@example.com"},
			Requester: "dev@example.com", Target: "ledger", TTL: "1d", ExpiresAt: at.Add(24 * time.Hour).Format(time.RFC3339),
			PolicyDigest: pol.Digest, Evidence: "asserted"}
		if i%10 == 0 {
			a := ledger.Approval{ID: fmt.Sprintf("apr_%020d", i), TicketID: g.TicketID, Entitlement: g.Entitlement,
				Principal: g.Principal, Approvers: g.Approvers, Justification: "bench", Requester: g.Requester,
				ExpiresAt: g.ExpiresAt, Statement: "statement " + g.TicketID, PolicyDigest: pol.Digest, Evidence: "asserted"}
			a.Digest = policy.Digest(a.Statement)
			if _, err := l.RecordApproval(ctx, a, at); err != nil {
				return err
			}
			if _, err := l.UseApproval(ctx, a.ID, g.ID, at); err != nil {
				return err
			}
			g.ApprovalID = a.ID
		}
		if _, err := l.IssueGrant(ctx, g, at); err != nil {
			return err
		}
		switch i % 100 {
		case 1: // still in force past its expiry
		case 2:
			_, _, err = l.RevokeGrant(ctx, g.ID, at.Add(time.Hour), ledger.ReasonOutOfBand, "incident", nil)
		default:
			_, _, err = l.ExpireGrant(ctx, g.ID, at.Add(25*time.Hour), nil)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
