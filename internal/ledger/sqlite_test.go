package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rawDB opens the ledger file directly, as someone with file access could.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestSQLiteOpenFileErrors: a path that cannot be a ledger file gets a plain
// message, and nothing is created or written.
func TestSQLiteOpenFileErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "somefile")
	if err := os.WriteFile(file, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("this is not sqlite ", 100)), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		location string
		want     string
	}{
		{filepath.Join(dir, "nope", "ledger.db"), `ledger directory "` + filepath.Join(dir, "nope") + `" does not exist`},
		{filepath.Join(file, "ledger.db"), `cannot write the ledger "` + filepath.Join(file, "ledger.db") + `": "` + file + `" is not a directory`},
		{dir, "is a directory, not a file"},
		{garbage, "is not a SQLite database"},
		{filepath.Join(dir, "what?.db"), `must not contain "?"`},
	}
	for _, tt := range tests {
		l, err := Open(ctx, tt.location)
		if err == nil {
			l.Close()
			t.Errorf("Open(%q) succeeded", tt.location)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open(%q) = %q, want it to contain %q", tt.location, err, tt.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "nope")); !os.IsNotExist(err) {
		t.Errorf("Open created the missing directory: %v", err)
	}
	if b, _ := os.ReadFile(garbage); !strings.HasPrefix(string(b), "this is not sqlite") {
		t.Error("Open wrote to a file that is not a ledger")
	}
}

func TestSQLiteOpenUnwritableDirectory(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("running as root: directory permissions do not stop root; TestSQLiteOpenFileErrors covers a path under a regular file")
	}
	dir := filepath.Join(t.TempDir(), "locked")
	if err := os.Mkdir(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ledger.db")
	_, err := Open(context.Background(), path)
	if err == nil || err.Error() != `cannot write the ledger "`+path+`": permission denied` {
		t.Fatalf("Open in a read-only directory: %v", err)
	}
}

func TestSQLiteForeignDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	db := rawDB(t, path)
	if _, err := db.Exec(`CREATE TABLE users (name TEXT)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err := Open(ctx, "sqlite:"+path)
	if err == nil || !strings.Contains(err.Error(), "not a governed ledger") {
		t.Fatalf("Open on another program's database: %v", err)
	}
}

// TestSQLiteOpenExisting: OpenExisting never creates a file; a ledger made
// through "sqlite:PATH" opens again through PATH.
func TestSQLiteOpenExisting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	if _, err := OpenExisting(ctx, missing); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("OpenExisting on a missing file: %v", err)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatal("OpenExisting created the file")
	}

	path := filepath.Join(dir, "ledger.db")
	l, err := Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.IssueGrant(ctx, testGrant("grt_1"), t0); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l, err = OpenExisting(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer l.Close()
	if g, err := l.Grant(ctx, "grt_1"); err != nil || g.Seq != 1 {
		t.Fatalf("after reopen: %+v, %v", g, err)
	}
}

// rewriteTableSQL sets the definition SQLite keeps for table to def, without
// touching its rows, as the file's owner can with writable_schema, and has
// every connection read the schema again.
func rewriteTableSQL(t testing.TB, db *sql.DB, table, def string) {
	t.Helper()
	rewriteSchemaSQL(t, db, "table", table, def)
}

// rewriteSchemaSQL is rewriteTableSQL for a schema object of any type.
func rewriteSchemaSQL(t testing.TB, db *sql.DB, typ, name, def string) {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var version int64
	if err := conn.QueryRowContext(ctx, `PRAGMA schema_version`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`PRAGMA writable_schema = ON`,
		`UPDATE sqlite_master SET sql = ` + sqlQuote(def) + ` WHERE type = ` + sqlQuote(typ) + ` AND name = ` + sqlQuote(name),
		`PRAGMA schema_version = ` + strconv.FormatInt(version+1, 10),
		`PRAGMA writable_schema = OFF`,
	} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

func sqlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// TestSQLiteVerifyRowWithNullAndSeparator: the file's owner gives the
// grants table a definition without NOT NULL for a moment, stores a row whose
// principal is NULL and whose entitlement holds the walk's separator between
// the principal and the entitlement, and puts the definition back word for
// word. Joined by the separator, the row's columns read as its event gives
// them; the row itself names no principal, so that a filter on the principal
// passes over the grant. Verification does not take it for the row appends
// write.
func TestSQLiteVerifyRowWithNullAndSeparator(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, path := openTestLedger(t)
	if _, err := l.IssueGrant(ctx, testGrant("grt_1"), t0); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, l)
	db := rawDB(t, path)
	rewriteTableSQL(t, db, "grants", strings.ReplaceAll(strings.TrimSuffix(sqliteGrantsTable, " STRICT"), " NOT NULL", ""))
	if _, err := db.ExecContext(ctx, `UPDATE grants SET principal = NULL, entitlement = principal || char(31) || entitlement WHERE id = 'grt_1'`); err != nil {
		t.Fatal(err)
	}
	rewriteTableSQL(t, db, "grants", sqliteGrantsTable)
	if n, err := l.Grants(ctx, GrantFilter{Principal: "svc-payments-api"}); err != nil || len(n) != 0 {
		t.Fatalf("Grants by principal = %v, %v; want the grant passed over", n, err)
	}
	r, err := l.Verify(ctx)
	if err == nil && r.OK {
		t.Fatalf("Verify = %+v: a row without a principal verified", r)
	}
}

// TestSQLiteVerifyRowOfAnotherType: the file's owner gives the grants table a
// definition without STRICT for a moment, stores a column of a row as a value
// of another type that reads as the same text or number, and puts the
// definition back word for word. The table's filters compare such a value
// otherwise (a BLOB 'active' is not = 'active', a TEXT expiry is later than
// any number), so that a filter passes over the grant: verification names
// the row.
func TestSQLiteVerifyRowOfAnotherType(t *testing.T) {
	t.Parallel()
	for _, set := range []string{
		`status = CAST(status AS BLOB)`,
		`principal = CAST(principal AS BLOB)`,
		`expires_unix = CAST(expires_unix AS TEXT)`,
		`seq = CAST(seq AS TEXT)`,
		`revoke_pending = CAST(revoke_pending AS TEXT)`,
		`approval_id = 7`,
	} {
		t.Run(set, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			l, path := openTestLedger(t)
			if _, err := l.IssueGrant(ctx, testGrant("grt_0"), t0); err != nil {
				t.Fatal(err)
			}
			from, err := l.Head(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.IssueGrant(ctx, testGrant("grt_1"), t0); err != nil {
				t.Fatal(err)
			}
			mustVerify(t, l)
			db := rawDB(t, path)
			// Without declared types, so that no affinity turns a value
			// into another: a number stays a number in a text column.
			def := strings.NewReplacer("INTEGER", "", "TEXT", "").Replace(strings.TrimSuffix(sqliteGrantsTable, " STRICT"))
			rewriteTableSQL(t, db, "grants", def)
			if _, err := db.ExecContext(ctx, `UPDATE grants SET `+set+` WHERE id = 'grt_1'`); err != nil {
				t.Fatal(err)
			}
			rewriteTableSQL(t, db, "grants", sqliteGrantsTable)
			if strings.HasPrefix(set, "status") {
				if gs, err := l.Grants(ctx, GrantFilter{Status: StatusActive}); err != nil || len(gs) != 1 || gs[0].ID != "grt_0" {
					t.Fatalf("Grants by status = %v, %v; want grt_1 passed over", gs, err)
				}
			}
			whole, err := l.Verify(ctx)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			since, err := l.VerifySince(ctx, from)
			if err != nil {
				t.Fatalf("VerifySince: %v", err)
			}
			for _, r := range []Report{whole, since} {
				if r.OK || r.FirstBad != 2 || !strings.Contains(r.Problem, `grant "grt_1"`) || !strings.Contains(r.Problem, "its column types differ") {
					t.Fatalf("report = %+v, want the row of grt_1 named for its column types", r)
				}
			}
		})
	}
}

// TestSQLiteVerifyEventReadOtherwise: the file's owner, with the
// append-only triggers taken away and put back word for word and the events
// table's definition rewritten for a moment, stores a revocation's subject
// so that a read by subject no longer finds it: moved into its type behind
// the walk's separator with the subject left NULL, or as a BLOB. Joined by
// the separator, the event reads as before, so its hash and every checkpoint
// still match; read by its subject, as the ledger reads a grant, the
// revocation is gone and the grant is active again. Verification reports the
// event as altered.
func TestSQLiteVerifyEventReadOtherwise(t *testing.T) {
	t.Parallel()
	for _, set := range []string{
		`type = type || char(31) || subject, subject = NULL`,
		`subject = CAST(subject AS BLOB)`,
	} {
		t.Run(set, func(t *testing.T) {
			t.Parallel()
			verifyEventReadOtherwise(t, set)
		})
	}
}

// TestSQLiteVerifyEventFieldOfAnotherType: as above, each of an event's
// fields in turn is stored as a BLOB that reads as the same text, or one
// that is empty as NULL. The event hashes as before; verification still
// reports it as altered, whichever field it is.
func TestSQLiteVerifyEventFieldOfAnotherType(t *testing.T) {
	t.Parallel()
	for _, field := range []string{"at", "type", "subject", "prev_hash", "hash", "recorded_at", "actor", "run_id", "data"} {
		t.Run(field, func(t *testing.T) {
			t.Parallel()
			verifyEventStoredOtherwise(t, field+` = CASE WHEN `+field+` = '' THEN NULL ELSE CAST(`+field+` AS BLOB) END`, false)
		})
	}
}

func verifyEventReadOtherwise(t *testing.T, set string) {
	verifyEventStoredOtherwise(t, set, true)
}

// verifyEventStoredOtherwise stores event 2, a revocation, with the change
// set makes, and checks that verification reports it as altered; hidden is
// whether the change hides the revocation from reads by subject.
func verifyEventStoredOtherwise(t *testing.T, set string, hidden bool) {
	ctx := context.Background()
	l, path := openTestLedger(t)
	if _, err := l.IssueGrant(ctx, testGrant("grt_1"), t0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.RevokeGrant(ctx, "grt_1", t0.Add(time.Hour), ReasonOutOfBand, "INC-1", nil); err != nil {
		t.Fatal(err)
	}
	before := mustVerify(t, l)
	db := rawDB(t, path)
	var def string
	if err := db.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'`).Scan(&def); err != nil {
		t.Fatal(err)
	}
	rewriteTableSQL(t, db, "events", strings.ReplaceAll(strings.TrimSuffix(def, " STRICT"), " NOT NULL", ""))
	for _, stmt := range []string{`DROP TRIGGER events_no_update`,
		`UPDATE events SET ` + set + ` WHERE seq = 2`,
		sqliteTriggerNoUpdate} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	rewriteTableSQL(t, db, "events", def)
	if g, err := l.Grant(ctx, "grt_1"); hidden && (err != nil || g.Status != StatusActive) {
		t.Fatalf("Grant = %+v, %v; want the revocation hidden from reads by subject", g, err)
	}
	r, err := l.Verify(ctx)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if r.OK || r.FirstBad != 2 || !strings.Contains(r.Problem, "event 2 was altered") {
		t.Fatalf("Verify = %+v (before: %+v), want event 2 reported as altered", r, before)
	}
}

