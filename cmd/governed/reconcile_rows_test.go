package main

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/pgtest"
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

// A grant past its expiry whose current-state row was deleted, or edited to
// say it is revoked and expires in 2099, in a SQLite ledger (its file's
// owner) or a PostgreSQL one (the database's owner; the pipeline's role may
// UPDATE): reconcile revokes its membership in the real target, the ledger
// records the expiry and holds the row again, and governed verify afterwards
// says the ledger verifies, since the append wrote the row from its event.
func TestReconcileRemovesWhatRowsHide(t *testing.T) {
	t.Parallel()
	edits := map[string]string{
		"row deleted": `DELETE FROM grants WHERE id = 'grt_orphan'`,
		"row edited": `UPDATE grants SET status = 'revoked', revoke_pending = false, ` +
			`expires_%s WHERE id = 'grt_orphan'`,
	}
	for _, store := range []string{"sqlite", "postgres"} {
		for name, edit := range edits {
			t.Run(store+"/"+name, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				w := pgtest.Shared(t).NewTarget(t, pgtest.TargetOptions{})
				var location string
				var exec func(string) error
				if store == "sqlite" {
					location = fixture(t)
					edit = strings.Replace(edit, "%s", "unix = 4102444800", 1)
					exec = func(stmt string) error {
						db, err := sql.Open("sqlite", location)
						if err != nil {
							return err
						}
						defer db.Close()
						_, err = db.Exec(stmt)
						return err
					}
				} else {
					_, _, location = pgFixture(t)
					edit = strings.Replace(edit, "%s", "at = '2099-01-01T00:00:00Z'", 1)
					exec = func(stmt string) error {
						conn, err := pgx.Connect(ctx, location)
						if err != nil {
							return err
						}
						defer conn.Close(ctx)
						_, err = conn.Exec(ctx, stmt)
						return err
					}
				}
				l := openLedger(t, location)
				principal := w.CreatePrincipal("orphan")
				w.GrantAsGovernor(w.Role, principal)
				overdueGrant(t, l, "grt_orphan", principal, "postgres.app", w.Role)
				if err := exec(edit); err != nil {
					t.Fatal(err)
				}
				if hidden, err := l.Grants(ctx, ledger.GrantFilter{Overdue: time.Now()}); err != nil || len(hidden) != 0 {
					t.Fatalf("the rows' overdue grants after the edit = %+v, %v; want none (the edit hides it)", hidden, err)
				}
				if code, out, errOut := runCLI("verify", "--ledger", location); code != 1 || !strings.Contains(errOut, "grt_orphan") {
					t.Fatalf("verify after the edit = %d, %q, %q; want the row of grt_orphan reported", code, out, errOut)
				}

				code, out, errOut := runCLI("reconcile", "--ledger", location, "--postgres-target", targetFlag(w))
				if code != 0 || errOut != "" || !strings.Contains(out, "expired, removed from postgres.app") ||
					!strings.Contains(out, "1 grant(s) reconciled.") {
					t.Fatalf("reconcile = %d, %q, %q", code, out, errOut)
				}
				if w.IsMember(principal, w.Role) {
					t.Fatal("the orphan is still a member of the role after reconcile")
				}
				g, err := l.Grant(ctx, "grt_orphan")
				if err != nil || g.Status != ledger.StatusExpired || g.RevocationReason != ledger.ReasonExpired || g.RevokePending ||
					time.Since(g.RevokedAt) > time.Minute {
					t.Fatalf("orphan after reconcile: %+v, %v", g, err)
				}
				if rows, err := l.Grants(ctx, ledger.GrantFilter{Status: ledger.StatusExpired}); err != nil ||
					!slices.ContainsFunc(rows, func(r ledger.Grant) bool { return r.ID == "grt_orphan" && r.Seq == g.Seq }) {
					t.Fatalf("the rows' expired grants after reconcile = %+v, %v; want grt_orphan at event %d", rows, err, g.Seq)
				}
				code, out, errOut = runCLI("verify", "--ledger", location)
				if code != 0 || !strings.HasPrefix(out, "ledger verified: ") {
					t.Fatalf("verify after reconcile = %d, %q, %q", code, out, errOut)
				}
				code, out, errOut = runCLI("reconcile", "--ledger", location, "--postgres-target", targetFlag(w), "--dry-run")
				if code != 0 || !strings.HasPrefix(out, "Nothing to reconcile") {
					t.Fatalf("a second reconcile = %d, %q, %q", code, out, errOut)
				}
			})
		}
	}
}
