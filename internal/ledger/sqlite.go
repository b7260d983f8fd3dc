package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteBusyTimeout is how long a write waits for another process's write to
// finish before giving up.
const sqliteBusyTimeout = 30 * time.Second

// Schema objects whose definitions Verify checks: the append-only triggers,
// and the current-state tables. A migration that changes one of them must
// update the definition here to what SQLite then stores.
const (
	sqliteTriggerNoUpdate = `CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
	SELECT RAISE(ABORT, 'ledger events are append-only');
END`
	sqliteTriggerNoDelete = `CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
	SELECT RAISE(ABORT, 'ledger events are append-only');
END`
	sqliteGrantsTable    = `CREATE TABLE grants (` + sqliteCurrentStateColumns + `) STRICT`
	sqliteApprovalsTable = `CREATE TABLE approvals (` + sqliteCurrentStateColumns + `) STRICT`

	// sqliteCurrentStateColumns: the sequence number of the record's last
	// event, whose payload is the record, and the filter columns the append
	// copies from that payload (stateColumns). expires_unix is the expiry's
	// whole seconds since 1970, rounded down; revoke_pending is 0 or 1.
	sqliteCurrentStateColumns = `
	id             TEXT PRIMARY KEY,
	seq            INTEGER NOT NULL REFERENCES events (seq),
	principal      TEXT NOT NULL,
	entitlement    TEXT NOT NULL,
	status         TEXT NOT NULL,
	expires_unix   INTEGER NOT NULL,
	revoke_pending INTEGER NOT NULL,
	approval_id    TEXT NOT NULL
`

	// sqliteCurrentStateColumnsV1 are the current-state columns of schema
	// versions 1 to 7, which held a copy of the last event's payload and
	// generated the filter columns from it. Only migrations use them.
	sqliteCurrentStateColumnsV1 = `
	id           TEXT PRIMARY KEY,
	seq          INTEGER NOT NULL REFERENCES events (seq),
	data         TEXT NOT NULL,
	principal    TEXT NOT NULL GENERATED ALWAYS AS (json_extract(data, '$.principal')) STORED,
	entitlement  TEXT NOT NULL GENERATED ALWAYS AS (json_extract(data, '$.entitlement')) STORED,
	status       TEXT NOT NULL GENERATED ALWAYS AS (json_extract(data, '$.status')) STORED,
	expires_unix INTEGER NOT NULL GENERATED ALWAYS AS (unixepoch(json_extract(data, '$.expires_at'))) STORED
`
)

// sqliteEventsTable is the definition SQLite keeps of the events table once
// migrations 1 and 4 made and extended it (ALTER TABLE appends each column
// to the text). Verification compares it: a definition rewritten behind
// SQLite's back could give subject a case-blind collation, under which a
// read of one record also matches events filed under its id in other case,
// or drop STRICT, under which a value of another type goes in unchecked.
const sqliteEventsTable = sqliteEventsTableV1 +
	`, recorded_at TEXT NOT NULL DEFAULT '', actor TEXT NOT NULL DEFAULT '', run_id TEXT NOT NULL DEFAULT '') STRICT`

// sqliteEventsTableV1 is the start of migration 1's events table, to the
// end of its last column.
const sqliteEventsTableV1 = `CREATE TABLE events (
	seq       INTEGER PRIMARY KEY,
	at        TEXT NOT NULL,
	type      TEXT NOT NULL,
	subject   TEXT NOT NULL,
	data      TEXT NOT NULL,
	prev_hash TEXT NOT NULL,
	hash      TEXT NOT NULL
`

// sqliteCheckedSchema maps the names of the checked schema objects to their definitions.
var sqliteCheckedSchema = map[string]string{
	"events":           sqliteEventsTable,
	"events_no_update": sqliteTriggerNoUpdate,
	"events_no_delete": sqliteTriggerNoDelete,
	"grants":           sqliteGrantsTable,
	"approvals":        sqliteApprovalsTable,
}