// TestSQLiteWalkFunctionsNotFromSchema: the functions a verification's walk
// reads through write into the walk under way. A trigger stored in the
// ledger file, the owner's to write, cannot call them: the store's
// connections trust no function in the schema that SQLite does not mark
// harmless, so the append the trigger would run inside fails instead.
func TestSQLiteWalkFunctionsNotFromSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, path := openTestLedger(t)
	db := rawDB(t, path)
	for _, call := range []string{
		walkEventFunction + `(1, NEW.seq, '', '', '', '', '', '', '', '', '')`,
		walkRowFunction + `(1, 1, 1, 1, 0, '', '', '', '', '')`,
	} {
		if _, err := db.ExecContext(ctx, `DROP TRIGGER IF EXISTS planted`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `CREATE TRIGGER planted AFTER INSERT ON events BEGIN SELECT `+call+`; END`); err != nil {
			t.Fatal(err)
		}
		_, err := l.IssueGrant(ctx, testGrant("grt_1"), t0)
		if err == nil || !strings.Contains(err.Error(), "unsafe use of") {
			t.Fatalf("IssueGrant with a trigger calling %s: %v; want SQLite's refusal", call, err)
		}
	}
}

// TestSQLiteWalkSinkNotGuessable: a connection that trusts the schema (as
// SQLite does unless told otherwise, like rawDB's) lets a view in the ledger
// file call the walk functions. The sink a walk under way reads into is
// found by a number the view would have to guess: the numbers near those
// of the sinks opened before it reach none of them.
func TestSQLiteWalkSinkNotGuessable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, path := openTestLedger(t)
	db := rawDB(t, path)
	before := openWalkSink()
	before.close()
	walking := openWalkSink()
	defer walking.close()
	// Reading, as a walk's sink is while its queries run: the functions
	// refuse a sink that is not.
	walking.feed = &walkFeed{b: &walkBatch{}, stopped: new(atomic.Bool)}
	for id := before.id - 20; id <= before.id+20; id++ {
		for _, stmt := range []string{`DROP VIEW IF EXISTS planted`, `CREATE VIEW planted AS SELECT ` + walkEventFunction +
			`(` + strconv.FormatInt(id, 10) + `, 7, '', '', '', '', '', '', '', '', '') AS seq`} {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				t.Fatal(err)
			}
		}
		var seq sql.NullInt64
		err := db.QueryRowContext(ctx, `SELECT seq FROM planted`).Scan(&seq)
		if err == nil || !strings.Contains(err.Error(), "no verification walk is reading") {
			t.Errorf("a view calling %s(%d, …): %v; want no walk reached", walkEventFunction, id, err)
		}
	}
	if walking.calls != 0 {
		t.Fatalf("the walk's sink was written: calls %d", walking.calls)
	}
}

