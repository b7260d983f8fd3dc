package benchledger

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger/ledgertest"
)

// The histories are decided at instants of their own, long before the
// clock the ledger records by.
func TestMain(m *testing.M) {
	ledgertest.UnboundDecisionTimes()
	os.Exit(m.Run())
}

// TestAppendHistoryVerifies: a history written in one go, onto a new ledger
// and again onto one with grants of its own, verifies as appends would, and
// holds what it says.
func TestAppendHistoryVerifies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "ledger.db")
	if err := AppendHistory(ctx, path, 5_000, now); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	g := ledger.Grant{ID: "grt_own", Principal: "svc-own", Entitlement: "read", TicketID: "SEC-1",
		Approvers: []string{"alice@example.com"}, Target: "ledger", ExpiresAt: now.Add(time.Hour).Format(time.RFC3339)}
	if _, err := l.IssueGrant(ctx, g, now); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if err := AppendHistory(ctx, path, 5_001, now); err != nil {
		t.Fatal(err)
	}
	l, err = ledger.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r, err := l.Verify(ctx)
	if err != nil || !r.OK || r.Head.Seq != 10_002 {
		t.Fatalf("verify: %+v, %v; want a verified ledger of 10,002 events", r, err)
	}
	active, err := l.Grants(ctx, ledger.GrantFilter{StatusAt: ledger.StatusActive, At: now})
	if err != nil || len(active) != 2*Active+2 {
		// Active and Active+1 of the two histories, and grt_own.
		t.Fatalf("%d grants active at now, %v; want %d", len(active), err, 2*Active+2)
	}
}