// sqliteMigrations are the schema versions, in order: step i brings the schema
// to version i+1. Steps are only ever appended; a released step never changes.
var sqliteMigrations = [][]string{
	{
		sqliteEventsTableV1 + `) STRICT`,
		sqliteTriggerNoUpdate,
		sqliteTriggerNoDelete,
		`CREATE TABLE ledger_head (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	seq  INTEGER NOT NULL,
	hash TEXT NOT NULL
) STRICT`,
		`INSERT INTO ledger_head (id, seq, hash) VALUES (1, 0, '')`,
		`CREATE TABLE grants (` + sqliteCurrentStateColumnsV1 + `) STRICT`,
		`CREATE INDEX grants_principal ON grants (principal)`,
		`CREATE INDEX grants_entitlement ON grants (entitlement)`,
		`CREATE INDEX grants_status_expires ON grants (status, expires_unix)`,
		`CREATE TABLE approvals (` + sqliteCurrentStateColumnsV1 + `) STRICT`,
	},
	{
		// Reads of one grant or approval come from its last event, the chained
		// record, rather than from the current-state tables.
		sqliteSubjectIndexSQL,
	},
	{
		// The ledger's id: random, made once, never changed. Approval
		// statements name it, so that a signature cannot be replayed in
		// another ledger.
		`CREATE TABLE ledger_identity (
	id        INTEGER PRIMARY KEY CHECK (id = 1),
	ledger_id TEXT NOT NULL
) STRICT`,
		`INSERT INTO ledger_identity (id, ledger_id) VALUES (1, lower(hex(randomblob(16))))`,
		`CREATE TRIGGER ledger_identity_no_update BEFORE UPDATE ON ledger_identity
BEGIN
	SELECT RAISE(ABORT, 'the ledger id never changes');
END`,
		`CREATE TRIGGER ledger_identity_no_delete BEFORE DELETE ON ledger_identity
BEGIN
	SELECT RAISE(ABORT, 'the ledger id never changes');
END`,
	},
	{
		// Every policy document a decision was judged by, under the digest
		// the decision names; kept once, never changed.
		sqlitePoliciesTable,
		`CREATE TRIGGER policies_no_update BEFORE UPDATE ON policies
BEGIN
	SELECT RAISE(ABORT, 'kept policy documents never change');
END`,
		`CREATE TRIGGER policies_no_delete BEFORE DELETE ON policies
BEGIN
	SELECT RAISE(ABORT, 'kept policy documents never change');
END`,
	},
	{
		// Grants whose revocation their target has not carried out yet, which
		// a reconciliation completes: few, found without reading every grant.
		`CREATE INDEX grants_revoke_pending ON grants (id) WHERE json_extract(data, '$.revoke_pending') = 1`,
	},
	{
		// Reads of grants by principal as an identity, and by entitlement and
		// status as of an instant, find their rows without reading every
		// grant of an entitlement: the few principals that normalising may
		// change, and the entitlement's grants in one status and expiry range.
		`CREATE INDEX grants_principal_unfolded ON grants (id) WHERE ` + sqliteUnfolded,
		`CREATE INDEX grants_entitlement_status ON grants (entitlement, status, expires_unix)`,
	},
	{
		// Who appended each event and when, beside the instant it was decided
		// at: empty in the events recorded before, which hash without them.
		`ALTER TABLE events ADD COLUMN recorded_at TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE events ADD COLUMN actor TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE events ADD COLUMN run_id TEXT NOT NULL DEFAULT ''`,
	},
	{
		// Current state without a copy of the events: each row keeps the
		// sequence number of its record's last event and the filter columns,
		// and readers take the payload from the event. The tables are made
		// again, as SQLite cannot turn generated columns into plain ones;
		// the columns are kept as they were generated, and the two new ones
		// read from the copy before it goes.
		`ALTER TABLE grants RENAME TO grants_v7`,
		sqliteGrantsTable,
		`INSERT INTO grants (id, seq, principal, entitlement, status, expires_unix, revoke_pending, approval_id)
SELECT id, seq, principal, entitlement, status, expires_unix,
	coalesce(json_extract(data, '$.revoke_pending'), 0), coalesce(json_extract(data, '$.approval_id'), '')
FROM grants_v7`,
		`DROP TABLE grants_v7`,
		// grants_entitlement is not made again: grants_entitlement_status
		// serves every read by entitlement.
		`CREATE INDEX grants_principal ON grants (principal)`,
		`CREATE INDEX grants_status_expires ON grants (status, expires_unix)`,
		`CREATE INDEX grants_revoke_pending ON grants (id) WHERE ` + sqliteRevokePending,
		`CREATE INDEX grants_principal_unfolded ON grants (id) WHERE ` + sqliteUnfolded,
		`CREATE INDEX grants_entitlement_status ON grants (entitlement, status, expires_unix)`,
		`ALTER TABLE approvals RENAME TO approvals_v7`,
		sqliteApprovalsTable,
		`INSERT INTO approvals (id, seq, principal, entitlement, status, expires_unix, revoke_pending, approval_id)
SELECT id, seq, principal, entitlement, status, expires_unix, 0, '' FROM approvals_v7`,
		`DROP TABLE approvals_v7`,
	},
}

