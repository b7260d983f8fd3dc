package ledger

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// revertStateCopies turns the current-state tables of st's ledger back into
// what schema versions before dialect.stateVersion made: each row with a copy
// of its last event's payload and filter columns generated from it, and the
// indexes of then. It leaves the schema at version stateVersion-1.
func revertStateCopies(t *testing.T, st storeUnderTest) {
	t.Helper()
	v1, strict, expires := sqliteCurrentStateColumnsV1, " STRICT", ""
	revokePending := `json_extract(data, '$.revoke_pending') = 1`
	if st.name == "postgres" {
		v1, strict, expires = "", "", ", expires_at"
		revokePending = `(data::json ->> 'revoke_pending') = 'true'`
	}
	var stmts []string
	if st.name == "postgres" {
		// And before the database stamped recording times, a later version.
		stmts = append(stmts, `DROP TRIGGER IF EXISTS events_recorded_now ON events`, `DROP FUNCTION IF EXISTS events_recorded_now()`)
	}
	for _, table := range []string{"grants", "approvals"} {
		create := `CREATE TABLE ` + table + ` (` + v1 + `)` + strict
		if st.name == "postgres" {
			create = fmt.Sprintf(pgCurrentStateTableV1, table)
		}
		stmts = append(stmts,
			`CREATE TABLE saved AS SELECT t.id, t.seq, e.data`+strings.ReplaceAll(expires, "expires", "t.expires")+
				` FROM `+table+` t JOIN events e ON e.seq = t.seq`,
			`DROP TABLE `+table,
			create,
			`INSERT INTO `+table+` (id, seq, data`+expires+`) SELECT * FROM saved`,
			`DROP TABLE saved`)
	}
	expiresColumn := "expires_unix"
	if st.name == "postgres" {
		expiresColumn = "expires_at"
	}
	stmts = append(stmts,
		`CREATE INDEX grants_principal ON grants (principal)`,
		`CREATE INDEX grants_entitlement ON grants (entitlement)`,
		`CREATE INDEX grants_status_expires ON grants (status, `+expiresColumn+`)`,
		`CREATE INDEX grants_revoke_pending ON grants (id) WHERE `+revokePending,
		`CREATE INDEX grants_principal_unfolded ON grants (id) WHERE `+st.dialect.unfolded,
		`CREATE INDEX grants_entitlement_status ON grants (entitlement, status, `+expiresColumn+`)`,
		fmt.Sprintf(`DELETE FROM schema_migrations WHERE version >= %d`, st.dialect.stateVersion))
	if err := st.exec(stmts...); err != nil {
		t.Fatal(err)
	}
	if n, err := st.queryInt(`SELECT count(*) FROM grants WHERE data LIKE '{"id":%'`); err != nil || n == 0 {
		t.Fatalf("%d grants hold a copy of their payload, %v", n, err)
	}
}

// TestStoresMigrateStateWithoutCopies: a ledger whose current-state rows
// hold copies of their events' payloads, as schema versions before
// stateVersion made them, loses the copies when a build that knows better
// opens it; it verifies, lists and filters its grants as before, and a row
// edited after the migration is caught.
func TestStoresMigrateStateWithoutCopies(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx, l := context.Background(), st.l
		writeTamperFixture(t, l)
		// A revocation its target refused stays pending.
		if _, err := l.IssueGrant(ctx, testGrant("grt_pending"), t0.Add(9*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		refused := fmt.Errorf("the role is gone")
		if _, _, err := l.RevokeGrant(ctx, "grt_pending", t0.Add(9*24*time.Hour), ReasonOutOfBand, "INC-2", refused); err != nil {
			t.Fatal(err)
		}
		filters := []GrantFilter{
			{},
			{Entitlement: "payments-db-read"},
			{Principal: "svc-payments-api", Status: StatusActive},
			{StatusAt: StatusActive, At: t0.Add(9 * 24 * time.Hour)},
			{StatusAt: StatusExpired, At: t0.Add(20 * 24 * time.Hour)},
			{RevokePending: true},
			{ApprovalWithdrawn: true},
			{Overdue: t0.Add(20 * 24 * time.Hour)},
		}
		list := func(l *Ledger) []string {
			var out []string
			for _, f := range filters {
				gs, err := l.Grants(ctx, f)
				if err != nil {
					t.Fatalf("Grants(%+v): %v", f, err)
				}
				ids := []string{}
				for _, g := range gs {
					ids = append(ids, fmt.Sprintf("%s@%d", g.ID, g.Seq))
				}
				out = append(out, strings.Join(ids, " "))
			}
			return out
		}
		before := list(l)
		if before[5] != "grt_pending@12" {
			t.Fatalf("before the round trip, pending revocations %q; want grt_pending", before[5])
		}

		revertStateCopies(t, st)
		again, err := Open(ctx, st.location)
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		if n, err := st.queryInt(`SELECT max(version) FROM schema_migrations`); err != nil || n != int64(len(st.dialect.migrations)) {
			t.Fatalf("schema version %d, %v; want %d", n, err, len(st.dialect.migrations))
		}
		if r, err := again.Verify(ctx); err != nil || !r.OK || r.Events != 12 {
			t.Fatalf("Verify after the migration = %+v, %v", r, err)
		}
		if after := list(again); !slices.Equal(after, before) {
			t.Fatalf("after the migration the filters list\n%q\nwant\n%q", after, before)
		}
		if _, _, err := again.RetireGrant(ctx, "grt_5", t0.Add(10*24*time.Hour), nil); err != nil {
			t.Fatal(err)
		}
		if err := st.exec(`UPDATE grants SET status = 'active' WHERE id = 'grt_pending'`); err != nil {
			t.Fatal(err)
		}
		r, err := again.Verify(ctx)
		if err != nil || r.OK || r.FirstBad != 12 || !strings.Contains(r.Problem, `grant "grt_pending" does not match its last event (12): its status differs`) {
			t.Fatalf("Verify after a row was edited = %+v, %v", r, err)
		}
	})
}

// TestStoresReadRefusesRowOfAnotherGrant: a current-state row naming
// another grant's event is refused by every read of the grants, between
// full verifications too, rather than listed as the other grant twice.
func TestStoresReadRefusesRowOfAnotherGrant(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx, l := context.Background(), st.l
		writeTamperFixture(t, l)
		if err := st.exec(`UPDATE grants SET seq = 9 WHERE id = 'grt_1'`); err != nil {
			t.Fatal(err)
		}
		_, err := l.Grants(ctx, GrantFilter{Entitlement: "payments-db-read"})
		if err == nil || !strings.Contains(err.Error(), `the current state of grant "grt_1" names event 9, which is about "grt_5"; run governed verify`) {
			t.Fatalf("Grants = %v, want the row of grt_1 refused", err)
		}
	})
}
