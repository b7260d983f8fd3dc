package ledger

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/pgtest"
	"github.com/governed-entitlements/terraform-provider-governed/internal/pgurl"
	"github.com/jackc/pgx/v5"
)

func testPostgresServer(t testing.TB) *pgtest.Server {
	t.Helper()
	return pgtest.Shared(t)
}

// newPostgresDatabase creates an empty database and returns its name and URL.
func newPostgresDatabase(t testing.TB) (srv *pgtest.Server, db, location string) {
	t.Helper()
	srv = testPostgresServer(t)
	db, err := srv.CreateDatabase(context.Background(), "ledger")
	if err != nil {
		t.Fatalf("creating a database: %v", err)
	}
	return srv, db, srv.URL(db)
}

// openPostgresTestLedger opens a new PostgreSQL ledger in a database of its own.
func openPostgresTestLedger(t testing.TB) (*Ledger, *pgtest.Server, string) {
	t.Helper()
	srv, db, location := newPostgresDatabase(t)
	l, err := Open(context.Background(), location)
	if err != nil {
		t.Fatalf("Open(%q): %v", location, err)
	}
	t.Cleanup(func() { l.Close() })
	return l, srv, db
}

// TestPostgresVerifyChecksProtections: what only a PostgreSQL ledger has (the
// foreign key of the current-state rows, the function the append-only
// triggers call, the triggers' enabled state) is checked too.
// TestStoresVerifyDetectsTampering covers what every store shares.
func TestPostgresVerifyChecksProtections(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		sql      []string
		refused  string // the tampering must fail with this error instead
		firstBad int64
		problem  []string
	}{
		{
			name:     "expiry column rewritten with the same instant",
			sql:      []string{`UPDATE grants SET expires_at = expires_at WHERE id = 'grt_1'`},
			firstBad: 0,
		},
		{
			name:     "expiry column in another time zone is the same expiry",
			sql:      []string{`SET TIME ZONE 'Asia/Kolkata'`, `UPDATE grants SET expires_at = (expires_at::text)::timestamptz WHERE id = 'grt_1'`},
			firstBad: 0,
		},
		{
			name:     "foreign key of the approvals dropped",
			sql:      []string{`ALTER TABLE approvals DROP CONSTRAINT approvals_seq_fkey`},
			firstBad: 0, problem: []string{"the definition of the approvals table was altered"},
		},
		{
			name:     "triggers disabled",
			sql:      []string{`ALTER TABLE events DISABLE TRIGGER USER`},
			firstBad: 0, problem: []string{"append-only triggers are disabled"},
		},
		{
			name:    "an event referred to by a current-state row cannot be deleted even so",
			sql:     []string{`ALTER TABLE events DISABLE TRIGGER USER`, `DELETE FROM events WHERE seq = 6`},
			refused: `violates foreign key constraint "grants_seq_fkey"`,
			problem: []string{"append-only triggers are disabled"},
		},
		{
			name:     "truncate trigger disabled",
			sql:      []string{`ALTER TABLE events DISABLE TRIGGER events_no_truncate`},
			firstBad: 0, problem: []string{"append-only triggers are disabled"},
		},
		{
			name:     "trigger set to fire only in replicas",
			sql:      []string{`ALTER TABLE events ENABLE REPLICA TRIGGER events_no_delete`},
			firstBad: 0, problem: []string{"append-only triggers are disabled"},
		},
		{
			name:     "data changed while the triggers are still off",
			sql:      []string{`ALTER TABLE events DISABLE TRIGGER USER`, `UPDATE events SET data = replace(data, 'SEC-101', 'SEC-666') WHERE seq = 2`},
			firstBad: 2, problem: []string{"event 2 was altered"},
		},
		{
			name:     "triggers and function dropped",
			sql:      []string{`DROP FUNCTION events_append_only() CASCADE`},
			firstBad: 0, problem: []string{"append-only triggers are missing"},
		},
		{
			name: "function replaced by a harmless one",
			sql: []string{`CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RETURN coalesce(NEW, OLD);
END
$$`},
			firstBad: 0, problem: []string{"append-only triggers were altered"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			l, srv, db := openPostgresTestLedger(t)
			writeTamperFixture(t, l)
			err := srv.Exec(ctx, db, tt.sql...)
			if tt.refused != "" {
				if err == nil || !strings.Contains(err.Error(), tt.refused) {
					t.Fatalf("tampering: err = %v, want %q", err, tt.refused)
				}
			} else if err != nil {
				t.Fatalf("tampering: %v", err)
			}
			r, err := l.Verify(ctx)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			wantOK := tt.firstBad == 0 && len(tt.problem) == 0
			if r.OK != wantOK || r.FirstBad != tt.firstBad {
				t.Fatalf("report = %+v, want OK %v, first bad %d", r, wantOK, tt.firstBad)
			}
			for _, p := range tt.problem {
				if !strings.Contains(r.Problem, p) {
					t.Fatalf("problem %q does not mention %q", r.Problem, p)
				}
			}
		})
	}
}

func TestPostgresMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, _, location := newPostgresDatabase(t)

	// OpenExisting on an empty database: no ledger, and nothing created.
	if _, err := OpenExisting(ctx, location); err == nil || err.Error() != "no governed ledger at "+pgurl.Redact(location) {
		t.Fatalf("OpenExisting on an empty database: %v", err)
	}
	tables := func() []string {
		t.Helper()
		conn, err := pgx.Connect(ctx, location)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		rows, _ := conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	if got := tables(); len(got) != 0 {
		t.Fatalf("OpenExisting created %v", got)
	}

	// Opening twice, the second time as OpenExisting, migrates once.
	for _, openFn := range []func(context.Context, string) (*Ledger, error){Open, OpenExisting, Open} {
		l, err := openFn(ctx, location)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.IssueGrant(ctx, testGrant(NewGrantID()), t0); err != nil {
			t.Fatal(err)
		}
		l.Close()
	}
	if got, want := tables(), []string{"approvals", "events", "grants", "ledger_head", "ledger_identity", "policies", "schema_migrations"}; !slices.Equal(got, want) {
		t.Fatalf("tables %v, want %v", got, want)
	}
	l, err := OpenExisting(ctx, location)
	if err != nil {
		t.Fatal(err)
	}
	if r := mustVerify(t, l); r.Events != 3 {
		t.Fatalf("%d events, want 3", r.Events)
	}
	l.Close()
}

// TestPostgresConcurrentFirstOpen: processes that open a new ledger at the same
// time create its schema once.
func TestPostgresConcurrentFirstOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, _, location := newPostgresDatabase(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			s, err := openPostgres(ctx, location, true, Origin{})
			if err == nil {
				s.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent first open: %v", err)
		}
	}
}

func TestPostgresForeignDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name  string
		setup []string
		want  string // "" when the ledger opens
	}{
		{"a table of the ledger's name", []string{`CREATE TABLE events (id serial, body text)`}, "is a PostgreSQL database but not a governed ledger"},
		{"another tool's schema_migrations", []string{`CREATE TABLE schema_migrations (version bigint, dirty boolean)`}, "is a PostgreSQL database but not a governed ledger"},
		{"unrelated tables", []string{`CREATE TABLE users (name text)`}, ""},
	}
	for _, tt := range tests {
		srv, db, location := newPostgresDatabase(t)
		if err := srv.Exec(ctx, db, tt.setup...); err != nil {
			t.Fatal(err)
		}
		l, err := Open(ctx, location)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
				continue
			}
			mustVerify(t, l)
			l.Close()
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Open = %v, want %q", tt.name, err, tt.want)
		}
		if err == nil {
			l.Close()
		}
	}
}