// TestSQLiteVerifyUTF16Ledger: the file's owner copies the ledger into a
// file created with UTF-16 text, which SQLite reads as every other. In it,
// SQLite turns a high surrogate followed by any other unit into the same
// character as the pair it starts: a principal stored as 😀 (U+1F600)
// with its low surrogate's top bits cleared converts to 😀 for a read of
// the column, the walk's included, while a comparison with 😀 compares the
// stored units and does not match. A filter on the principal passes over a
// grant whose row verifies. Verification names the file's text encoding.
func TestSQLiteVerifyUTF16Ledger(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, path := openTestLedger(t)
	g := testGrant("grt_1")
	g.Principal = "svc-\U0001F600"
	if _, err := l.IssueGrant(ctx, g, t0); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, l)
	l.Close()
	copied := copyLedgerUTF16(t, path)
	db := rawDB(t, copied)
	// svc-😀 in UTF-16LE, its low surrogate DE00 stored as 0200.
	if _, err := db.ExecContext(ctx, `UPDATE grants SET principal = CAST(x'73007600630`+`02d003dd80002' AS TEXT) WHERE id = 'grt_1'`); err != nil {
		t.Fatal(err)
	}
	var read string
	if err := db.QueryRowContext(ctx, `SELECT principal FROM grants WHERE id = 'grt_1'`).Scan(&read); err != nil || read != g.Principal {
		t.Fatalf("principal reads as %q, %v; want %q", read, err, g.Principal)
	}
	l, err := Open(ctx, copied)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if gs, err := l.Grants(ctx, GrantFilter{Principal: g.Principal}); err != nil || len(gs) != 0 {
		t.Fatalf("Grants by principal = %v, %v; want the grant passed over", gs, err)
	}
	r, err := l.Verify(ctx)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if r.OK || !strings.Contains(r.Problem, "UTF-16le") {
		t.Fatalf("Verify = %+v; want the file's text encoding named", r)
	}
}

// copyLedgerUTF16 copies the ledger at path, object by object and row by
// row, into a new file whose text is UTF-16LE, and returns its path.
func copyLedgerUTF16(t *testing.T, path string) string {
	t.Helper()
	ctx := context.Background()
	src := rawDB(t, path)
	dst := filepath.Join(t.TempDir(), "utf16.db")
	db := rawDB(t, dst)
	db.SetMaxOpenConns(1)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`PRAGMA encoding = 'UTF-16le'`)
	type object struct{ typ, name, sql string }
	var objects []object
	rows, err := src.QueryContext(ctx, `SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY type <> 'table', rowid`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var o object
		if err := rows.Scan(&o.typ, &o.name, &o.sql); err != nil {
			t.Fatal(err)
		}
		objects = append(objects, o)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	for _, o := range objects {
		exec(o.sql)
		if o.typ != "table" {
			continue
		}
		var cols []string
		cs, err := src.QueryContext(ctx, `SELECT name FROM pragma_table_xinfo(?) WHERE hidden = 0`, o.name)
		if err != nil {
			t.Fatal(err)
		}
		for cs.Next() {
			var c string
			if err := cs.Scan(&c); err != nil {
				t.Fatal(err)
			}
			cols = append(cols, c)
		}
		cs.Close()
		list := strings.Join(cols, ", ")
		data, err := src.QueryContext(ctx, `SELECT `+list+` FROM `+o.name)
		if err != nil {
			t.Fatal(err)
		}
		var pending [][]any
		for data.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := data.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			pending = append(pending, vals)
		}
		data.Close()
		for _, vals := range pending {
			exec(`INSERT INTO `+o.name+` (`+list+`) VALUES (`+strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ")+`)`, vals...)
		}
	}
	var enc string
	if err := db.QueryRowContext(ctx, `PRAGMA encoding`).Scan(&enc); err != nil || enc != "UTF-16le" {
		t.Fatalf("encoding %q, %v", enc, err)
	}
	return dst
}

