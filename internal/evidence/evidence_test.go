package evidence_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/evidence"
	"github.com/governed-entitlements/terraform-provider-governed/internal/evidence/evidencetest"
	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger/ledgertest"
	"github.com/governed-entitlements/terraform-provider-governed/internal/pgtest"
)

// The fixtures decide at instants days before the clock the ledger
// records by.
func TestMain(m *testing.M) {
	ledgertest.UnboundDecisionTimes()
	os.Exit(pgtest.Main(m))
}

// A revocation decided before the grant's expiry and recorded after it: on
// PostgreSQL, whose database stamps the recording time, revoked on time is
// judged by when it was recorded, which the appender could not choose; on
// SQLite, whose recording time is the appender's clock like the decision
// instant, by the decision instant, which verification bounds.
func TestRevokedOnTimeByTheDatabasesClock(t *testing.T) {
	t.Parallel()
	_, pgURL := pgtest.Shared(t).NewDatabase(t, "evidence")
	for _, tc := range []struct {
		name, location, verdict string
	}{
		{"postgres", pgURL, evidence.VerdictNo},
		{"sqlite", t.TempDir() + "/ledger.db", evidence.VerdictYes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			l, err := ledger.Open(ctx, tc.location)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			now := time.Now().UTC()
			expiry := now.Add(-time.Hour)
			g := ledger.Grant{ID: "grt_1", Principal: "svc-payments", Entitlement: "db-read", TicketID: "SEC-1",
				Approvers: []string{"alice@example.com"}, Target: "ledger", Role: "reader", ExpiresAt: expiry.Format(time.RFC3339)}
			if _, err := l.IssueGrant(ctx, g, now.Add(-2*time.Hour)); err != nil {
				t.Fatal(err)
			}
			if _, _, err := l.RevokeGrant(ctx, "grt_1", expiry.Add(-30*time.Minute), ledger.ReasonOutOfBand, "late", nil); err != nil {
				t.Fatal(err)
			}
			var row *evidence.Row
			if _, err := evidence.Collect(ctx, l, evidence.Options{Now: now, MaxLateness: 10 * time.Minute}, func(r *evidence.Row) error {
				row = r
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if row == nil || row.RevokedOnTime != tc.verdict {
				t.Fatalf("row = %+v, want revoked_on_time %q", row, tc.verdict)
			}
		})
	}
}

// judge collects the fixture's rows by grant id, as of its Now.
func judge(t *testing.T, f *evidencetest.Fixture, opts evidence.Options) (map[string]*evidence.Row, evidence.Summary) {
	t.Helper()
	if opts.Now.IsZero() {
		opts.Now = f.Now
	}
	rows := map[string]*evidence.Row{}
	sum, err := evidence.Collect(context.Background(), f.Ledger, opts, func(r *evidence.Row) error {
		rows[r.GrantID] = r
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows, sum
}

func TestCollectJudgesEveryGrantLife(t *testing.T) {
	t.Parallel()
	f := evidencetest.BuildTampered(t)
	if _, _, err := f.Ledger.RevokeGrant(context.Background(), f.OutOfBand, f.Now, ledger.ReasonOutOfBand, "INC-9", nil); err != nil {
		t.Fatal(err)
	}
	rows, sum := judge(t, f, evidence.Options{})
	if len(rows) != len(f.Want) || sum.Grants != len(f.Want) {
		t.Fatalf("%d rows (summary %d), want %d", len(rows), sum.Grants, len(f.Want))
	}
	failed := 0
	for id, want := range f.Want {
		r := rows[id]
		if r == nil {
			t.Errorf("no row for %s", id)
			continue
		}
		got := evidencetest.Want{Authorised: r.Authorised, TimeBound: r.TimeBound, RevokedOnTime: r.RevokedOnTime, Overdue: r.Overdue, Lateness: r.Lateness}
		if got != want {
			t.Errorf("%s: got %+v, want %+v (notes: %q; %q; %q)", id, got, want, r.AuthorisedNote, r.TimeBoundNote, r.RevokedOnTimeNote)
		}
		if len(r.AuthorisedEvents) == 0 || len(r.TimeBoundEvents) == 0 || len(r.RevokedOnTimeEvents) == 0 {
			t.Errorf("%s: a verdict without proof: %v %v %v", id, r.AuthorisedEvents, r.TimeBoundEvents, r.RevokedOnTimeEvents)
		}
		if want.Authorised == "no" || want.TimeBound == "no" || want.RevokedOnTime == "no" {
			failed++
		}
	}
	if sum.Failed != failed || sum.Overdue != 1 || sum.BreakGlass != 1 {
		t.Errorf("summary = %+v, want %d failed, 1 overdue, 1 break-glass", sum, failed)
	}

	// The proofs name the right events.
	s := rows["grt_signed"]
	if s.Signatures != "1 of 1" || len(s.SignerKeys) != 1 || !strings.Contains(s.SignerKeys[0], f.Signer.Fingerprint) ||
		s.StatementDigest == "" || len(s.AuthorisedEvents) != 3 || s.MinApprovals == nil || *s.MinApprovals != 1 || s.MaxTTL != "7d" {
		t.Errorf("signed row = %+v", s)
	}
	if forged := rows["grt_forged"]; forged.Signatures != "0 of 1" || !strings.Contains(forged.AuthorisedNote, "0 approver signature(s) verify") {
		t.Errorf("forged row: signatures %q, note %q", forged.Signatures, forged.AuthorisedNote)
	}
	if r := rows["grt_retried"]; len(r.RevokedOnTimeEvents) != 2 || !strings.Contains(r.RevokedOnTimeNote, "refused") ||
		r.AccessRemovedAt != f.T0.Add(27*time.Hour).Format(time.RFC3339) || r.DecidedAt != f.T0.Add(25*time.Hour).Format(time.RFC3339) {
		t.Errorf("retried row = %+v", r)
	}
	if r := rows["grt_oob"]; r.Reason != ledger.ReasonOutOfBand || r.Status != ledger.StatusRevoked || r.Lateness != "" {
		t.Errorf("out-of-band row = %+v", r)
	}
	if r := rows["grt_breakglass"]; !r.BreakGlass || r.MaxTTL != "4h" || !strings.Contains(r.AuthorisedNote, "INC-7") {
		t.Errorf("break-glass row = %+v", r)
	}
	if r := rows["grt_overdue"]; r.Status != "past_expiry" || r.AccessRemovedAt != "" {
		t.Errorf("overdue row = %+v", r)
	}
	if r := rows["grt_ontime"]; r.IssuedBy == "" || r.RemovedBy == "" {
		t.Errorf("on-time row names no actor: %+v", r)
	}
}

func TestCollectSelects(t *testing.T) {
	t.Parallel()
	f := evidencetest.BuildTampered(t)
	day := 24 * time.Hour
	tests := []struct {
		name string
		opts evidence.Options
		want []string
	}{
		{"principal, in another case", evidence.Options{Principal: "SVC-GRT_LATE"}, []string{"grt_late"}},
		{"entitlement", evidence.Options{Entitlement: "other"}, nil},
		// Requested within a day before now: only the grant issued then.
		{"from", evidence.Options{From: f.Now.Add(-day)}, []string{"grt_notdue", "grt_oob", "grt_overdue"}},
		{"to before everything", evidence.Options{To: f.T0.Add(-time.Hour)}, nil},
		{"tolerant lateness", evidence.Options{Principal: "svc-grt_late", MaxLateness: 2 * day}, []string{"grt_late"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows, _ := judge(t, f, tc.opts)
			var got []string
			for _, id := range []string{"grt_breakglass", "grt_forged", "grt_late", "grt_notdue", "grt_oob", "grt_ontime", "grt_overdue", "grt_retried", "grt_signed", "grt_toolong"} {
				if rows[id] != nil {
					got = append(got, id)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("rows %v, want %v", got, tc.want)
			}
			if tc.opts.MaxLateness > 0 && rows["grt_late"].RevokedOnTime != "yes" {
				t.Fatalf("grt_late with %s allowed: %s", tc.opts.MaxLateness, rows["grt_late"].RevokedOnTime)
			}
		})
	}
}

func TestFormats(t *testing.T) {
	t.Parallel()
	f := evidencetest.BuildTampered(t)
	rep, spool, err := evidence.Build(context.Background(), f.Ledger, evidence.Options{Now: f.Now}, evidence.Source{Location: f.Path})
	if err != nil {
		t.Fatal(err)
	}
	defer spool.Close()
	if !rep.Ledger.Verified || !rep.Failed() || rep.Summary.Grants != len(f.Want) {
		t.Fatalf("report = %+v", rep)
	}
	render := func(format string) string {
		var b bytes.Buffer
		if err := evidence.Write(&b, format, rep, spool); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}

	var streamed bytes.Buffer
	if _, err := evidence.StreamCSV(context.Background(), &streamed, f.Ledger, evidence.Options{Now: f.Now}, evidence.Source{}); err != nil {
		t.Fatal(err)
	}
	if streamed.String() != render("csv") {
		t.Errorf("the streamed CSV differs from the spooled one:\n%s\n---\n%s", streamed.String(), render("csv"))
	}
	records, err := csv.NewReader(strings.NewReader(render("csv"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != len(f.Want)+1 || strings.Join(records[0], ",") != strings.Join(evidence.ColumnNames(), ",") {
		t.Fatalf("csv: %d records, header %v", len(records), records[0])
	}
	for _, name := range []string{"grant_id", "principal", "entitlement", "target", "role", "ticket_id", "requesters", "approvers",
		"min_approvals", "signatures", "signer_keys", "approval_id", "statement_digest", "policy_digest", "break_glass", "justification",
		"granted_at", "ttl", "expires_at", "max_ttl", "status", "decided_at", "access_removed_at", "reason", "lateness", "overdue",
		"authorised", "time_bound", "revoked_on_time", "authorised_events", "time_bound_events", "revoked_on_time_events"} {
		if !strings.Contains(","+strings.Join(records[0], ",")+",", ","+name+",") {
			t.Errorf("csv has no column %s", name)
		}
	}

	var doc struct {
		Ledger   evidence.Ledger    `json:"ledger"`
		Summary  evidence.Summary   `json:"summary"`
		Controls []evidence.Control `json:"controls"`
		Grants   []evidence.Row     `json:"grants"`
	}
	if err := json.Unmarshal([]byte(render("json")), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Grants) != len(f.Want) || doc.Summary.Grants != len(f.Want) || !doc.Ledger.Verified || doc.Ledger.HeadSeq == 0 {
		t.Fatalf("json: %d grants, summary %+v, ledger %+v", len(doc.Grants), doc.Summary, doc.Ledger)
	}
	ids := map[string]bool{}
	for _, c := range doc.Controls {
		ids[c.ID] = true
		for _, col := range c.Columns {
			if !strings.Contains(strings.Join(evidence.ColumnNames(), ","), col) {
				t.Errorf("control %s names column %q, which the evidence does not have", c.ID, col)
			}
		}
	}
	for _, id := range []string{"CC6.2", "CC6.3", "A.5.18", "PR.AA-05", "NHI1", "NHI5", "NHI7"} {
		if !ids[id] {
			t.Errorf("json maps no control %s", id)
		}
	}

	md := render("md")
	if !strings.Contains(md, "| `grt_late` |") || !strings.Contains(md, "### Findings") || !strings.Contains(md, "**overdue**") {
		t.Errorf("markdown:\n%s", md)
	}

	html := render("html")
	for _, want := range []string{"<svg", "OVERDUE", "grt_signed", "Control mapping", "CC6.2"} {
		if !strings.Contains(html, want) {
			t.Errorf("html lacks %q", want)
		}
	}
	for _, banned := range []string{"<script", "src=", "href=", "url(", "@import"} {
		if strings.Contains(strings.ToLower(html), banned) {
			t.Errorf("html is not self-contained: it holds %q", banned)
		}
	}
}

// A period without grants says so, in every report, instead of claiming that
// all zero grants pass; the HTML outcome is neutral, not green.
func TestEmptyPeriodSaysNoGrants(t *testing.T) {
	t.Parallel()
	f := evidencetest.Build(t)
	opts := evidence.Options{Now: f.Now, To: f.T0.Add(-time.Hour)}
	rep, spool, err := evidence.Build(context.Background(), f.Ledger, opts, evidence.Source{Location: f.Path})
	if err != nil {
		t.Fatal(err)
	}
	defer spool.Close()
	if rep.Summary.Grants != 0 || rep.Failed() {
		t.Fatalf("report = %+v, want no grants and no finding", rep.Summary)
	}
	for format, want := range map[string]string{
		"md":   "## Access evidence: no grants in the period: nothing to judge",
		"html": `<div class="outcome none">No grants in the period: nothing to judge</div>`,
	} {
		var b bytes.Buffer
		if err := evidence.Write(&b, format, rep, spool); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), want) || strings.Contains(b.String(), "ll 0 grants") {
			t.Errorf("%s report of an empty period does not say %q:\n%s", format, want, b.String())
		}
	}
}

// One grant is counted as one grant, not "1 grants".
func TestOneGrantIsSingular(t *testing.T) {
	t.Parallel()
	f := evidencetest.Build(t)
	for principal, want := range map[string]string{
		"svc-grt_ontime": "## Access evidence: the 1 grant authorised, time bound and revoked on time",
		"svc-grt_late":   "## Access evidence: 1 of 1 grant fail a verdict",
	} {
		rep, spool, err := evidence.Build(context.Background(), f.Ledger, evidence.Options{Now: f.Now, Principal: principal},
			evidence.Source{Location: f.Path})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := evidence.Write(&b, "md", rep, spool); err != nil {
			t.Fatal(err)
		}
		spool.Close()
		if md := b.String(); !strings.Contains(md, want) || !strings.Contains(md, "- 1 grant, ") || strings.Contains(md, "1 grants") {
			t.Errorf("%s: markdown does not say %q and \"1 grant, \":\n%s", principal, want, md)
		}
	}
}