// TestPostgresSearchPath: the ledger lives in the schema the URL's
// search_path selects, and nothing names public.
func TestPostgresSearchPath(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, db, location := newPostgresDatabase(t)
	if err := srv.Exec(ctx, db, `CREATE SCHEMA "Gov Ledger"`, `CREATE TABLE public.events (unrelated int)`); err != nil {
		t.Fatal(err)
	}
	inSchema := location + "&search_path=%22Gov%20Ledger%22" // "Gov Ledger", quoted
	l, err := Open(ctx, inSchema)
	if err != nil {
		t.Fatalf("Open in a schema: %v", err)
	}
	defer l.Close()
	if _, err := l.IssueGrant(ctx, testGrant("grt_1"), t0); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, l)
	conn, err := pgx.Connect(ctx, location)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM "Gov Ledger".events`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("events in the schema: %d, %v", n, err)
	}
	// Without the search_path, public holds another program's events table.
	if _, err := Open(ctx, location); err == nil || !strings.Contains(err.Error(), "not a governed ledger") {
		t.Fatalf("Open in public: %v", err)
	}
	// A search_path naming no schema that exists.
	if _, err := Open(ctx, location+"&search_path=nowhere"); err == nil || !strings.Contains(err.Error(), "names no schema") {
		t.Fatalf("Open with no schema: %v", err)
	}
}

func TestOpenPostgresLocations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, db, location := newPostgresDatabase(t)

	// Both schemes open the same ledger.
	l, err := Open(ctx, location)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.IssueGrant(ctx, testGrant("grt_1"), t0); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l, err = OpenExisting(ctx, strings.Replace(location, "postgres://", "postgresql://", 1))
	if err != nil {
		t.Fatal(err)
	}
	if g, err := l.Grant(ctx, "grt_1"); err != nil || g.Seq != 1 {
		t.Fatalf("through postgresql://: %+v, %v", g, err)
	}
	if s, ok := l.Store().(*PostgresStore); !ok || strings.Contains(s.ledger, "sslmode") {
		t.Fatalf("store %T, location %q", l.Store(), s.ledger)
	}
	l.Close()
	if _, err := l.Grant(ctx, "grt_1"); err == nil || !strings.Contains(err.Error(), "closed pool") {
		t.Fatalf("a closed ledger: %v", err)
	}

	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		t.Fatalf("listener address %v is not TCP", ln.Addr())
	}
	closedPort := addr.Port
	ln.Close()
	unreachable := fmt.Sprintf("postgres://governor:s3cret-pw@127.0.0.1:%d/ledger?sslmode=disable&password=other-s3cret", closedPort)
	_, err = Open(ctx, unreachable)
	want := fmt.Sprintf("cannot reach the PostgreSQL ledger postgres://governor@127.0.0.1:%d/ledger: ", closedPort)
	if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("unreachable server: %v\nwant it to start with %q and hold no password", err, want)
	}

	tests := []struct {
		location string
		want     string
	}{
		{strings.Replace(location, "/"+db, "/no_such_db", 1), `cannot open the PostgreSQL ledger postgres://postgres@127.0.0.1:` + strconv.Itoa(srv.Port()) + `/no_such_db: database "no_such_db" does not exist`},
		{location + "&pool_max_conns=0", "pool_max_conns"},
		{"postgres://governor:s3cret@127.0.0.1:notaport/ledger", "invalid PostgreSQL ledger location"},
	}
	for _, tt := range tests {
		_, err := Open(ctx, tt.location)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%q) = %v, want it to contain %q", tt.location, err, tt.want)
		}
	}

	// A wrong password: the refused login, and where else a password can
	// come from, without the TLS attempt of sslmode=prefer.
	role := "pw_" + db
	srv.MustExec(t, "postgres", "CREATE ROLE "+role+" LOGIN PASSWORD 'r1ght' IN ROLE "+pgtest.PasswordRole)
	wrong := fmt.Sprintf("postgres://%s:wr0ng-s3cret@127.0.0.1:%d/%s?sslmode=prefer", role, srv.Port(), db)
	_, err = Open(ctx, wrong)
	if err == nil || !strings.Contains(err.Error(), "cannot log in to the PostgreSQL ledger") ||
		!strings.Contains(err.Error(), "PGPASSWORD") || strings.Contains(err.Error(), "TLS") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("a wrong password: %v", err)
	}
}

func TestPostgresRefusesWhatItCannotStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, _, _ := openPostgresTestLedger(t)
	nul := testGrant("grt_nul")
	nul.Justification = "a\x00b"
	if _, err := l.IssueGrant(ctx, nul, t0); err == nil || !strings.Contains(err.Error(), "U+0000") {
		t.Errorf("a NUL character: %v", err)
	}
	// A backslash followed by the text u0000 is no NUL.
	text := testGrant("grt_text")
	text.Justification = `C:\u0000`
	if _, err := l.IssueGrant(ctx, text, t0); err != nil {
		t.Errorf("the text \\u0000: %v", err)
	}
	year0 := testGrant("grt_year0")
	year0.ExpiresAt = "0000-06-01T00:00:00Z"
	if _, err := l.IssueGrant(ctx, year0, t0); err == nil || !strings.Contains(err.Error(), "before year 1") {
		t.Errorf("year 0: %v", err)
	}
	if _, err := l.IssueGrant(ctx, testGrant("grt_\xff"), t0); err == nil || !strings.Contains(err.Error(), "not UTF-8") {
		t.Errorf("an id that is not UTF-8: %v", err)
	}
	if r := mustVerify(t, l); r.Events != 1 {
		t.Fatalf("%d events, want 1", r.Events)
	}
}

// pgWriterEnv carries, to a writer process, the ledger's URL, the writer's
// number and the time to start appending.
const pgWriterEnv = "GOVERNED_TEST_PG_WRITER"

const (
	pgWriterProcesses = 4
	pgWriterGrants    = 200
)