// TestSQLiteVerifySubjectIndexOtherwise: the file's owner rebuilds the index
// every read of a record's events goes through under another definition for
// a moment (one that leaves out a revocation) and gives it its definition
// back. The events, their chain and the head are untouched, so they verify;
// read by its subject, as the ledger reads a grant, the revocation is gone and
// the grant is active again. A whole verification compares the index with the
// events and names it; one whose definition was left altered, or that was
// dropped, is named too.
func TestSQLiteVerifySubjectIndexOtherwise(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		hidden  bool
		problem string
		since   string // what a verification from before the revocation says; problem when ""
	}{
		{name: "rebuilt without the revocation", hidden: true, problem: "the index events_subject holds other entries than the events (index entries: 1, events: 2)",
			since: "the index events_subject has no entry for event 2: reads of its record would not find it"},
		{name: "definition left altered", problem: "the definition of the index events_subject was altered"},
		{name: "dropped", problem: "the index events_subject, through which a record's events are read, is missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			l, db, from, revocation := revokedGrantLedger(t)
			partial := sqliteSubjectIndexSQL + ` WHERE seq <> ` + strconv.FormatInt(revocation, 10)
			switch tc.name {
			case "dropped":
				if _, err := db.ExecContext(ctx, `DROP INDEX events_subject`); err != nil {
					t.Fatal(err)
				}
			default:
				rewriteSchemaSQL(t, db, "index", "events_subject", partial)
				if _, err := db.ExecContext(ctx, `REINDEX events_subject`); err != nil {
					t.Fatal(err)
				}
				if tc.hidden {
					rewriteSchemaSQL(t, db, "index", "events_subject", sqliteSubjectIndexSQL)
				}
			}
			if g, err := l.Grant(ctx, "grt_1"); tc.hidden && (err != nil || g.Status != StatusActive) {
				t.Fatalf("Grant = %+v, %v; want the revocation hidden from reads by subject", g, err)
			}
			r, err := l.Verify(ctx)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if r.OK || !strings.Contains(r.Problem, tc.problem) {
				t.Fatalf("Verify = %+v, want %q", r, tc.problem)
			}
			want := tc.since
			if want == "" {
				want = tc.problem
			}
			if r, err := l.VerifySince(ctx, from); err != nil || r.OK || !strings.Contains(r.Problem, want) {
				t.Fatalf("VerifySince = %+v, %v; want %q", r, err, want)
			}
		})
	}
}

// TestSQLiteReadThroughIndexOfAnotherRecord: the file's owner rebuilds the
// subject index for a moment so that an entry files grt_1's revocation under
// grt_2, then gives the index its definition back. A read of grt_2 passes
// over grt_1's event and finds grt_2's own, so that grt_2 can still be
// revoked; the list of every grant's last event, which reconciliation
// revokes from, holds each grant once, as its own events leave it; a whole
// verification names the index.
func TestSQLiteReadThroughIndexOfAnotherRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, path := openTestLedger(t)
	for _, id := range []string{"grt_1", "grt_2"} {
		if _, err := l.IssueGrant(ctx, testGrant(id), t0); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := l.RevokeGrant(ctx, "grt_1", t0.Add(time.Hour), ReasonOutOfBand, "INC-1", nil); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	var revocation int64
	if err := db.QueryRowContext(ctx, `SELECT max(seq) FROM events WHERE subject = 'grt_1'`).Scan(&revocation); err != nil {
		t.Fatal(err)
	}
	rewriteSchemaSQL(t, db, "index", "events_subject", `CREATE INDEX events_subject ON events (CASE WHEN seq = `+
		strconv.FormatInt(revocation, 10)+` THEN 'grt_2' ELSE subject END, seq)`)
	if _, err := db.ExecContext(ctx, `REINDEX events_subject`); err != nil {
		t.Fatal(err)
	}
	rewriteSchemaSQL(t, db, "index", "events_subject", sqliteSubjectIndexSQL)
	if g, err := l.Grant(ctx, "grt_2"); err != nil || g.ID != "grt_2" || g.Status != StatusActive {
		t.Fatalf("Grant(grt_2) = %+v, %v; want grt_2's own last event", g, err)
	}
	listed := map[string][]string{}
	if err := l.EachLastGrant(ctx, func(g *Grant, readErr error) error {
		listed[g.ID] = append(listed[g.ID], fmt.Sprint(g.Status, readErr))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := map[string][]string{"grt_1": {"revoked<nil>"}, "grt_2": {"active<nil>"}}; !maps.EqualFunc(listed, want, slices.Equal) {
		t.Fatalf("EachLastGrant listed %v; want %v", listed, want)
	}
	if _, _, err := l.RevokeGrant(ctx, "grt_2", t0.Add(2*time.Hour), ReasonOutOfBand, "INC-2", nil); err != nil {
		t.Fatalf("RevokeGrant(grt_2): %v", err)
	}
	r, err := l.Verify(ctx)
	if err != nil || r.OK || !strings.Contains(r.Problem, "the index events_subject holds other entries than the events") {
		t.Fatalf("Verify = %+v, %v; want the index named", r, err)
	}
}

// TestSQLiteVerifyEventsTableRedefined: the file's owner rewrites the events
// table's definition behind SQLite's back, the stored events unchanged: a
// case-blind collation on subject (a read of grt_1 would also match events
// filed under GRT_1), or the table no longer STRICT (a value of another type
// would go in unchecked). Every event still hashes as before; verification
// names the definition.
func TestSQLiteVerifyEventsTableRedefined(t *testing.T) {
	t.Parallel()
	for name, def := range map[string]string{
		"case-blind subject": strings.Replace(sqliteEventsTable, "subject   TEXT NOT NULL", "subject   TEXT NOT NULL COLLATE NOCASE", 1),
		"not STRICT":         strings.TrimSuffix(sqliteEventsTable, " STRICT"),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			l, path := openTestLedger(t)
			if _, err := l.IssueGrant(ctx, testGrant("grt_1"), t0); err != nil {
				t.Fatal(err)
			}
			mustVerify(t, l)
			rewriteSchemaSQL(t, rawDB(t, path), "table", "events", def)
			r, err := l.Verify(ctx)
			if err != nil || r.OK || !strings.Contains(r.Problem, "the definition of the events table was altered") {
				t.Fatalf("Verify = %+v, %v; want the events table's definition named", r, err)
			}
		})
	}
}