// sqliteUnfolded selects grants whose principal is not plain lower-case
// printable ASCII (see dialect.unfolded). The index grants_principal_unfolded
// is made with this condition, so it never changes.
const sqliteUnfolded = `(principal GLOB '*[^!-~]*' OR principal GLOB '*[A-Z]*')`

// sqliteRevokePending selects grants whose revocation is pending. The index
// grants_revoke_pending is made with this condition (since schema version 8)
// and a query uses the index only with the same text, so it never changes.
const sqliteRevokePending = `revoke_pending = 1`

const sqlitePoliciesTable = `CREATE TABLE policies (
	digest      TEXT PRIMARY KEY,
	document    BLOB NOT NULL,
	recorded_at TEXT NOT NULL
) STRICT`

// SQLiteStore is a Store in one SQLite file, in WAL mode. Appends run in
// BEGIN IMMEDIATE transactions, so writers in several processes take turns;
// within a process a mutex orders them first.
type SQLiteStore struct {
	stamper
	db   *sql.DB
	path string     // as given, for messages
	mu   sync.Mutex // serialises appends within the process
	// stmts keeps the statements of appends and reads prepared.
	stmts sqliteStmts
}

var _ Store = (*SQLiteStore)(nil)

// sqliteDialect is the SQLite side of the SQL the stores share.
var sqliteDialect = dialect{
	param:    func(int) string { return "?" },
	ownEvent: ` AND json_extract(data, '$.id') = ?1`,
	expiresBefore: func(bound time.Time) (string, any) {
		// Whole seconds in SQL; Grants makes the exact comparison on the payload.
		return "expires_unix <= %s", bound.Unix()
	},
	expiresAfter: func(bound time.Time) (string, any) {
		// expires_unix is the expiry's whole seconds, rounded down.
		return "expires_unix >= %s", bound.Unix()
	},
	unfolded: sqliteUnfolded,
	// A unary plus: the same value, but not a column an index can serve.
	eventsTable:       "events NOT INDEXED",
	unindexed:         func(column string) string { return "+" + column },
	approvalWithdrawn: `EXISTS (SELECT 1 FROM approvals a WHERE a.id = grants.approval_id AND a.status = %s)`,
	revokePending:     sqliteRevokePending,
	expiresStored:     `g.expires_unix`,
	declaredTypes:     sqliteDeclaredTypes,
	expiresKey:        func(expiresAt time.Time) int64 { return expiresAt.Unix() },
	expiresAgree: func(stored int64, expiresAt time.Time) bool {
		return stored == expiresAt.Unix()
	},
	migrations:      sqliteMigrations,
	identityVersion: 3,
	stateVersion:    8,
}

// openSQLite opens the ledger in the SQLite file at path and brings its schema
// up to date. With create, it creates the file when it does not exist (but
// never its directory). It fails, without leaving a new file behind, when the
// file cannot be written or is not a ledger. origin is recorded with every
// event it appends, the first of which a migration may append at open.
func openSQLite(ctx context.Context, path string, create bool, origin Origin) (*SQLiteStore, error) {
	if path == "" {
		return nil, errors.New("the ledger path is empty")
	}
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("ledger path %q must not contain %q", path, "?")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("ledger %q: %w", path, err)
	}
	created, err := prepareLedgerFile(path, abs, create)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", sqliteDSN(abs))
	if err == nil {
		s := &SQLiteStore{db: db, path: path}
		s.SetOrigin(origin)
		if err = s.migrate(ctx); err == nil {
			return s, nil
		}
		db.Close()
	}
	if created {
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			os.Remove(abs + suffix)
		}
	}
	return nil, describeSQLiteError(path, err)
}

// sqliteDSN sets the pragmas on every connection the pool opens.
func sqliteDSN(abs string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	// FULL: a commit reaches the disk before the append returns, so an apply
	// never reports a grant or revocation whose evidence a power cut could
	// still take away. It costs one fsync per append (about 0.2 ms here).
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(ON)")
	// The ledger file is the insider's to write, triggers and views
	// included: what they run may call only SQLite's own harmless
	// functions, not the verification's (sqlite_walk.go).
	q.Add("_pragma", "trusted_schema(OFF)")
	q.Set("_txlock", "immediate")
	return abs + "?" + q.Encode()
}

