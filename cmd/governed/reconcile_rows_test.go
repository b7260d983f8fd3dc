package main

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
)

// The current-state rows are an index the pipeline's role may write (it
// upserts them), not the chained record: an insider who edits them must not
// be able to keep reconcile from removing a grant the ledger's events say
// must go. Each edit below hides the overdue grant grt_orphan, or the grant
// from the indexed queries, or breaks another grant's row; reconcile still
// finds and expires it from the events.
func TestReconcileIgnoresEditedRows(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, edit string
	}{
		{"status says revoked", `UPDATE grants SET status = 'revoked' WHERE id = 'grt_orphan'`},
		{"expiry moved to 2099", `UPDATE grants SET expires_unix = 4102444800 WHERE id = 'grt_orphan'`},
		{"another row names another grant's event", `UPDATE grants SET seq = (SELECT seq FROM grants WHERE id = 'grt_a'), status = 'active', expires_unix = 0 WHERE id = 'grt_c'`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := fixture(t)
			l := openLedger(t, path)
			overdueGrant(t, l, "grt_orphan", "svc-batch", "ledger", "")
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(tt.edit); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := runCLI("reconcile", "--ledger", path)
			if code != 0 || !strings.Contains(out, "grt_orphan") || !strings.Contains(out, "1 grant(s) reconciled.") {
				t.Fatalf("reconcile after the edit = %d, %q, %q", code, out, errOut)
			}
			g, err := l.Grant(context.Background(), "grt_orphan")
			if err != nil || g.Status != ledger.StatusExpired || time.Since(g.RevokedAt) > time.Minute {
				t.Fatalf("orphan after reconcile: %+v, %v", g, err)
			}
		})
	}
}

// A SQLite ledger's writer who deletes a due grant's current-state row no
// longer hides the grant from reconcile: it is listed from its events, and
// the failure to record its expiry is reported with exit status 1 rather
// than "Nothing to reconcile".
func TestReconcileReportsDeletedRow(t *testing.T) {
	t.Parallel()
	path := fixture(t)
	l := openLedger(t, path)
	overdueGrant(t, l, "grt_orphan", "svc-batch", "ledger", "")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`DELETE FROM grants WHERE id = 'grt_orphan'`); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("reconcile", "--ledger", path)
	if code != 1 || !strings.Contains(out, "grt_orphan") || !strings.Contains(out, "1 left with their access possibly in place") {
		t.Fatalf("reconcile after the row's deletion = %d, %q, %q", code, out, errOut)
	}
}