// TestSQLiteVerifyWalkReadsTheTables: the file's owner adds an index on the
// grants table that holds every column the walk reads, takes it out of the
// schema for a moment while it edits a revoked grant's row in the table
// (active, naming the grant's first event), puts it back as it was, and
// writes sqlite_stat1 so that SQLite reads every row through the index and a
// principal's rows through the table. A walk that let SQLite choose how to
// read the rows would read the row as recorded in the index, while every
// listing of the principal's grants reads the table and finds the grant
// active. Verification reads the table, and names the row.
func TestSQLiteVerifyWalkReadsTheTables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, path := openTestLedger(t)
	if _, err := l.IssueGrant(ctx, testGrant("grt_1"), t0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.RevokeGrant(ctx, "grt_1", t0.Add(time.Hour), ReasonOutOfBand, "INC-1", nil); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, l)
	db := rawDB(t, path)
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	exec := func(stmts ...string) {
		t.Helper()
		for _, stmt := range stmts {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
	}
	// bump has every connection read the schema, and sqlite_stat1, again.
	bump := func() {
		t.Helper()
		var version int64
		if err := conn.QueryRowContext(ctx, `PRAGMA schema_version`).Scan(&version); err != nil {
			t.Fatal(err)
		}
		exec(`PRAGMA writable_schema = ON`, `PRAGMA schema_version = `+strconv.FormatInt(version+1, 10), `PRAGMA writable_schema = OFF`)
	}
	var first int64
	if err := conn.QueryRowContext(ctx, `SELECT min(seq) FROM events WHERE subject = 'grt_1'`).Scan(&first); err != nil {
		t.Fatal(err)
	}
	exec(`CREATE INDEX grants_all ON grants (approval_id, revoke_pending, expires_unix, seq, status, entitlement, principal, id)`,
		`ANALYZE`, `DELETE FROM sqlite_stat1 WHERE tbl = 'grants'`,
		// A large ledger, whose index entries say they are small.
		`INSERT INTO sqlite_stat1 VALUES ('grants', 'grants_all', '1000000 1000000 1000000 1000 1 1 1 1 1 sz=1'), `+
			`('grants', 'grants_principal', '1000000 2'), ('grants', 'sqlite_autoindex_grants_1', '1000000 1')`,
		`CREATE TABLE saved AS SELECT * FROM sqlite_master WHERE name = 'grants_all'`,
		`PRAGMA writable_schema = ON`, `DELETE FROM sqlite_master WHERE name = 'grants_all'`, `PRAGMA writable_schema = OFF`)
	bump()
	exec(`UPDATE grants SET status = 'active', seq = `+strconv.FormatInt(first, 10)+` WHERE id = 'grt_1'`,
		`PRAGMA writable_schema = ON`, `INSERT INTO sqlite_master SELECT * FROM saved`, `PRAGMA writable_schema = OFF`)
	bump()
	exec(`DROP TABLE saved`)
	var plan string
	rows, err := conn.QueryContext(ctx, `EXPLAIN QUERY PLAN SELECT count(status) FROM grants`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, parent, unused any
		if err := rows.Scan(&id, &parent, &unused, &plan); err != nil {
			t.Fatal(err)
		}
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan, "grants_all") {
		t.Fatalf("a read of every row: %q; want it through grants_all", plan)
	}
	if gs, err := l.Grants(ctx, GrantFilter{Principal: "svc-payments-api"}); err != nil || len(gs) != 1 || gs[0].Status != StatusActive {
		t.Fatalf("Grants of the principal = %+v, %v; want the revoked grant listed active", gs, err)
	}
	r, err := l.Verify(ctx)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if r.OK || !strings.Contains(r.Problem, `grant "grt_1"`) {
		t.Fatalf("Verify = %+v: a row edited in the table verified", r)
	}
}

