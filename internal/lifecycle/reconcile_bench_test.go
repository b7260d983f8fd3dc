package lifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/benchledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/pgtest"
	"github.com/governed-entitlements/terraform-provider-governed/internal/target"
)

// benchDueOverdue is how many grants of a listing fixture are past their
// expiry and still recorded active: what a reconciliation finds.
const benchDueOverdue = 10

var dueFixtures = struct {
	sync.Mutex
	dir   string
	paths map[int]string
}{paths: map[int]string{}}

// dueFixture returns a SQLite ledger of about events events
// (benchledger.AppendHistory: benchledger.Active grants in force, the others
// issued, expired and retired) and benchDueOverdue grants more that expire a
// minute after now, built once per test binary, and the instant to list at.
func dueFixture(b *testing.B, events int, now time.Time) string {
	b.Helper()
	dueFixtures.Lock()
	defer dueFixtures.Unlock()
	if p, ok := dueFixtures.paths[events]; ok {
		return p
	}
	if dueFixtures.dir == "" {
		// Shared by the benchmarks of the binary, so not a b.TempDir.
		dir, err := os.MkdirTemp("", "governed-due-bench-") //nolint:usetesting
		if err != nil {
			b.Fatal(err)
		}
		dueFixtures.dir = dir
	}
	ctx := context.Background()
	path := filepath.Join(dueFixtures.dir, fmt.Sprintf("ledger-%d.db", events))
	if err := benchledger.AppendHistory(ctx, path, events-benchDueOverdue, now.Add(-time.Hour)); err != nil {
		b.Fatal(err)
	}
	l, err := ledger.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	for i := range benchDueOverdue {
		g := ledger.Grant{ID: fmt.Sprintf("grt_overdue_%d", i), Principal: fmt.Sprintf("svc-%d", i), Entitlement: "ent-0",
			TicketID: "SEC-1", Approvers: []string{"alice@example.com"}, Requester: "dev@example.com", Target: "ledger",
			Role: "reader", ExpiresAt: now.Add(time.Minute).UTC().Format(time.RFC3339)}
		if _, err := l.IssueGrant(ctx, g, now); err != nil {
			b.Fatal(err)
		}
	}
	dueFixtures.paths[events] = path
	return path
}

// BenchmarkDueListing compares, on one ledger and in the same run, the
// listings of what a reconciliation must remove: Due (the current-state
// rows' indexed queries, which an edited row can mislead), DueFromEvents
// (each grant's and approval's last event, what governed reconcile and
// governed_reconciliation list with) and dueFromEveryEvent (every grant and
// approval event read in Go, as DueFromEvents did before). Each iteration
// runs all of them, in turn order rotated, and the benchmark reports the
// median time of each (ms) and each one's ratio to Due's median. ns/op is
// the sum. The ledger is SQLite (bench/history's); BenchmarkDueListingPostgres
// is the same on PostgreSQL.
func BenchmarkDueListing(b *testing.B) {
	now := time.Now().UTC().Round(time.Second)
	for _, events := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("events=%d", events), func(b *testing.B) {
			l, err := ledger.OpenExisting(context.Background(), dueFixture(b, events, now))
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			benchListings(b, l, now)
		})
	}
}

// BenchmarkDueListingPostgres is BenchmarkDueListing on a PostgreSQL ledger
// of the same shape, written with SQL (its chain is not valid: the listings
// do not read hashes).
func BenchmarkDueListingPostgres(b *testing.B) {
	now := time.Now().UTC().Round(time.Second)
	for _, events := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("events=%d", events), func(b *testing.B) {
			benchListings(b, pgDueFixture(b, events, now), now)
		})
	}
}

// benchListings runs the listings of BenchmarkDueListing on l, at an hour
// after now, where benchDueOverdue grants are due.
func benchListings(b *testing.B, l *ledger.Ledger, now time.Time) {
	ctx := context.Background()
	listings := []struct {
		name string
		list func(*Run) ([]Due, error)
	}{
		{"rows", func(r *Run) ([]Due, error) { return r.Due(ctx) }},
		{"events", func(r *Run) ([]Due, error) { return r.DueFromEvents(ctx) }},
		{"streaming", func(r *Run) ([]Due, error) { return dueFromEveryEvent(ctx, r) }},
	}
	times := make([][]time.Duration, len(listings))
	i := 0
	b.ResetTimer()
	for b.Loop() {
		for k := range listings {
			j := (i + k) % len(listings)
			// A new run per listing: a run reads each kind once.
			run := NewRun(l, target.NewRegistry(), now.Add(time.Hour))
			start := time.Now()
			due, err := listings[j].list(run)
			times[j] = append(times[j], time.Since(start))
			if err != nil || len(due) != benchDueOverdue {
				b.Fatalf("%s: %d due, %v; want %d", listings[j].name, len(due), err, benchDueOverdue)
			}
		}
		i++
	}
	b.StopTimer()
	base := median(times[0])
	for j, lst := range listings {
		m := median(times[j])
		b.ReportMetric(float64(m.Microseconds())/1000, lst.name+"-ms")
		b.ReportMetric(float64(m)/float64(base), lst.name+"/rows")
	}
}