// prepareLedgerFile checks the ledger's file and directory and, when allowed,
// creates the file, so that a bad path gets a plain message instead of SQLite's
// "unable to open database file". It reports whether it created the file.
func prepareLedgerFile(path, abs string, create bool) (created bool, err error) {
	info, err := os.Stat(abs)
	if err == nil {
		if info.IsDir() {
			return false, fmt.Errorf("ledger %q is a directory, not a file", path)
		}
		if !info.Mode().IsRegular() {
			return false, fmt.Errorf("ledger %q is not a regular file", path)
		}
		return false, nil
	}
	dir := filepath.Dir(path)
	dirInfo, dirErr := os.Stat(filepath.Dir(abs))
	switch {
	case dirErr == nil && !dirInfo.IsDir():
		return false, fmt.Errorf("cannot write the ledger %q: %q is not a directory", path, dir)
	case errors.Is(dirErr, fs.ErrNotExist):
		return false, fmt.Errorf("ledger directory %q does not exist", dir)
	case dirErr != nil:
		return false, fmt.Errorf("cannot write the ledger %q: %v", path, pathErrorText(dirErr))
	case !errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("cannot open the ledger %q: %v", path, pathErrorText(err))
	case !create:
		return false, fmt.Errorf("ledger %q %w", path, ErrNoLedger)
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return false, nil // created by another process meanwhile
	}
	if err != nil {
		return false, fmt.Errorf("cannot write the ledger %q: %v", path, pathErrorText(err))
	}
	if err := f.Close(); err != nil {
		os.Remove(abs)
		return false, fmt.Errorf("cannot write the ledger %q: %v", path, pathErrorText(err))
	}
	return true, nil
}

// pathErrorText is the operating system's reason without the repeated path.
func pathErrorText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// errNotALedger marks a SQLite database that some other program owns.
var errNotALedger = errors.New("not a governed ledger")

// describeSQLiteError turns SQLite's result codes into messages about the ledger.
func describeSQLiteError(path string, err error) error {
	var se *sqlite.Error
	if errors.Is(err, errNotALedger) {
		return fmt.Errorf("%q is a SQLite database but not a governed ledger", path)
	}
	if !errors.As(err, &se) {
		return fmt.Errorf("ledger %q: %w", path, err)
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_NOTADB:
		return fmt.Errorf("ledger %q is not a SQLite database", path)
	case sqlite3.SQLITE_READONLY:
		return fmt.Errorf("cannot write the ledger %q: it is read-only", path)
	case sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH:
		return fmt.Errorf("cannot write the ledger %q: permission denied", path)
	case sqlite3.SQLITE_CANTOPEN:
		return fmt.Errorf("cannot open the ledger %q: %w", path, err)
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return fmt.Errorf("the ledger %q stayed locked by another writer for %s: %w", path, sqliteBusyTimeout, err)
	case sqlite3.SQLITE_CORRUPT:
		return fmt.Errorf("the ledger %q is corrupt: %w", path, err)
	case sqlite3.SQLITE_FULL:
		return fmt.Errorf("cannot write the ledger %q: the disk is full", path)
	}
	return fmt.Errorf("ledger %q: %w", path, err)
}