// TestSQLiteVerifyEventsStoredOutOfOrder: the file's owner makes the events
// table again with seq a column of its own rather than the rowid (UNIQUE, so
// that appends still go through), and stores the same events in another
// order than their sequence numbers, or one of them twice. That is
// tampering, for verification to report with OK false, not a failure to
// read the ledger: an error stops the provider before it plans anything,
// while a revocation can still be recorded.
func TestSQLiteVerifyEventsStoredOutOfOrder(t *testing.T) {
	t.Parallel()
	for name, fill := range map[string]string{
		"reversed":  `INSERT INTO events SELECT * FROM old ORDER BY seq DESC`,
		"swapped":   `INSERT INTO events SELECT * FROM old ORDER BY seq = 2, seq`,
		"duplicate": `INSERT INTO events SELECT * FROM old UNION ALL SELECT * FROM old WHERE seq = 2 ORDER BY seq`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			l, path := openTestLedger(t)
			if _, err := l.IssueGrant(ctx, testGrant("grt_1"), t0); err != nil {
				t.Fatal(err)
			}
			from, err := l.Head(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{"grt_2", "grt_3"} {
				if _, err := l.IssueGrant(ctx, testGrant(id), t0); err != nil {
					t.Fatal(err)
				}
			}
			mustVerify(t, l)
			db := rawDB(t, path)
			var def string
			if err := db.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'`).Scan(&def); err != nil {
				t.Fatal(err)
			}
			seq := "seq INTEGER NOT NULL UNIQUE"
			if name == "duplicate" {
				seq = "seq INTEGER NOT NULL"
			}
			for _, stmt := range []string{
				`CREATE TABLE old AS SELECT * FROM events`,
				`DROP TABLE events`,
				strings.Replace(def, "seq       INTEGER PRIMARY KEY", seq, 1),
				fill,
				`DROP TABLE old`,
				sqliteSubjectIndexSQL, sqliteTriggerNoUpdate, sqliteTriggerNoDelete,
			} {
				if _, err := db.ExecContext(ctx, stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			for verify, r := range map[string]func() (Report, error){
				"Verify":      func() (Report, error) { return l.Verify(ctx) },
				"VerifySince": func() (Report, error) { return l.VerifySince(ctx, from) },
			} {
				r, err := r()
				if err != nil || r.OK || r.FirstBad == 0 {
					t.Errorf("%s = %+v, %v; want the events reported, without an error", verify, r, err)
				}
			}
			if name != "duplicate" {
				if _, _, err := l.RevokeGrant(ctx, "grt_1", t0.Add(time.Hour), ReasonOutOfBand, "INC-1", nil); err != nil {
					t.Fatalf("RevokeGrant: %v; want the revocation recorded", err)
				}
			}
		})
	}
}

