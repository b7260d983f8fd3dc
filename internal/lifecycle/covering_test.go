package lifecycle

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/target"
)

// anonymousTarget enforces grants somewhere that it cannot name.
type anonymousTarget struct{}

func (anonymousTarget) Grant(context.Context, ledger.Grant, func(context.Context) (bool, error)) error {
	return nil
}
func (anonymousTarget) Revoke(context.Context, ledger.Grant, func(context.Context) (bool, error)) error {
	return nil
}
func (anonymousTarget) Present(context.Context, ledger.Grant) (bool, error) { return true, nil }

// serverTarget is an anonymousTarget that names the server it reaches, or
// fails to.
type serverTarget struct {
	anonymousTarget
	server string
	err    error
}

func (s serverTarget) Server(context.Context) (string, error) { return s.server, s.err }

// Only grants on the server the target reaches count as cover, whatever
// their target is called; grants recorded without a server never do.
func TestCoveringByServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, err := ledger.Open(ctx, filepath.Join(t.TempDir(), "governed.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	const here, there = "postgresql:1001", "postgresql:2002"
	record := func(id, targetName, role, server string, expires time.Time) ledger.Grant {
		t.Helper()
		g, err := l.IssueGrant(ctx, ledger.Grant{ID: id, Principal: "svc-payments-api", Entitlement: "payments-read",
			TicketID: "SEC-1", Approvers: []string{"alice@example.com"}, Target: targetName, Role: role,
			TargetServer: server, ExpiresAt: expires.Format(time.RFC3339)}, t0)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	later := t0.Add(24 * time.Hour)
	g := record("grt_ending", "postgres.payments", "payments_read", here, later)
	record("grt_same", "postgres.payments", "payments_read", here, later)
	record("grt_renamed", "postgres.billing", "payments_read", here, later)
	record("grt_elsewhere", "postgres.payments", "payments_read", there, later)
	record("grt_unrecorded", "postgres.payments", "payments_read", "", later)
	record("grt_other_role", "postgres.payments", "payments_write", here, later)
	record("grt_expired", "postgres.payments", "payments_read", here, t0.Add(time.Hour))

	for _, tc := range []struct {
		name   string
		target target.Target // nil: the run is not given postgres.payments
		want   string
	}{
		{"reaches the grant's server", serverTarget{server: here}, "grt_renamed grt_same"},
		{"now reaches another server", serverTarget{server: there}, "grt_elsewhere"},
		{"cannot name its server", serverTarget{err: errors.New("permission denied")}, ""},
		{"not given to the run", nil, "grt_renamed grt_same"},
		{"never names servers", anonymousTarget{}, "grt_elsewhere grt_same grt_unrecorded"},
	} {
		targets := target.NewRegistry()
		if tc.target != nil {
			targets["postgres.payments"] = tc.target
		}
		covering, err := NewRun(l, targets, t0.Add(2*time.Hour)).Covering(ctx, g)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var ids []string
		for _, o := range covering {
			ids = append(ids, o.ID)
		}
		sort.Strings(ids)
		if got := strings.Join(ids, " "); got != tc.want {
			t.Errorf("%s: Covering = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A grant records the server it was granted on. Another workspace's grant of
// the same role to the same principal, recorded under the same target name
// but on another server, does not keep the membership when this grant
// expires.
func TestExpiryRevokesDespiteGrantOnAnotherServer(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	targets := w.targets(w.url)
	id, ok := targets["postgres.app"].(target.ServerIdentifier)
	if !ok {
		t.Fatal("a PostgreSQL target does not identify its server")
	}
	server, err := id.Server(ctx)
	if err != nil || !strings.HasPrefix(server, "postgresql:") {
		t.Fatalf("Server = %q, %v", server, err)
	}
	issued, err := NewRun(w.ledger, targets, t0).Issue(ctx, w.grant("SEC-1"))
	if err != nil {
		t.Fatal(err)
	}
	if issued.TargetServer != server || w.stored(issued.ID).TargetServer != server {
		t.Fatalf("issued on %q, recorded on %q; want %q", issued.TargetServer, w.stored(issued.ID).TargetServer, server)
	}
	// The other workspace's long grant, on its own server called postgres.app.
	other := w.grant("SEC-2")
	other.ID, other.TargetServer, other.ExpiresAt = "grt_other_workspace", "postgresql:1", t0.Add(30*24*time.Hour).Format(time.RFC3339)
	if _, err := w.ledger.IssueGrant(ctx, other, t0); err != nil {
		t.Fatal(err)
	}
	res, err := w.run(t0.Add(25*time.Hour)).Expire(ctx, issued)
	if err != nil || res.Grant.RevokePending {
		t.Fatalf("Expire = %+v, %v", res, err)
	}
	if w.member() {
		t.Fatal("the membership outlived its grant because of a grant on another server")
	}
}

// A pending grant is put in force only on the server its request recorded:
// one whose target now reaches another server fails, and nothing is granted.
func TestIssueRefusesAnotherServer(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	g := w.grant("SEC-1")
	g.TargetServer = "postgresql:1"
	pending, err := w.ledger.RequestGrant(ctx, g, t0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.run(t0.Add(time.Minute)).Issue(ctx, w.grant("SEC-1"))
	if err == nil || !strings.Contains(err.Error(), "now reaches server") {
		t.Fatalf("Issue = %v, want a refusal naming the server", err)
	}
	if w.member() {
		t.Fatal("granted on a server the request did not record")
	}
	if st := w.stored(pending.ID); st.Status != ledger.StatusRevoked || st.RevocationReason != ledger.ReasonGrantFailed {
		t.Fatalf("the request = %+v, want it closed as failed", st)
	}
}

// A current-state row edited to name an earlier event of a grant that was
// revoked (its grant.issued, when it was in force) does not make that grant
// keep the same membership in place: the expiry of the other grant of it
// still revokes it.
func TestExpiryRevokesDespiteRowNamingAnEarlierEvent(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	run := w.run(t0)
	ending, err := run.Issue(ctx, w.grant("SEC-1"))
	if err != nil {
		t.Fatal(err)
	}
	long := w.grant("SEC-2")
	long.ExpiresAt = t0.Add(30 * 24 * time.Hour).Format(time.RFC3339)
	revoked, err := run.Issue(ctx, long)
	if err != nil {
		t.Fatal(err)
	}
	issuedAt := w.stored(revoked.ID).Seq
	if _, _, err := w.ledger.RevokeGrant(ctx, revoked.ID, t0.Add(time.Hour), ledger.ReasonOutOfBand, "INC-1", nil); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", w.path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE grants SET seq = ?, status = 'active' WHERE id = ?`, issuedAt, revoked.ID); err != nil {
		t.Fatal(err)
	}
	if !w.member() {
		t.Fatal("the membership is gone before the expiry")
	}
	res, err := w.run(t0.Add(25*time.Hour)).Expire(ctx, ending)
	if err != nil || res.Grant.RevokePending || res.Grant.Status != ledger.StatusExpired {
		t.Fatalf("Expire = %+v, %v", res, err)
	}
	if w.member() {
		t.Fatalf("the membership outlived its grant: the edited row of %s kept it in place", revoked.ID)
	}
}
