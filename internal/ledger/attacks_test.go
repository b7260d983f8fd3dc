package ledger_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/checkpoint"
	"github.com/governed-entitlements/terraform-provider-governed/internal/evidence"
	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// The attacks on a ledger that issue 10 describes, on every store: what the
// hash chain alone cannot show is shown by verification of meaning, or by a
// checkpoint.

var attackT0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

const attackPolicy = `
entitlement "payments-db-read" {
  description   = "Read-only access to the payments database"
  target        = "ledger"
  role          = "payments_read"
  max_ttl       = "7d"
  approvers     = ["alice@example.com"]
  min_approvals = 1
  principals    = ["svc-payments-*"]
  break_glass {
    max_ttl       = "4h"
    min_approvals = 0
  }
}
`

// attackFixture records, as the provider would, under attackPolicy:
//
//	1 apr_1 recorded   2 apr_1 used by grt_1   3 grt_1 issued
//	4 grt_bg issued (break-glass, no approver)   5 grt_1 revoked
func attackFixture(t *testing.T, l *ledger.Ledger) (digest string) {
	t.Helper()
	ctx := context.Background()
	l.SetJudge(evidence.NewJudge())
	digest = policy.DocumentDigest([]byte(attackPolicy))
	if err := l.KeepPolicy(ctx, digest, []byte(attackPolicy), attackT0); err != nil {
		t.Fatal(err)
	}
	expires := attackT0.Add(7 * 24 * time.Hour).Format(time.RFC3339)
	statement := "governed approval v2\nticket: SEC-1\n"
	if _, err := l.RecordApproval(ctx, ledger.Approval{ID: "apr_1", TicketID: "SEC-1", Entitlement: "payments-db-read",
		Principal: "svc-payments-api", Approvers: []string{"alice@example.com"}, Justification: "reconciliation",
		ExpiresAt: expires, Statement: statement, Digest: policy.Digest(statement), PolicyDigest: digest,
		Evidence: policy.EvidenceAsserted}, attackT0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.UseApproval(ctx, "apr_1", "grt_1", attackT0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.IssueGrant(ctx, ledger.Grant{ID: "grt_1", Principal: "svc-payments-api", Entitlement: "payments-db-read",
		TicketID: "SEC-1", Approvers: []string{"alice@example.com"}, ApprovalID: "apr_1", Target: "ledger",
		Role: "payments_read", ExpiresAt: expires, PolicyDigest: digest, Evidence: policy.EvidenceAsserted}, attackT0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.IssueGrant(ctx, ledger.Grant{ID: "grt_bg", Principal: "svc-payments-api", Entitlement: "payments-db-read",
		TicketID: "SEC-2", Justification: "incident INC-7", BreakGlass: true, Target: "ledger", Role: "payments_read",
		ExpiresAt: attackT0.Add(4 * time.Hour).Format(time.RFC3339), PolicyDigest: digest, Evidence: policy.EvidenceNone},
		attackT0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.RevokeGrant(ctx, "grt_1", attackT0.Add(2*time.Hour), ledger.ReasonOutOfBand, "INC-8", nil); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, l, 5)
	return digest
}

func mustVerify(t *testing.T, l *ledger.Ledger, events int64) {
	t.Helper()
	r, err := l.Verify(context.Background())
	if err != nil || !r.OK || r.Events != events {
		t.Fatalf("Verify = %+v, %v; want %d events that verify", r, err, events)
	}
}

// The pipeline's least-privileged role, which may insert events, appends one
// correctly chained grant.issued for a principal that no approval names,
// expiring in 2099: verification names that event.
func TestAttackForgedGrantFailsVerification(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		forge  func(g *ledger.Grant, digest string)
		reason string
	}{
		{"under the policy, beyond its max_ttl", func(g *ledger.Grant, digest string) { g.PolicyDigest = digest },
			"later than its max_ttl (168h0m0s) after it was recorded"},
		{"naming no policy", func(*ledger.Grant, string) {}, "names no policy digest, where decisions since event 1 name"},
		{"under a policy the ledger does not keep", func(g *ledger.Grant, _ string) { g.PolicyDigest = strings.Repeat("0", 64) },
			"which the ledger does not keep"},
		{"under an approval the ledger does not record", func(g *ledger.Grant, digest string) { g.PolicyDigest, g.ApprovalID = digest, "apr_missing" },
			`under approval "apr_missing", which the ledger does not record before it`},
		{"under an approval claimed by another grant", func(g *ledger.Grant, digest string) { g.PolicyDigest, g.ApprovalID = digest, "apr_1" },
			`under approval "apr_1", which was not claimed for it first`},
		{"of an entitlement for a principal it does not allow", func(g *ledger.Grant, digest string) {
			g.PolicyDigest, g.Principal, g.ExpiresAt = digest, "root", attackT0.Add(time.Hour).Format(time.RFC3339)
		}, `does not allow principal "root"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ledger.ForEachStore(t, func(t *testing.T, st ledger.StoreUnderTest) {
				ctx := context.Background()
				digest := attackFixture(t, st.Ledger())
				forged := ledger.Grant{ID: "grt_evil", Principal: "svc-payments-evil", Entitlement: "payments-db-read",
					TicketID: "SEC-1", Approvers: []string{"alice@example.com"}, Target: "ledger", Role: "payments_read",
					ExpiresAt: "2099-01-01T00:00:00Z", Status: ledger.StatusActive, GrantedAt: attackT0.Add(3 * time.Hour),
					Evidence: policy.EvidenceAsserted}
				tc.forge(&forged, digest)
				attacker := st.Appender(t)
				if _, err := attacker.Store().AppendGrant(ctx, ledger.EventGrantIssued, attackT0.Add(3*time.Hour), forged, 0); err != nil {
					t.Fatalf("appending as the pipeline's role: %v", err)
				}
				if g, err := st.Ledger().Grant(ctx, "grt_evil"); err != nil || g.Status != ledger.StatusActive {
					t.Fatalf("the forged grant reads as %+v, %v; want it active, as the attack leaves it", g, err)
				}
				r, err := st.Ledger().Verify(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if r.OK || r.FirstBad != 6 || !strings.Contains(r.Problem, tc.reason) || !strings.HasPrefix(r.Problem, "event 6 ") {
					t.Fatalf("Verify = %+v; want event 6 named: %s", r, tc.reason)
				}
			})
		})
	}
}

// The lives that grants and approvals cannot have, each appended, correctly
// chained, by the pipeline's role.
func TestAttackImpossibleLivesFailVerification(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		append func(ctx context.Context, l *ledger.Ledger) error
		reason string
	}{
		{"a revoked grant issued again", func(ctx context.Context, l *ledger.Ledger) error {
			g, err := l.Grant(ctx, "grt_1")
			if err != nil {
				return err
			}
			g.Status, g.RevokedAt, g.RevocationReason = ledger.StatusActive, time.Time{}, ""
			_, err = l.Store().AppendGrant(ctx, ledger.EventGrantIssued, attackT0.Add(3*time.Hour), g, g.Seq)
			return err
		}, `records grant.issued for grant "grt_1", revoked after event 5`},
		{"a grant's expiry moved", func(ctx context.Context, l *ledger.Ledger) error {
			g, err := l.Grant(ctx, "grt_bg")
			if err != nil {
				return err
			}
			g.ExpiresAt, g.Status, g.RevokedAt, g.RevocationReason = "2099-01-01T00:00:00Z", ledger.StatusRevoked, attackT0, ledger.ReasonOutOfBand
			_, err = l.Store().AppendGrant(ctx, ledger.EventGrantRevoked, attackT0.Add(3*time.Hour), g, g.Seq)
			return err
		}, "with another principal, entitlement, ticket, expiry, approval or policy"},
		{"an approval handed to another grant", func(ctx context.Context, l *ledger.Ledger) error {
			a, err := l.Approval(ctx, "apr_1")
			if err != nil {
				return err
			}
			a.GrantID = "grt_evil"
			_, err = l.Store().AppendApproval(ctx, ledger.EventApprovalUsed, attackT0.Add(3*time.Hour), a, a.Seq)
			return err
		}, `records approval.used for approval "apr_1", active and authorising grant "grt_1"`},
		{"an approval recorded again", func(ctx context.Context, l *ledger.Ledger) error {
			a, err := l.Approval(ctx, "apr_1")
			if err != nil {
				return err
			}
			a.GrantID = ""
			_, err = l.Store().AppendApproval(ctx, ledger.EventApprovalRecorded, attackT0.Add(3*time.Hour), a, a.Seq)
			return err
		}, "an approval id is recorded once"},
		{"a payload that reads two ways", func(ctx context.Context, l *ledger.Ledger) error {
			g, err := l.Grant(ctx, "grt_bg")
			if err != nil {
				return err
			}
			g.Status, g.RevokedAt, g.RevocationReason = ledger.StatusRevoked, attackT0, ledger.ReasonOutOfBand
			data, err := json.Marshal(g)
			if err != nil {
				return err
			}
			// A second member for the status, in other letters: Go reads it.
			raw := strings.Replace(string(data), `"status":"revoked"`, `"status":"revoked","Status":"active"`, 1)
			_, err = appendRaw(ctx, l, ledger.EventGrantRevoked, raw, g.Seq)
			return err
		}, `a member "Status"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ledger.ForEachStore(t, func(t *testing.T, st ledger.StoreUnderTest) {
				ctx := context.Background()
				attackFixture(t, st.Ledger())
				if err := tc.append(ctx, st.Appender(t)); err != nil {
					t.Fatalf("appending as the pipeline's role: %v", err)
				}
				r, err := st.Ledger().Verify(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if r.OK || r.FirstBad != 6 || !strings.Contains(r.Problem, tc.reason) {
					t.Fatalf("Verify = %+v; want event 6 named: %s", r, tc.reason)
				}
			})
		})
	}
}

// appendRaw appends a grant event whose payload is raw, through the store:
// the payload a store is handed is what it hashes and keeps.
func appendRaw(ctx context.Context, l *ledger.Ledger, typ, raw string, expectSeq int64) (ledger.Event, error) {
	var g ledger.Grant
	if err := json.Unmarshal([]byte(raw), &g); err != nil {
		return ledger.Event{}, err
	}
	return ledger.AppendRawGrant(ctx, l.Store(), typ, attackT0.Add(3*time.Hour), g, []byte(raw), expectSeq)
}

// The ledger's owner rewrites the log, turning the break-glass grant into an
// approved one, and re-hashes everything after it: the chain and its meaning
// verify, and the checkpoint signed before shows the rewrite. A rollback (the
// revocation cut off) and a fork are shown the same way.
func TestAttackRewriteRollbackForkAgainstCheckpoint(t *testing.T) {
	t.Parallel()
	for _, attack := range []string{"rewrite", "rollback", "fork"} {
		t.Run(attack, func(t *testing.T) {
			t.Parallel()
			ledger.ForEachStore(t, func(t *testing.T, st ledger.StoreUnderTest) {
				ctx := context.Background()
				l := st.Ledger()
				attackFixture(t, l)
				cp, err := checkpoint.Of(ctx, l)
				if err != nil {
					t.Fatal(err)
				}
				var events []ledger.Event
				if err := l.Store().Events(ctx, func(e ledger.Event) error { events = append(events, e); return nil }); err != nil {
					t.Fatal(err)
				}
				var stmts []string
				want := "rewritten or forked"
				switch attack {
				case "rewrite":
					var g ledger.Grant
					if err := json.Unmarshal(events[3].Data, &g); err != nil {
						t.Fatal(err)
					}
					g.BreakGlass, g.Approvers, g.Justification, g.Evidence = false, []string{"alice@example.com"}, "", policy.EvidenceAsserted
					events[3].Data, _ = json.Marshal(g)
					prev := events[2].Hash
					for i := 3; i < len(events); i++ {
						events[i].PrevHash = prev
						events[i].Hash = ledger.HashEvent(prev, events[i])
						prev = events[i].Hash
					}
					stmts = append(stmts, `DELETE FROM events WHERE seq >= 4`)
					for _, e := range events[3:] {
						stmts = append(stmts, insertEvent(e))
					}
					// The grant's current-state row names the event by its
					// number and its filter columns are unchanged.
					stmts = append(stmts, fmt.Sprintf(`UPDATE ledger_head SET hash = %s WHERE id = 1`, sqlText(prev)))
				case "rollback", "fork":
					// Back to before the revocation of grt_1.
					stmts = append(stmts, `DELETE FROM events WHERE seq = 5`,
						fmt.Sprintf(`UPDATE ledger_head SET seq = 4, hash = %s WHERE id = 1`, sqlText(events[3].Hash)),
						`UPDATE grants SET seq = 3, status = 'active' WHERE id = 'grt_1'`)
					if attack == "rollback" {
						want = "behind the checkpoint's size 5: it went backwards"
					}
				}
				if err := st.AsOwner(stmts...); err != nil {
					t.Fatal(err)
				}
				if attack == "fork" {
					if _, _, err := l.ExpireGrant(ctx, "grt_bg", attackT0.Add(5*time.Hour), nil); err != nil {
						t.Fatal(err)
					}
				}
				mustVerify(t, l, 5-btoi(attack == "rollback"))
				problem, err := checkpoint.Check(ctx, l, cp)
				if err != nil || !strings.Contains(problem, want) {
					t.Fatalf("Check after the %s = %q, %v; want %q", attack, problem, err, want)
				}
				if attack == "rewrite" {
					g, err := l.Grant(ctx, "grt_bg")
					if err != nil || g.BreakGlass {
						t.Fatalf("after the rewrite grt_bg = %+v, %v; want it no longer break-glass", g, err)
					}
				}
			})
		})
	}
}

// A SQLite ledger copied (as sqlite3's .backup does) and put back after a
// revocation is behind its checkpoint.
func TestAttackSQLiteBackupRestored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "governed.db")
	l, err := ledger.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	attackFixture(t, l)
	backup := filepath.Join(dir, "old.db")
	if _, _, err := l.ExpireGrant(ctx, "grt_bg", attackT0.Add(5*time.Hour), nil); err != nil {
		t.Fatal(err)
	}
	if err := ledger.VacuumInto(ctx, path, backup); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.RetireGrant(ctx, "grt_bg", attackT0.Add(6*time.Hour), nil); err != nil {
		t.Fatal(err)
	}
	cp, err := checkpoint.Of(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	data, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path + "-wal", path + "-shm"} {
		os.Remove(f)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	restored, err := ledger.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	mustVerify(t, restored, 6)
	problem, err := checkpoint.Check(ctx, restored, cp)
	if err != nil || !strings.Contains(problem, "behind the checkpoint's size 7: it went backwards") {
		t.Fatalf("Check of the restored copy = %q, %v", problem, err)
	}
}

func insertEvent(e ledger.Event) string {
	var recordedAt string
	if !e.RecordedAt.IsZero() {
		recordedAt = ledger.FormatAt(e.RecordedAt)
	}
	return fmt.Sprintf(`INSERT INTO events (seq, at, type, subject, data, prev_hash, hash, recorded_at, actor, run_id) VALUES (%d, %s, %s, %s, %s, %s, %s, %s, %s, %s)`,
		e.Seq, sqlText(ledger.FormatAt(e.At)), sqlText(e.Type), sqlText(e.Subject), sqlText(string(e.Data)), sqlText(e.PrevHash), sqlText(e.Hash),
		sqlText(recordedAt), sqlText(e.Actor), sqlText(e.RunID))
}

func sqlText(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func btoi(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// VerifySince verifies from a trusted event (a checkpoint's): what was
// appended since, against the lives the ledger gave its grants and approvals
// up to that event.
func TestStoresVerifySince(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		after    func(t *testing.T, st ledger.StoreUnderTest, l *ledger.Ledger)
		firstBad int64
		problem  string
	}{
		{"intact", func(*testing.T, ledger.StoreUnderTest, *ledger.Ledger) {}, 0, ""},
		{"a revoked grant revived", func(t *testing.T, st ledger.StoreUnderTest, _ *ledger.Ledger) {
			ctx := context.Background()
			a := st.Appender(t)
			g, err := a.Grant(ctx, "grt_1")
			if err != nil {
				t.Fatal(err)
			}
			g.Status, g.RevokedAt, g.RevocationReason = ledger.StatusActive, time.Time{}, ""
			if _, err := a.Store().AppendGrant(ctx, ledger.EventGrantIssued, attackT0.Add(6*time.Hour), g, g.Seq); err != nil {
				t.Fatal(err)
			}
		}, 8, `records grant.issued for grant "grt_1", revoked after event 5`},
		{"a forged grant naming no policy", func(t *testing.T, st ledger.StoreUnderTest, _ *ledger.Ledger) {
			forged := ledger.Grant{ID: "grt_evil", Principal: "svc-payments-evil", Entitlement: "payments-db-read",
				TicketID: "SEC-1", Target: "ledger", ExpiresAt: "2099-01-01T00:00:00Z", Status: ledger.StatusActive}
			if _, err := st.Appender(t).Store().AppendGrant(context.Background(), ledger.EventGrantIssued, attackT0.Add(6*time.Hour), forged, 0); err != nil {
				t.Fatal(err)
			}
		}, 8, "where the ledger keeps the policies that judge its decisions"},
		{"the trusted event rewritten", func(t *testing.T, st ledger.StoreUnderTest, _ *ledger.Ledger) {
			if err := st.AsOwner(`UPDATE events SET hash = 'feed' WHERE seq = 5`); err != nil {
				t.Fatal(err)
			}
		}, 5, "event 5, from which the ledger is verified, has hash feed"},
		{"an event after it altered", func(t *testing.T, st ledger.StoreUnderTest, _ *ledger.Ledger) {
			if err := st.AsOwner(`UPDATE events SET data = replace(data, 'SEC-2', 'SEC-9') WHERE seq = 7`); err != nil {
				t.Fatal(err)
			}
		}, 7, "event 7 was altered"},
		{"the row of a grant touched since edited", func(t *testing.T, st ledger.StoreUnderTest, _ *ledger.Ledger) {
			if err := st.Exec(`UPDATE grants SET entitlement = 'other-db-read' WHERE id = 'grt_bg'`); err != nil {
				t.Fatal(err)
			}
		}, 7, `grant "grt_bg" does not match its last event (7): its entitlement differs`},
		{"the row of a grant touched since given a pending revocation neither 0 nor 1", func(t *testing.T, st ledger.StoreUnderTest, _ *ledger.Ledger) {
			set := `revoke_pending = 2` // SQLite keeps 0 or 1; PostgreSQL a boolean
			if st.Name() == "postgres" {
				set = `revoke_pending = NOT revoke_pending`
			}
			if err := st.Exec(`UPDATE grants SET ` + set + ` WHERE id = 'grt_bg'`); err != nil {
				t.Fatal(err)
			}
		}, 7, `grant "grt_bg" does not match its last event (7): its revoke_pending differs`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ledger.ForEachStore(t, func(t *testing.T, st ledger.StoreUnderTest) {
				ctx := context.Background()
				l := st.Ledger()
				attackFixture(t, l)
				hash, err := l.EventHash(ctx, 5)
				if err != nil {
					t.Fatal(err)
				}
				// 6: grt_bg expires; 7: it is retired.
				if _, _, err := l.ExpireGrant(ctx, "grt_bg", attackT0.Add(5*time.Hour), nil); err != nil {
					t.Fatal(err)
				}
				if _, _, err := l.RetireGrant(ctx, "grt_bg", attackT0.Add(5*time.Hour), nil); err != nil {
					t.Fatal(err)
				}
				tc.after(t, st, l)
				r, err := l.VerifySince(ctx, ledger.Head{Seq: 5, Hash: hash})
				if err != nil {
					t.Fatal(err)
				}
				if tc.firstBad == 0 {
					if !r.OK || r.From != 5 || r.Events != 2 || r.Head.Seq != 7 {
						t.Fatalf("VerifySince = %+v; want events 6 and 7 verified", r)
					}
					return
				}
				if r.OK || r.FirstBad != tc.firstBad || !strings.Contains(r.Problem, tc.problem) {
					t.Fatalf("VerifySince = %+v; want event %d: %s", r, tc.firstBad, tc.problem)
				}
				if full, err := l.Verify(ctx); err != nil || full.OK {
					t.Fatalf("Verify = %+v, %v; want it to fail too", full, err)
				}
			})
		})
	}
}

// The pipeline's role claims a real approval for a grant of something else:
// apr_2 approves svc-payments-api under ticket SEC-3 until t0+1d, and the
// forged grant, within the policy's rules otherwise, differs in one member of
// that scope. The approval's scope holds as the policy holds a request to it.
func TestAttackApprovalReusedOutsideItsScope(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		forge  func(g *ledger.Grant)
		reason string
	}{
		{"for another principal", func(g *ledger.Grant) { g.Principal = "svc-payments-evil" },
			`principal "svc-payments-evil" differs from approval "apr_2"'s principal "svc-payments-api"`},
		{"under another ticket", func(g *ledger.Grant) { g.TicketID = "SEC-9" },
			`ticket "SEC-9" differs from approval "apr_2"'s ticket "SEC-3"`},
		{"past the approval's expiry", func(g *ledger.Grant) { g.ExpiresAt = attackT0.Add(2 * 24 * time.Hour).Format(time.RFC3339) },
			`expires at 2026-03-03T09:00:00Z, after approval "apr_2"'s expires_at 2026-03-02T09:00:00Z`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ledger.ForEachStore(t, func(t *testing.T, st ledger.StoreUnderTest) {
				ctx := context.Background()
				digest := attackFixture(t, st.Ledger())
				statement := "governed approval v2\nticket: SEC-3\n"
				if _, err := st.Ledger().RecordApproval(ctx, ledger.Approval{ID: "apr_2", TicketID: "SEC-3", Entitlement: "payments-db-read",
					Principal: "svc-payments-api", Approvers: []string{"alice@example.com"}, ExpiresAt: attackT0.Add(24 * time.Hour).Format(time.RFC3339),
					Statement: statement, Digest: policy.Digest(statement), PolicyDigest: digest, Evidence: policy.EvidenceAsserted}, attackT0); err != nil {
					t.Fatal(err)
				}
				mustVerify(t, st.Ledger(), 6)
				trusted, err := st.Ledger().Store().Head(ctx)
				if err != nil {
					t.Fatal(err)
				}
				attacker := st.Appender(t)
				if _, err := attacker.UseApproval(ctx, "apr_2", "grt_evil", attackT0.Add(3*time.Hour)); err != nil {
					t.Fatalf("claiming the approval as the pipeline's role: %v", err)
				}
				forged := ledger.Grant{ID: "grt_evil", Principal: "svc-payments-api", Entitlement: "payments-db-read",
					TicketID: "SEC-3", Approvers: []string{"alice@example.com"}, ApprovalID: "apr_2", Target: "ledger", Role: "payments_read",
					ExpiresAt: attackT0.Add(24 * time.Hour).Format(time.RFC3339), PolicyDigest: digest, Evidence: policy.EvidenceAsserted}
				tc.forge(&forged)
				if _, err := attacker.IssueGrant(ctx, forged, attackT0.Add(3*time.Hour)); err != nil {
					t.Fatalf("appending as the pipeline's role: %v", err)
				}
				r, err := st.Ledger().Verify(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if r.OK || r.FirstBad != 8 || !strings.Contains(r.Problem, tc.reason) {
					t.Fatalf("Verify = %+v; want event 8 named: %s", r, tc.reason)
				}
				// From a checkpoint at the approval: its scope is read from
				// its events before that point.
				r, err = st.Ledger().VerifySince(ctx, trusted)
				if err != nil {
					t.Fatal(err)
				}
				if r.OK || r.From != 6 || r.FirstBad != 8 || !strings.Contains(r.Problem, tc.reason) {
					t.Fatalf("VerifySince(6) = %+v; want event 8 named: %s", r, tc.reason)
				}
			})
		})
	}
}