// TestSQLiteVerifyStateTableWithoutRowid: the file's owner makes a
// current-state table again WITHOUT ROWID, with the same columns and rows.
// Appends, revocations included, still go through; verification reports the
// table's definition rather than failing with an error, which would stop the
// provider before it plans anything, revocations included.
func TestSQLiteVerifyStateTableWithoutRowid(t *testing.T) {
	t.Parallel()
	for _, table := range kindTables {
		t.Run(table, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			l, path := openTestLedger(t)
			if _, err := l.IssueGrant(ctx, testGrant("grt_1"), t0); err != nil {
				t.Fatal(err)
			}
			mustVerify(t, l)
			db := rawDB(t, path)
			for _, stmt := range []string{
				`CREATE TABLE old AS SELECT * FROM ` + table,
				`DROP TABLE ` + table,
				`CREATE TABLE ` + table + ` (` + sqliteCurrentStateColumns + `) STRICT, WITHOUT ROWID`,
				`INSERT INTO ` + table + ` SELECT * FROM old`,
				`DROP TABLE old`,
			} {
				if _, err := db.ExecContext(ctx, stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			r, err := l.Verify(ctx)
			if err != nil || r.OK || !strings.Contains(r.Problem, "the definition of the "+table+" table was altered") {
				t.Fatalf("Verify = %+v, %v; want the table's definition named, without an error", r, err)
			}
			if _, _, err := l.RevokeGrant(ctx, "grt_1", t0.Add(time.Hour), ReasonOutOfBand, "INC-1", nil); err != nil {
				t.Fatalf("RevokeGrant: %v; want the revocation recorded", err)
			}
		})
	}
}

// TestSQLiteVerifyOtherIndexOnEvents: the file's owner adds a second index on
// the events' subjects and sequence numbers, built for a moment under a
// definition that leaves out a revocation and then given the plain one, and
// writes sqlite_stat1 so that SQLite reads a record's events through it
// rather than through events_subject, the index verification compares with
// the events. Read by its subject, the revocation is gone and the grant is
// active again; verification names the index.
func TestSQLiteVerifyOtherIndexOnEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, db, from, revocation := revokedGrantLedger(t)
	def := `CREATE INDEX events_by_subject ON events (subject, seq)`
	for _, stmt := range []string{
		def + ` WHERE seq <> ` + strconv.FormatInt(revocation, 10),
		`ANALYZE`, `DELETE FROM sqlite_stat1 WHERE tbl = 'events'`,
		`INSERT INTO sqlite_stat1 VALUES ('events', 'events_by_subject', '1000000 1 1'), ('events', 'events_subject', '1000000 100000 1')`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	rewriteSchemaSQL(t, db, "index", "events_by_subject", def)
	if g, err := l.Grant(ctx, "grt_1"); err != nil || g.Status != StatusActive {
		t.Fatalf("Grant = %+v, %v; want the revocation hidden from reads by subject", g, err)
	}
	const want = "the events table has an index the migrations did not make (events_by_subject)"
	if r, err := l.Verify(ctx); err != nil || r.OK || !strings.Contains(r.Problem, want) {
		t.Fatalf("Verify = %+v, %v; want %q", r, err, want)
	}
	if r, err := l.VerifySince(ctx, from); err != nil || r.OK || !strings.Contains(r.Problem, want) {
		t.Fatalf("VerifySince = %+v, %v; want %q", r, err, want)
	}
}

// revokedGrantLedger is a verified ledger in which grt_1 was issued and then
// revoked: the ledger, its file opened directly (rawDB), its head before the
// revocation and the revocation's seq.
func revokedGrantLedger(t *testing.T) (*Ledger, *sql.DB, Head, int64) {
	t.Helper()
	ctx := context.Background()
	l, path := openTestLedger(t)
	if _, err := l.IssueGrant(ctx, testGrant("grt_1"), t0); err != nil {
		t.Fatal(err)
	}
	from, err := l.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.RevokeGrant(ctx, "grt_1", t0.Add(time.Hour), ReasonOutOfBand, "INC-1", nil); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, l)
	db := rawDB(t, path)
	var revocation int64
	if err := db.QueryRowContext(ctx, `SELECT max(seq) FROM events WHERE subject = 'grt_1'`).Scan(&revocation); err != nil {
		t.Fatal(err)
	}
	return l, db, from, revocation
}

// TestSQLiteVerifyStopsEarlyWithoutError: an event edited near the start of
// a ledger far longer than the batches a walk keeps in flight. The walk
// stops at it while SQLite is still reading events; the query under way is
// ended, and verification reports the event (not an error, which would stop
// the provider before it planned revocations too).
func TestSQLiteVerifyStopsEarlyWithoutError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	if err := writeFixture(path, 8*walkBatchSize*walkBatchesInUse); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	for _, stmt := range []string{`DROP TRIGGER events_no_update`,
		`UPDATE events SET data = replace(data, 'svc-', 'evil') WHERE seq = 10`, sqliteTriggerNoUpdate} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	l, err := OpenExisting(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r, err := l.Verify(ctx)
	if err != nil || r.OK || r.FirstBad != 10 {
		t.Fatalf("Verify = %+v, %v; want event 10 reported", r, err)
	}
}

// TestReadRefusesAnotherRecordsEvent: should a read of a record's last event
// ever hand over another record's (an index altered in a way the reads'
// own filter does not catch), the read refuses it rather than take one
// grant for another.
func TestReadRefusesAnotherRecordsEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, _ := openTestLedger(t)
	for _, id := range []string{"grt_1", "grt_2"} {
		if _, err := l.IssueGrant(ctx, testGrant(id), t0); err != nil {
			t.Fatal(err)
		}
	}
	s := l.s.(*SQLiteStore) //nolint:forcetypeassert // openTestLedger opens SQLite
	misfiled := func(ctx context.Context, kind, _ string) (int64, []byte, bool, error) {
		return s.lastEvent(ctx, kind, "grt_2")
	}
	if g, err := lastRecord[Grant](ctx, misfiled, "grant", "grt_1"); err == nil ||
		!strings.Contains(err.Error(), `read as its last, is about grant "grt_2"`) {
		t.Fatalf("lastRecord(grt_1) through grt_2's event = %+v, %v; want it refused", g, err)
	}
}