// pgDueFixture is dueFixture's ledger in a new PostgreSQL database: the
// history of benchledger.AppendHistory (all but benchledger.Active grants
// issued, expired and retired, three events each; the others in force until
// after now), inserted with SQL, and benchDueOverdue grants appended that
// expire a minute after now.
func pgDueFixture(b *testing.B, events int, now time.Time) *ledger.Ledger {
	b.Helper()
	ctx := context.Background()
	srv := pgtest.Shared(b)
	db, url := srv.NewDatabase(b, "due_bench")
	l, err := ledger.Open(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	n := events - benchDueOverdue
	past := (n - benchledger.Active) / 3
	active := n - 3*past
	// Grant k's events: 3k+1..3k+3 for the past ones, then one each.
	grant := `json_build_object('id', 'grt_hist_' || k, 'principal', 'hist-' || (k %% 10000), 'entitlement', 'ent-' || (k %% 10),
	'ticket_id', 'SEC-' || k, 'approvers', json_build_array('alice@example.com'), 'requester', 'dev@example.com',
	'target', 'ledger', 'role', 'reader', 'ttl', '8h', 'expires_at', %s, 'granted_at', '2025-01-01T00:00:00Z',
	'status', %s, 'revoked_at', %s, 'revocation_reason', %s, 'evidence', 'asserted')::text`
	pastExpiry := `'2025-01-01T08:00:00Z'`
	futureExpiry := "'" + now.Add(8*time.Hour).Format(time.RFC3339) + "'"
	insert := func(seqExpr, typ, from, to, expiry, status, revokedAt, reason string) string {
		return fmt.Sprintf(`INSERT INTO events (seq, at, type, subject, data, prev_hash, hash, recorded_at, actor, run_id)
SELECT %s, '2025-01-01T00:00:00Z', '%s', 'grt_hist_' || k, %s, md5('p' || (%s)), md5('h' || (%s)), '', 'bench', ''
FROM generate_series(%s, %s) AS k`, seqExpr, typ, fmt.Sprintf(grant, expiry, status, revokedAt, reason), seqExpr, seqExpr, from, to)
	}
	last := fmt.Sprint(past - 1)
	srv.MustExec(b, db,
		`ALTER TABLE events DISABLE TRIGGER ALL`,
		insert("3*k+1", ledger.EventGrantIssued, "0", last, pastExpiry, "'active'", "null", "''"),
		insert("3*k+2", ledger.EventGrantExpired, "0", last, pastExpiry, "'expired'", "'2025-01-01T08:00:00Z'", "'expired'"),
		insert("3*k+3", ledger.EventGrantRetired, "0", last, pastExpiry, "'expired'", "'2025-01-01T08:00:00Z'", "'expired'"),
		insert(fmt.Sprintf("%d+k-%d", 3*past+1, past), ledger.EventGrantIssued, fmt.Sprint(past), fmt.Sprint(past+active-1),
			futureExpiry, "'active'", "null", "''"),
		`INSERT INTO grants (id, seq, principal, entitlement, status, expires_at, revoke_pending, approval_id)
SELECT DISTINCT ON (subject) subject, seq, data::json ->> 'principal', data::json ->> 'entitlement', data::json ->> 'status',
	(data::json ->> 'expires_at')::timestamptz, false, '' FROM events ORDER BY subject, seq DESC`,
		`UPDATE ledger_head SET (seq, hash) = (SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1)`,
		`ALTER TABLE events ENABLE TRIGGER ALL`,
		`ANALYZE`,
	)
	for i := range benchDueOverdue {
		g := ledger.Grant{ID: fmt.Sprintf("grt_overdue_%d", i), Principal: fmt.Sprintf("svc-%d", i), Entitlement: "ent-0",
			TicketID: "SEC-1", Approvers: []string{"alice@example.com"}, Requester: "dev@example.com", Target: "ledger",
			Role: "reader", ExpiresAt: now.Add(time.Minute).UTC().Format(time.RFC3339)}
		if _, err := l.IssueGrant(ctx, g, now); err != nil {
			b.Fatal(err)
		}
	}
	return l
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// dueFromEveryEvent is DueFromEvents as it was first written, the baseline
// of BenchmarkDueListing: every grant and approval event is read in Go, in
// order of subject, and the last of each is decoded with encoding/json.
func dueFromEveryEvent(ctx context.Context, r *Run) ([]Due, error) {
	withdrawn := map[string]bool{}
	var last ledger.Event
	flushApproval := func() error {
		if last.Subject == "" {
			return nil
		}
		var a ledger.Approval
		if err := json.Unmarshal(last.Data, &a); err != nil {
			return err
		}
		if a.Status == ledger.ApprovalWithdrawn {
			withdrawn[last.Subject] = true
		}
		return nil
	}
	err := r.ledger.SubjectEvents(ctx, "approval", "", func(e ledger.Event) error {
		if e.Subject != last.Subject {
			if err := flushApproval(); err != nil {
				return err
			}
		}
		last = e
		return nil
	})
	if err == nil {
		err = flushApproval()
	}
	if err != nil {
		return nil, err
	}
	var due []Due
	last = ledger.Event{}
	flushGrant := func() {
		if last.Subject == "" {
			return
		}
		var g ledger.Grant
		if err := json.Unmarshal(last.Data, &g); err != nil || g.ID != last.Subject {
			due = append(due, Due{Grant: ledger.Grant{ID: last.Subject, Seq: last.Seq}, Ending: ledger.ReasonExpired})
			return
		}
		g.Seq = last.Seq
		switch {
		case (ledger.GrantFilter{Overdue: r.now}).Matches(g):
			due = append(due, Due{Grant: g, Ending: ledger.ReasonExpired})
		case (ledger.GrantFilter{ApprovalWithdrawn: true}).Matches(g) && withdrawn[g.ApprovalID]:
			due = append(due, Due{Grant: g, Ending: ledger.ReasonApprovalWithdrawn})
		case g.RevokePending:
			due = append(due, Due{Grant: g})
		}
	}
	err = r.ledger.SubjectEvents(ctx, "grant", "", func(e ledger.Event) error {
		if e.Subject != last.Subject {
			flushGrant()
		}
		last = e
		return nil
	})
	if err != nil {
		return nil, err
	}
	flushGrant()
	return due, nil
}