// TestHelperPostgresWriter is the body of a writer process started by
// TestPostgresConcurrentProcesses; it does nothing otherwise. It issues
// pgWriterGrants grants, then expires, revokes or retires each, and races the
// other writers to issue, then revoke, one shared grant.
func TestHelperPostgresWriter(t *testing.T) {
	spec := os.Getenv(pgWriterEnv)
	if spec == "" {
		return
	}
	fields := strings.Fields(spec)
	if len(fields) != 3 {
		t.Fatalf("%s=%q", pgWriterEnv, spec)
	}
	location, writer := fields[0], fields[1]
	start, _ := strconv.ParseInt(fields[2], 10, 64)
	ctx := context.Background()
	// Every writer opens the new ledger at once: the schema is created once.
	l, err := Open(ctx, location)
	if err != nil {
		t.Fatalf("writer %s: %v", writer, err)
	}
	defer l.Close()
	time.Sleep(time.Until(time.Unix(0, start)))

	if _, err := l.IssueGrant(ctx, testGrant("grt_contended"), t0); err != nil && !errors.Is(err, ErrExists) {
		t.Fatalf("writer %s: issuing the shared grant: %v", writer, err)
	}
	at := t0.Add(time.Hour)
	for i := range pgWriterGrants {
		if _, err := l.IssueGrant(ctx, testGrant(fmt.Sprintf("grt_w%s_%03d", writer, i)), t0); err != nil {
			t.Fatalf("writer %s: issue %d: %v", writer, i, err)
		}
	}
	for i := range pgWriterGrants {
		id := fmt.Sprintf("grt_w%s_%03d", writer, i)
		var err error
		switch i % 3 {
		case 0:
			_, _, err = l.ExpireGrant(ctx, id, at, nil)
		case 1:
			_, _, err = l.RevokeGrant(ctx, id, at, ReasonOutOfBand, "writer "+writer, nil)
		case 2:
			_, _, err = l.RetireGrant(ctx, id, at, nil)
		}
		if err != nil {
			t.Fatalf("writer %s: transition %d: %v", writer, i, err)
		}
		if i == pgWriterGrants/2 {
			if _, _, err := l.RevokeGrant(ctx, "grt_contended", at, ReasonOutOfBand, "writer "+writer, nil); err != nil {
				t.Fatalf("writer %s: revoking the shared grant: %v", writer, err)
			}
		}
	}
}

// TestPostgresConcurrentProcesses: separate processes append to one ledger at
// once, then one verification finds a single intact chain.
func TestPostgresConcurrentProcesses(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, _, location := newPostgresDatabase(t)
	start := time.Now().Add(time.Second).UnixNano()
	type result struct {
		writer int
		out    []byte
		err    error
	}
	results := make(chan result, pgWriterProcesses)
	for w := range pgWriterProcesses {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperPostgresWriter$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %d", pgWriterEnv, location, w, start))
		go func() {
			out, err := cmd.CombinedOutput()
			results <- result{w, out, err}
		}()
	}
	for range pgWriterProcesses {
		r := <-results
		if r.err != nil {
			t.Errorf("writer %d: %v\n%s", r.writer, r.err, r.out)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	l, err := OpenExisting(ctx, location)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r := mustVerify(t, l)
	// Per writer: its issues and transitions; once: the shared grant's issue and revocation.
	if want := int64(pgWriterProcesses*2*pgWriterGrants + 2); r.Events != want || r.Head.Seq != want {
		t.Fatalf("report = %+v, want %d events", r, want)
	}
	counts := map[string]int{}
	writers := map[string]bool{}
	if err := l.Store().Events(ctx, func(e Event) error {
		if e.Subject == "grt_contended" {
			counts[e.Type]++
		}
		if len(e.Subject) > 5 && strings.HasPrefix(e.Subject, "grt_w") {
			writers[e.Subject[:6]] = true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if counts[EventGrantIssued] != 1 || counts[EventGrantRevoked] != 1 || len(writers) != pgWriterProcesses {
		t.Fatalf("shared grant events %v, writers %v", counts, writers)
	}
	all, err := l.Grants(ctx, GrantFilter{})
	if err != nil || len(all) != pgWriterProcesses*pgWriterGrants+1 {
		t.Fatalf("%d grants, %v; want %d", len(all), err, pgWriterProcesses*pgWriterGrants+1)
	}
	byStatus := map[string]int{}
	retired := 0
	for _, g := range all {
		byStatus[g.Status]++
		if !g.RetiredAt.IsZero() {
			retired++
		}
	}
	// i%3: 0 expired (67 of 200), 1 revoked (67), 2 retired, so revoked (66).
	if byStatus[StatusExpired] != pgWriterProcesses*67 || byStatus[StatusRevoked] != pgWriterProcesses*(67+66)+1 || retired != pgWriterProcesses*66 {
		t.Fatalf("statuses %v, %d retired", byStatus, retired)
	}
}