// migrate brings the schema to the latest version in one write transaction,
// which also proves at open that the ledger can be written.
func (s *SQLiteStore) migrate(ctx context.Context) error {
	t, err := s.begin(ctx, nil)
	if err != nil {
		return err
	}
	defer t.end()
	tx := t.tx
	var tracked int
	if err := tx.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&tracked); err != nil {
		return err
	}
	if tracked == 0 {
		var others int
		if err := tx.QueryRowContext(ctx,
			`SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite\_%' ESCAPE '\'`).Scan(&others); err != nil {
			return err
		}
		if others > 0 {
			return errNotALedger
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE schema_migrations (
	version    INTEGER PRIMARY KEY,
	applied_at TEXT NOT NULL
) STRICT`); err != nil {
			return err
		}
	}
	if err := sqliteDialect.migrate(ctx, t, s.stamp()); err != nil {
		return err
	}
	return tx.Commit()
}

// Close closes the database.
func (s *SQLiteStore) Close() error { return errors.Join(s.stmts.close(), s.db.Close()) }

// AppendGrant implements Store.
func (s *SQLiteStore) AppendGrant(ctx context.Context, eventType string, at time.Time, g Grant, expectSeq int64) (Event, error) {
	r, err := grantRecord(eventType, g)
	if err != nil {
		return Event{}, err
	}
	return s.append(ctx, eventType, at, r, expectSeq)
}

// AppendApproval implements Store.
func (s *SQLiteStore) AppendApproval(ctx context.Context, eventType string, at time.Time, a Approval, expectSeq int64) (Event, error) {
	r, err := approvalRecord(eventType, a)
	if err != nil {
		return Event{}, err
	}
	return s.append(ctx, eventType, at, r, expectSeq)
}

func (s *SQLiteStore) append(ctx context.Context, eventType string, at time.Time, r appendRecord, expectSeq int64) (Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev, err := s.appendTx(ctx, eventType, at, r, expectSeq)
	if err != nil {
		var se *sqlite.Error
		if errors.As(err, &se) {
			return Event{}, describeSQLiteError(s.path, err)
		}
		return Event{}, err
	}
	return ev, nil
}

// sqliteUpsert stores a record's new current state, by table.
var sqliteUpsert = map[string]string{}

func init() {
	for _, table := range []string{"grants", "approvals"} {
		sqliteUpsert[table] = `INSERT INTO ` + table + ` (id, seq, principal, entitlement, status, expires_unix, revoke_pending, approval_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, principal = excluded.principal, entitlement = excluded.entitlement,
	status = excluded.status, expires_unix = excluded.expires_unix, revoke_pending = excluded.revoke_pending,
	approval_id = excluded.approval_id`
	}
}

// appendTx is one append: it reads the record's last event (recordSeqQuery),
// the head and the last event of the log under the write lock, decides, and
// writes the event, the record's current-state row and the head.
func (s *SQLiteStore) appendTx(ctx context.Context, eventType string, at time.Time, r appendRecord, expectSeq int64) (Event, error) {
	tx, err := s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: takes the write lock now
	if err != nil {
		return Event{}, err
	}
	defer tx.Rollback()

	var cur *int64
	var seq int64
	err = s.txQueryRow(ctx, tx, recordSeqQuery(sqliteDialect, r.row.kind), r.row.id).Scan(&seq)
	switch {
	case err == nil:
		cur = &seq
	case !errors.Is(err, sql.ErrNoRows):
		return Event{}, err
	}
	var head, last Head
	err = s.txQueryRow(ctx, tx, `SELECT seq, hash FROM ledger_head WHERE id = 1`).Scan(&head.Seq, &head.Hash)
	if errors.Is(err, sql.ErrNoRows) {
		return Event{}, errHeadMissing
	}
	if err != nil {
		return Event{}, fmt.Errorf("reading the ledger's head: %w", err)
	}
	var lastRecorded string
	err = s.txQueryRow(ctx, tx, lastEventQuery).Scan(&last.Seq, &last.Hash, &lastRecorded)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Event{}, err
	}
	ev, err := decideAppend(eventType, at, r, expectSeq, cur, head, last, s.stamp().after(lastRecorded))
	if err != nil {
		return Event{}, err
	}

	if err := s.txExec(ctx, tx, insertEventStatement(sqliteDialect), eventArgs(ev)...); err != nil {
		return Event{}, err
	}
	expires, err := time.Parse(time.RFC3339, r.cols.expiresAt)
	if err != nil {
		return Event{}, err // checkRecord took it
	}
	revokePending := 0
	if r.cols.revokePending {
		revokePending = 1
	}
	if err := s.txExec(ctx, tx, sqliteUpsert[r.row.table], r.row.id, ev.Seq, r.cols.principal, r.cols.entitlement,
		r.cols.status, expires.Unix(), revokePending, r.cols.approvalID); err != nil {
		return Event{}, err
	}
	if err := s.txExec(ctx, tx, `UPDATE ledger_head SET seq = ?, hash = ? WHERE id = 1`, ev.Seq, ev.Hash); err != nil {
		return Event{}, err
	}
	if err := tx.Commit(); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// AppendDiscontinuity implements Store.
func (s *SQLiteStore) AppendDiscontinuity(ctx context.Context, at time.Time, note string) (Event, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev, appended, err := s.discontinuityTx(ctx, at, note)
	var se *sqlite.Error
	if errors.As(err, &se) {
		return Event{}, false, describeSQLiteError(s.path, err)
	}
	return ev, appended, err
}

// discontinuityTx is AppendDiscontinuity under the write lock.
func (s *SQLiteStore) discontinuityTx(ctx context.Context, at time.Time, note string) (Event, bool, error) {
	tx, err := s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: takes the write lock now
	if err != nil {
		return Event{}, false, err
	}
	defer tx.Rollback()
	var h, last Head
	head := &h
	err = tx.QueryRowContext(ctx, `SELECT seq, hash FROM ledger_head WHERE id = 1`).Scan(&h.Seq, &h.Hash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		head = nil
	case err != nil:
		return Event{}, false, err
	}
	var lastRecorded string
	err = tx.QueryRowContext(ctx, lastEventQuery).Scan(&last.Seq, &last.Hash, &lastRecorded)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Event{}, false, err
	}
	ev, appended, err := decideDiscontinuity(at, note, head, last, s.stamp().after(lastRecorded))
	if err != nil || !appended {
		return Event{}, false, err
	}
	if _, err := tx.ExecContext(ctx, insertEventStatement(sqliteDialect), eventArgs(ev)...); err != nil {
		return Event{}, false, err
	}
	moveHead := `UPDATE ledger_head SET seq = ?, hash = ? WHERE id = 1`
	if head == nil {
		moveHead = `INSERT INTO ledger_head (id, seq, hash) VALUES (1, ?, ?)`
	}
	if _, err := tx.ExecContext(ctx, moveHead, ev.Seq, ev.Hash); err != nil {
		return Event{}, false, err
	}
	if err := tx.Commit(); err != nil {
		return Event{}, false, err
	}
	return ev, true, nil
}

// Grant implements Store. It reads the grant's last event (see lastRecord).
func (s *SQLiteStore) Grant(ctx context.Context, id string) (Grant, error) {
	return lastRecord[Grant](ctx, s.lastEvent, "grant", id)
}

// Approval implements Store. Like Grant, it reads the approval's last event.
func (s *SQLiteStore) Approval(ctx context.Context, id string) (Approval, error) {
	return lastRecord[Approval](ctx, s.lastEvent, "approval", id)
}

// lastEvent is the store's lastEventReader. It takes only an event whose
// payload names id (dialect.ownEvent); an index entry left out is for
// verification to find.
func (s *SQLiteStore) lastEvent(ctx context.Context, kind, id string) (seq int64, data []byte, found bool, err error) {
	err = s.queryRow(ctx,
		`SELECT seq, data FROM events WHERE subject = ? AND type LIKE ?`+sqliteDialect.ownEvent+` ORDER BY seq DESC LIMIT 1`,
		id, kind+".%").Scan(&seq, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, false, nil
	}
	if err != nil {
		return 0, nil, false, describeSQLiteError(s.path, err)
	}
	return seq, data, true, nil
}

// Grants implements Store. The result is sorted by id. Rows are selected in SQL
// and the filter is checked again against each stored payload.
func (s *SQLiteStore) Grants(ctx context.Context, f GrantFilter) ([]Grant, error) {
	return collectGrants(ctx, s.EachGrant, f)
}

// EachGrant implements Store. Rows are selected in SQL and the filter is
// checked again against each stored payload.
func (s *SQLiteStore) EachGrant(ctx context.Context, f GrantFilter, fn func(Grant) error) error {
	return s.eachGrantRow(ctx, f, func(rows recordRows) error { return eachRecord(rows, "grant", f.Matches, fn) })
}

// EachListedGrant implements Store, as EachGrant does.
func (s *SQLiteStore) EachListedGrant(ctx context.Context, f GrantFilter, fn func(*Grant) error) error {
	return s.eachGrantRow(ctx, f, func(rows recordRows) error { return eachListedGrant(rows, f.Matches, fn) })
}

// eachGrantRow runs the query of the grants that may match f and hands its
// rows to each, which returns the callback's errors in an errStopRecords.
func (s *SQLiteStore) eachGrantRow(ctx context.Context, f GrantFilter, each func(recordRows) error) error {
	q, args := sqliteDialect.grantsQuery(f)
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return describeSQLiteError(s.path, err)
	}
	defer rows.Close()
	if err := each(&sqliteRecordRows{Rows: rows}); err != nil {
		if own, ok := callbackError(err); ok {
			return own
		}
		return err
	}
	if err := rows.Err(); err != nil {
		return describeSQLiteError(s.path, err)
	}
	return nil
}

// sqliteRecordRows are a query's (id, seq, payload) rows (recordRows), whose
// payloads share one buffer.
type sqliteRecordRows struct {
	*sql.Rows
	data sql.RawBytes
}

func (r *sqliteRecordRows) scanRecord(id *string, seq *int64) ([]byte, error) {
	err := r.Scan(id, seq, &r.data)
	return r.data, err
}

// Head implements Store.
func (s *SQLiteStore) Head(ctx context.Context) (Head, error) {
	var h Head
	if err := s.queryRow(ctx, `SELECT seq, hash FROM ledger_head WHERE id = 1`).Scan(&h.Seq, &h.Hash); err != nil {
		return Head{}, describeSQLiteError(s.path, err)
	}
	return h, nil
}

// KeepPolicy implements Store.
func (s *SQLiteStore) KeepPolicy(ctx context.Context, digest string, document []byte, at time.Time) error {
	if err := checkPolicy(digest, document); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, keepPolicyStatement(sqliteDialect), digest, document, formatAt(at))
	if err != nil {
		return describeSQLiteError(s.path, err)
	}
	return nil
}

// Policies implements Store.
func (s *SQLiteStore) Policies(ctx context.Context, fn func(digest string, document []byte) error) error {
	rows, err := s.db.QueryContext(ctx, policiesQuery)
	if err != nil {
		return describeSQLiteError(s.path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var digest string
		var document []byte
		if err := rows.Scan(&digest, &document); err != nil {
			return describeSQLiteError(s.path, err)
		}
		if err := fn(digest, document); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ID implements Store.
func (s *SQLiteStore) ID(ctx context.Context) (string, error) {
	var id string
	if err := s.db.QueryRowContext(ctx, ledgerIDQuery).Scan(&id); err != nil {
		return "", describeSQLiteError(s.path, err)
	}
	return id, nil
}

// EventHash implements Store.
func (s *SQLiteStore) EventHash(ctx context.Context, seq int64) (string, error) {
	var hash string
	err := s.db.QueryRowContext(ctx, eventHashQuery(sqliteDialect), seq).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", describeSQLiteError(s.path, err)
	}
	return hash, nil
}

// recordedAround implements timeReader.
func (s *SQLiteStore) recordedAround(ctx context.Context, seq int64, after bool) (int64, time.Time, bool, error) {
	at, t, found, err := scanRecordedAround(ctx, func(ctx context.Context, q string, args []any, dest ...any) (bool, error) {
		err := s.db.QueryRowContext(ctx, q, args...).Scan(dest...)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		return err == nil, err
	}, sqliteDialect, seq, after)
	var se *sqlite.Error
	if errors.As(err, &se) {
		return 0, time.Time{}, false, describeSQLiteError(s.path, err)
	}
	return at, t, found, err
}

// Events implements Store.
func (s *SQLiteStore) Events(ctx context.Context, fn func(Event) error) error {
	return s.scanEvents(ctx, fn, `SELECT `+eventColumns+` FROM events ORDER BY seq`)
}

// SubjectEvents implements Store.
func (s *SQLiteStore) SubjectEvents(ctx context.Context, kind, subject string, fn func(Event) error) error {
	args, err := subjectEventsArgs(kind, subject)
	if err != nil {
		return err
	}
	return s.scanEvents(ctx, fn, subjectEventsQuery(sqliteDialect, subject), args...)
}

// scanEvents calls fn for every event q selects (with eventColumns).
func (s *SQLiteStore) scanEvents(ctx context.Context, fn func(Event) error, q string, args ...any) error {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return describeSQLiteError(s.path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var e Event
		var at, recordedAt string
		if err := rows.Scan(&e.Seq, &at, &e.Type, &e.Subject, &e.Data, &e.PrevHash, &e.Hash, &recordedAt, &e.Actor, &e.RunID); err != nil {
			return err
		}
		if err := eventTimes(&e, at, recordedAt); err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Verify implements Store: verifySnapshot over one read-only transaction, so
// that the chain, the recorded head, the current-state tables and the schema
// are read in one snapshot while appends go on.
func (s *SQLiteStore) Verify(ctx context.Context) (Report, error) { return s.verify(ctx, nil, nil) }

// verify is Verify with a Judge of the decisions (nil for none), from the
// trusted event from when it is not nil (VerifySince).
func (s *SQLiteStore) verify(ctx context.Context, judge Judge, from *Head) (Report, error) {
	tx, err := s.begin(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Report{}, describeSQLiteError(s.path, err)
	}
	defer tx.end()
	r, err := verifySnapshot(ctx, tx, judge, from)
	if err != nil {
		return Report{}, describeSQLiteError(s.path, err)
	}
	return r, nil
}

// sqliteTx is a transaction of the store as the shared code uses it: a
// migration (migrationTx) or a verification (snapshotReader).
type sqliteTx struct {
	tx *sql.Tx
	// conn is the connection tx runs on, for a walk (walkEvents).
	conn *sql.Conn
}

// begin begins a transaction on a connection of its own, which the walk of
// a verification reads through below database/sql (walkEvents).
func (s *SQLiteStore) begin(ctx context.Context, opts *sql.TxOptions) (sqliteTx, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return sqliteTx{}, err
	}
	tx, err := conn.BeginTx(ctx, opts)
	if err != nil {
		conn.Close()
		return sqliteTx{}, err
	}
	return sqliteTx{tx: tx, conn: conn}, nil
}

// end rolls back the transaction unless it was committed, and gives its
// connection back to the pool.
func (t sqliteTx) end() {
	t.tx.Rollback()
	t.conn.Close()
}

func (t sqliteTx) exec(ctx context.Context, stmt string, args ...any) error {
	_, err := t.tx.ExecContext(ctx, stmt, args...)
	return err
}

func (t sqliteTx) queryRow(ctx context.Context, q string, dest ...any) (bool, error) {
	return t.queryRowArgs(ctx, q, nil, dest...)
}

func (t sqliteTx) queryRowArgs(ctx context.Context, q string, args []any, dest ...any) (bool, error) {
	err := t.tx.QueryRowContext(ctx, q, args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func (t sqliteTx) dialect() dialect { return sqliteDialect }

// policies reads the kept policy documents.
func (t sqliteTx) policies(ctx context.Context, fn func(digest string, document []byte)) error {
	rows, err := t.tx.QueryContext(ctx, policiesQuery)
	if err != nil {
		return err
	}
	defer rows.Close()
	return scanPolicies(rows, fn)
}

// rows reads one current-state table, for a walk that did not read them
// (walkEvents).
func (t sqliteTx) rows(ctx context.Context, kind int, fn func(*stateRow)) error {
	return t.rowsSQL(ctx, sqliteDialect.stateRowsQuery(kindTables[kind]), nil, fn)
}

// rowsSQL reads current-state rows through database/sql.
func (t sqliteTx) rowsSQL(ctx context.Context, q string, args []any, fn func(*stateRow)) error {
	rows, err := t.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return scanStateRows(rows, fn)
}

// sqliteDeclaredTypes is 1 when every column of the current-state row g
// holds a value of the type its table declares, as a STRICT table keeps
// them, and 0 otherwise. A table whose definition was rewritten behind
// SQLite's back (writable_schema) can hold others, which its filters compare
// otherwise than the values they read as: a BLOB 'active' is not = 'active',
// a TEXT expiry is later than every number.
const sqliteDeclaredTypes = `(typeof(g.id) = 'text' AND typeof(g.seq) = 'integer' AND typeof(g.principal) = 'text' AND
	typeof(g.entitlement) = 'text' AND typeof(g.status) = 'text' AND typeof(g.expires_unix) = 'integer' AND
	typeof(g.revoke_pending) = 'integer' AND typeof(g.approval_id) = 'text')`

// schemaProblem reports whether the append-only triggers and the
// current-state tables are still defined as the migrations left them.
//
// It also reports a file whose text is not UTF-8, the encoding SQLite creates
// a ledger with. In UTF-16, SQLite turns a high surrogate followed by any
// unit into the character of a pair, so that text stored otherwise than an
// append stores it reads as the same characters, the walk's read included,
// while a comparison with those characters, which compares the stored
// units, does not match it: a filter on a column would pass over a row that
// verifies.
func (t sqliteTx) schemaProblem(ctx context.Context) (string, error) {
	var encoding string
	if err := t.tx.QueryRowContext(ctx, `PRAGMA encoding`).Scan(&encoding); err != nil {
		return "", err
	}
	if encoding != "UTF-8" {
		return fmt.Sprintf("the ledger file stores its text as %s, not UTF-8 as SQLite creates a ledger", encoding), nil
	}
	rows, err := t.tx.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE type IN ('table', 'trigger')`)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	found := map[string]string{}
	for rows.Next() {
		var name string
		var text sql.NullString
		if err := rows.Scan(&name, &text); err != nil {
			return "", err
		}
		if _, ok := sqliteCheckedSchema[name]; ok {
			found[name] = text.String
		}
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	for _, trigger := range []string{"events_no_update", "events_no_delete"} {
		if _, ok := found[trigger]; !ok {
			return "append-only triggers are missing", nil
		}
	}
	for _, trigger := range []string{"events_no_update", "events_no_delete"} {
		if found[trigger] != sqliteCheckedSchema[trigger] {
			return "append-only triggers were altered", nil
		}
	}
	for _, table := range []string{"events", "grants", "approvals"} {
		if found[table] != sqliteCheckedSchema[table] {
			return fmt.Sprintf("the definition of the %s table was altered", table), nil
		}
	}
	return "", nil
}
