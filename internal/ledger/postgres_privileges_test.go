package ledger

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

var privilegeRoles atomic.Int64

// The team setup the guide documents: an owner creates the ledger's schema,
// and the role pipelines log in as gets only what appending and verifying
// need. That role can then run the ledger but cannot change or remove what it
// wrote, even by switching the append-only triggers off.
func TestPostgresLeastPrivilege(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, db, ownerURL := newPostgresDatabase(t)
	owner, err := Open(ctx, ownerURL) // creates the schema
	if err != nil {
		t.Fatal(err)
	}
	owner.Close()

	pipeline := fmt.Sprintf("pipeline_%d", privilegeRoles.Add(1))
	l := leastPrivilegedAs(t, srv, db, pipeline)
	if _, err := l.IssueGrant(ctx, testGrant("grt_1"), t0); err != nil {
		t.Fatalf("issuing as %s: %v", pipeline, err)
	}
	if _, _, err := l.ExpireGrant(ctx, "grt_1", t0.Add(8*24*time.Hour), nil); err != nil {
		t.Fatalf("expiring as %s: %v", pipeline, err)
	}
	if r := mustVerify(t, l); r.Events != 2 {
		t.Fatalf("verified %d events, want 2", r.Events)
	}
	if err := l.KeepPolicy(ctx, sha256Hex([]byte("policy")), []byte("policy"), t0); err != nil {
		t.Fatalf("keeping a policy as %s: %v", pipeline, err)
	}
	if id, err := l.ID(ctx); err != nil || id == "" {
		t.Fatalf("reading the ledger's id as %s: %q, %v", pipeline, id, err)
	}

	conn, err := pgx.Connect(ctx, srv.URLAs(pipeline, db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, stmt := range []string{
		`UPDATE events SET data = '{}' WHERE seq = 1`,
		`DELETE FROM events WHERE seq = 2`,
		`TRUNCATE events`,
		`ALTER TABLE events DISABLE TRIGGER USER`,
		`DROP TRIGGER events_no_update ON events`,
		`DELETE FROM grants`,
		`UPDATE ledger_identity SET ledger_id = 'x'`,
	} {
		_, err := conn.Exec(ctx, stmt)
		if err == nil || !strings.Contains(err.Error(), "SQLSTATE 42501") && !strings.Contains(err.Error(), "must be owner") {
			t.Errorf("%s as %s: %v, want permission denied", stmt, pipeline, err)
		}
	}
	mustVerify(t, l)

	// A head moved behind its back: the role can still record a
	// discontinuity, and append after it.
	if err := srv.Exec(ctx, db, `UPDATE ledger_head SET seq = seq + 1`); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := l.RecordDiscontinuity(ctx, t0.Add(9*24*time.Hour), "least privilege"); err != nil || !ok {
		t.Fatalf("recording a discontinuity as %s: %v, %v", pipeline, ok, err)
	}
	if g, err := l.IssueGrant(ctx, testGrant("grt_2"), t0.Add(9*24*time.Hour)); err != nil || g.Seq != 4 {
		t.Fatalf("appending after the discontinuity as %s: %+v, %v", pipeline, g, err)
	}
}

// leastPrivileged opens the ledger in db as a new role that has only what
// appending and verifying need, as the guide documents it.
func leastPrivileged(t testing.TB, srv *pgtest.Server, db string) *Ledger {
	t.Helper()
	return leastPrivilegedAs(t, srv, db, fmt.Sprintf("pipeline_%d", privilegeRoles.Add(1)))
}

func leastPrivilegedAs(t testing.TB, srv *pgtest.Server, db, pipeline string) *Ledger {
	t.Helper()
	ctx := context.Background()
	if err := srv.Exec(ctx, db,
		"CREATE ROLE "+pipeline+" LOGIN",
		"GRANT CONNECT ON DATABASE "+pgx.Identifier{db}.Sanitize()+" TO "+pipeline,
		"GRANT USAGE ON SCHEMA public TO "+pipeline,
		"GRANT SELECT ON schema_migrations, ledger_identity TO "+pipeline,
		"GRANT SELECT, INSERT ON policies TO "+pipeline,
		"GRANT SELECT, INSERT ON events TO "+pipeline,
		"GRANT SELECT, UPDATE ON ledger_head TO "+pipeline,
		"GRANT SELECT, INSERT, UPDATE ON grants, approvals TO "+pipeline,
	); err != nil {
		t.Fatal(err)
	}
	l, err := Open(ctx, srv.URLAs(pipeline, db))
	if err != nil {
		t.Fatalf("opening the ledger as %s: %v", pipeline, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}
