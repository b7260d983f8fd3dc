package ledger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/governed-entitlements/terraform-provider-governed/internal/pgurl"
)

// pgMigrationLock is the key of the transaction-level advisory lock that the
// migration takes first, so that processes opening a new ledger at the same
// time create its schema once: the others wait, then find it made. Advisory
// locks are per database; the key is "governed" in ASCII.
const pgMigrationLock int64 = 0x676f7665726e6564

// pgAppendAttempts bounds how often an append is retried after PostgreSQL
// aborted it for a serialization failure or a deadlock, which leave nothing
// behind and succeed when tried again.
const pgAppendAttempts = 5

// Schema objects whose definitions Verify checks: the function and triggers
// that make the log append-only, and the current-state tables, whose filter
// columns are tied to the payload so that they cannot disagree with it. The
// expected definitions are what PostgreSQL renders (pg_get_triggerdef,
// pg_get_functiondef, pg_get_expr, pg_get_constraintdef); a migration that
// changes one of these objects must update its rendering here.
const (
	// pgAppendOnlyBody is the body of the function the append-only triggers
	// call: whatever the statement, it is refused.
	pgAppendOnlyBody = `
BEGIN
	RAISE EXCEPTION 'ledger events are append-only';
END
`
	pgAppendOnlyFunction = `CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $function$` +
		pgAppendOnlyBody + `$function$`
	// pgAppendOnlyFunctionDef is pg_get_functiondef of the function, with %s
	// for the quoted name of its schema, which PostgreSQL always writes.
	pgAppendOnlyFunctionDef = "CREATE OR REPLACE FUNCTION %s.events_append_only()\n RETURNS trigger\n LANGUAGE plpgsql\nAS $function$" +
		pgAppendOnlyBody + "$function$\n"

	// The triggers, written as pg_get_triggerdef(oid, true) renders them for a
	// table and function on the search_path. TRUNCATE fires no row triggers,
	// so it has a statement trigger of its own.
	pgTriggerNoUpdate   = `CREATE TRIGGER events_no_update BEFORE UPDATE ON events FOR EACH ROW EXECUTE FUNCTION events_append_only()`
	pgTriggerNoDelete   = `CREATE TRIGGER events_no_delete BEFORE DELETE ON events FOR EACH ROW EXECUTE FUNCTION events_append_only()`
	pgTriggerNoTruncate = `CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()`

	// pgCurrentStateTableV1 created a current-state table (%[1]s is its
	// name) in schema versions 1 to 6: the payload of the record's last event,
	// that event's sequence number, and columns derived from the payload for
	// filtering. principal, entitlement and status were generated from the
	// payload. The expiry could not be: turning text into a time depends on
	// session settings in general, so PostgreSQL refuses it in a generated
	// column. The append wrote it and a CHECK tied it to the payload. Ids are
	// compared and sorted byte by byte, as SQLite does, whatever the
	// database's collation. Since version 7 the table keeps no payload
	// (pgCurrentStateTableDef); only migrations use this.
	pgCurrentStateTableV1 = `CREATE TABLE %[1]s (
	id          text COLLATE "C" PRIMARY KEY,
	seq         bigint NOT NULL REFERENCES events (seq),
	data        text NOT NULL,
	principal   text NOT NULL GENERATED ALWAYS AS (data::json ->> 'principal') STORED,
	entitlement text NOT NULL GENERATED ALWAYS AS (data::json ->> 'entitlement') STORED,
	status      text NOT NULL GENERATED ALWAYS AS (data::json ->> 'status') STORED,
	expires_at  timestamptz NOT NULL,
	CONSTRAINT %[1]s_expires_at_payload CHECK (expires_at = (data::json ->> 'expires_at')::timestamptz)
)`
	// pgCurrentStateTableDef is how schemaProblem describes a current-state
	// table (%[1]s is its name): its columns in order, then its constraints
	// by name. It holds the sequence number of the record's last event, whose
	// payload is the record, and the filter columns the append copies from
	// that payload (stateColumns); the expiry is written as the payload's
	// text, which always carries an explicit UTC offset (checkRecord), so
	// that its conversion does not depend on session settings.
	pgCurrentStateTableDef = `id text NOT NULL
seq bigint NOT NULL
principal text NOT NULL
entitlement text NOT NULL
status text NOT NULL
expires_at timestamp with time zone NOT NULL
revoke_pending boolean NOT NULL
approval_id text NOT NULL
CONSTRAINT %[1]s_pkey PRIMARY KEY (id)
CONSTRAINT %[1]s_seq_fkey FOREIGN KEY (seq) REFERENCES events(seq)
`
)

// The trigger that has the database stamp time: an event's recording time
// must be an RFC 3339 time in UTC within pgClockBound of the database's
// clock_timestamp() when it is inserted, and not before the recording time
// of the event before it. The append reads the clock under the ledger's
// write lock (the head row) and records what it read, one round trip before
// the insert; a role that may only INSERT cannot date an event otherwise,
// nor alter or disable the trigger, which only the table's owner can.
const (
	// pgClockBound is how far an event's recording time may be from the
	// database's clock when it is inserted, in seconds: the time between
	// the append's read of the clock and its insert, one round trip under
	// the head row's lock, with a wide margin.
	pgClockBound = "30"

	pgRecordedNowBody = `
DECLARE
	recorded timestamptz;
	previous text;
BEGIN
	IF NEW.recorded_at !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z$' THEN
		RAISE EXCEPTION 'ledger event % has the recording time %, where the database''s clock stamps every event', NEW.seq, quote_literal(NEW.recorded_at);
	END IF;
	recorded := NEW.recorded_at::timestamptz;
	IF abs(extract(epoch FROM recorded - clock_timestamp())) > ` + pgClockBound + ` THEN
		RAISE EXCEPTION 'ledger event % has the recording time %, more than ` + pgClockBound + ` seconds from the database''s clock (%): the database stamps every event', NEW.seq, NEW.recorded_at, clock_timestamp();
	END IF;
	-- The table the trigger fires on, by schema: a session's temporary table
	-- named events comes first in its search_path and must not be read.
	EXECUTE format('SELECT e.recorded_at FROM %I.%I e WHERE e.seq = $1', TG_TABLE_SCHEMA, TG_TABLE_NAME)
		INTO previous USING NEW.seq - 1;
	IF previous IS NOT NULL AND previous <> '' AND recorded < previous::timestamptz THEN
		RAISE EXCEPTION 'ledger event % has the recording time %, before event % (%): recording times never go backwards', NEW.seq, NEW.recorded_at, NEW.seq - 1, previous;
	END IF;
	RETURN NEW;
END
`
	pgRecordedNowFunction = `CREATE FUNCTION events_recorded_now() RETURNS trigger LANGUAGE plpgsql AS $function$` +
		pgRecordedNowBody + `$function$`
	// pgRecordedNowFunctionDef is pg_get_functiondef of the function, with
	// {schema} for the quoted name of its schema (its body holds %).
	pgRecordedNowFunctionDef = "CREATE OR REPLACE FUNCTION {schema}.events_recorded_now()\n RETURNS trigger\n LANGUAGE plpgsql\nAS $function$" +
		pgRecordedNowBody + "$function$\n"
	pgTriggerRecordedNow = `CREATE TRIGGER events_recorded_now BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION events_recorded_now()`
)

// pgTriggers maps the append-only triggers to their definitions.
var pgTriggers = map[string]string{
	"events_no_update":   pgTriggerNoUpdate,
	"events_no_delete":   pgTriggerNoDelete,
	"events_no_truncate": pgTriggerNoTruncate,
}

// pgMigrations are the schema versions, in order: step i brings the schema to
// version i+1. Steps are only ever appended; a released step never changes.
// Names are unqualified: the ledger lives in the connection's current schema,
// public unless the URL's search_path says otherwise.
var pgMigrations = [][]string{
	{
		// The events' text is stored as written and hashed: data is TEXT, not
		// jsonb, which would reorder keys and break the hashes. A second event
		// linking to the same predecessor would fork the chain; UNIQUE refuses
		// it (the first event, alone, links to "").
		`CREATE TABLE events (
	seq       bigint PRIMARY KEY CHECK (seq > 0),
	at        text NOT NULL,
	type      text NOT NULL,
	subject   text COLLATE "C" NOT NULL,
	data      text NOT NULL,
	prev_hash text NOT NULL UNIQUE,
	hash      text NOT NULL
)`,
		// Reads of one grant or approval come from its last event, the chained
		// record, rather than from the current-state tables.
		`CREATE INDEX events_subject ON events (subject, seq)`,
		pgAppendOnlyFunction,
		pgTriggerNoUpdate,
		pgTriggerNoDelete,
		pgTriggerNoTruncate,
		`CREATE TABLE ledger_head (
	id   integer PRIMARY KEY CHECK (id = 1),
	seq  bigint NOT NULL,
	hash text NOT NULL
)`,
		`INSERT INTO ledger_head (id, seq, hash) VALUES (1, 0, '')`,
		fmt.Sprintf(pgCurrentStateTableV1, "grants"),
		`CREATE INDEX grants_principal ON grants (principal)`,
		`CREATE INDEX grants_entitlement ON grants (entitlement)`,
		`CREATE INDEX grants_status_expires ON grants (status, expires_at)`,
		fmt.Sprintf(pgCurrentStateTableV1, "approvals"),
	},
	{
		// The ledger's id: random, made once, never changed. Approval
		// statements name it, so that a signature cannot be replayed in
		// another ledger.
		`CREATE TABLE ledger_identity (
	id        integer PRIMARY KEY CHECK (id = 1),
	ledger_id text NOT NULL
)`,
		`INSERT INTO ledger_identity (id, ledger_id) VALUES (1, replace(gen_random_uuid()::text, '-', ''))`,
		`CREATE FUNCTION ledger_identity_fixed() RETURNS trigger LANGUAGE plpgsql AS $function$
BEGIN
	RAISE EXCEPTION 'the ledger id never changes';
END
$function$`,
		`CREATE TRIGGER ledger_identity_fixed BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_identity FOR EACH STATEMENT EXECUTE FUNCTION ledger_identity_fixed()`,
	},
	{
		// Every policy document a decision was judged by, under the digest
		// the decision names; kept once, never changed.
		`CREATE TABLE policies (
	digest      text COLLATE "C" PRIMARY KEY,
	document    bytea NOT NULL,
	recorded_at text NOT NULL
)`,
		`CREATE FUNCTION policies_kept() RETURNS trigger LANGUAGE plpgsql AS $function$
BEGIN
	RAISE EXCEPTION 'kept policy documents never change';
END
$function$`,
		`CREATE TRIGGER policies_kept BEFORE UPDATE OR DELETE OR TRUNCATE ON policies FOR EACH STATEMENT EXECUTE FUNCTION policies_kept()`,
	},
	{
		// Grants whose revocation their target has not carried out yet, which
		// a reconciliation completes: few, found without reading every grant.
		`CREATE INDEX grants_revoke_pending ON grants (id) WHERE (data::json ->> 'revoke_pending') = 'true'`,
	},
	{
		// Reads of grants by principal as an identity, and by entitlement and
		// status as of an instant, find their rows without reading every
		// grant of an entitlement: the few principals that normalising may
		// change, and the entitlement's grants in one status and expiry range.
		`CREATE INDEX grants_principal_unfolded ON grants (id) WHERE ` + pgUnfolded,
		`CREATE INDEX grants_entitlement_status ON grants (entitlement, status, expires_at)`,
	},
	{
		// Who appended each event and when, beside the instant it was decided
		// at: empty in the events recorded before, which hash without them.
		// A constant default changes no stored row, so no trigger fires.
		`ALTER TABLE events ADD COLUMN recorded_at text NOT NULL DEFAULT '', ADD COLUMN actor text NOT NULL DEFAULT '', ADD COLUMN run_id text NOT NULL DEFAULT ''`,
	},
	pgStateWithoutPayload("grants", "approvals"),
	{
		// The database stamps time: every new event is recorded by its
		// clock, not after the one before, whoever inserts it. Events
		// recorded before are not touched.
		pgRecordedNowFunction,
		pgTriggerRecordedNow,
	},
}

// pgStateWithoutPayload is the migration to current state without a copy of
// the events: each row keeps the sequence number of its record's last event
// and the filter columns, and readers take the payload from the event. The
// generated columns become plain ones with their values, the two new ones
// are read from the copy, and the copy goes, with the CHECK and the index
// made from it; the index is made again on the new column. The index of
// grants by entitlement alone goes too.
func pgStateWithoutPayload(tables ...string) []string {
	var steps []string
	for _, t := range tables {
		steps = append(steps,
			`ALTER TABLE `+t+` ALTER COLUMN principal DROP EXPRESSION, ALTER COLUMN entitlement DROP EXPRESSION,
	ALTER COLUMN status DROP EXPRESSION, ADD COLUMN revoke_pending boolean NOT NULL DEFAULT false,
	ADD COLUMN approval_id text COLLATE "C" NOT NULL DEFAULT ''`,
			`UPDATE `+t+` SET revoke_pending = coalesce((data::json ->> 'revoke_pending')::boolean, false),
	approval_id = coalesce(data::json ->> 'approval_id', '')`,
			`ALTER TABLE `+t+` DROP COLUMN data, ALTER COLUMN revoke_pending DROP DEFAULT, ALTER COLUMN approval_id DROP DEFAULT`)
	}
	// grants_entitlement_status serves every read by entitlement.
	return append(steps, `CREATE INDEX grants_revoke_pending ON grants (id) WHERE `+pgRevokePending, `DROP INDEX grants_entitlement`)
}

// pgUnfolded selects grants whose principal is not plain lower-case printable
// ASCII (see dialect.unfolded); bracket ranges in PostgreSQL's regular
// expressions are ranges of code points. The index grants_principal_unfolded
// is made with this condition, so it never changes.
const pgUnfolded = `(principal ~ '[^!-~]|[A-Z]')`

// pgRevokePending selects grants whose revocation is pending. The index
// grants_revoke_pending is made with this condition (since schema version 7)
// and the planner uses the index only for a query with the same condition,
// so it never changes.
const pgRevokePending = `revoke_pending`

// PostgresStore is a Store in a PostgreSQL database. Every append is one
// transaction that first locks the ledger's head row, so writers in any number
// of processes take turns; Verify reads one snapshot while appends go on.
type PostgresStore struct {
	stamper
	pool   pgPool
	ledger string // the URL without its password, for messages
}

var _ Store = (*PostgresStore)(nil)

// pgDialect is the PostgreSQL side of the SQL the stores share.
var pgDialect = dialect{
	param: func(n int) string { return "$" + strconv.Itoa(n) },
	expiresBefore: func(bound time.Time) (string, any) {
		// PostgreSQL keeps microseconds, rounding the expiry to the nearest: a
		// millisecond to spare keeps every expiry before the bound, and Grants
		// makes the exact comparison on the payload.
		return "expires_at < %s", bound.Add(time.Millisecond)
	},
	expiresAfter: func(bound time.Time) (string, any) {
		// The same millisecond to spare, the other way.
		return "expires_at > %s", bound.Add(-time.Millisecond)
	},
	unfolded: pgUnfolded,
	// PostgreSQL's planner has the statistics to choose.
	eventsTable: "events",
	unindexed:   func(column string) string { return column },
	// The approval's id is compared byte by byte, as the approvals' primary
	// key sorts it, so that the lookup uses that key.
	approvalWithdrawn: `EXISTS (SELECT 1 FROM approvals a WHERE a.id = grants.approval_id AND a.status = %s)`,
	revokePending:     pgRevokePending,
	// In whole microseconds, as PostgreSQL keeps it.
	expiresStored: `(extract(epoch FROM g.expires_at) * 1000000)::bigint`,
	declaredTypes: `true`, // a column holds only values of its type
	expiresKey:    func(expiresAt time.Time) int64 { return expiresAt.Round(time.Microsecond).UnixMicro() },
	expiresAgree: func(stored int64, expiresAt time.Time) bool {
		// PostgreSQL rounds to the nearest microsecond, ties to even.
		d := expiresAt.Sub(time.UnixMicro(stored))
		return d >= -time.Microsecond/2 && d <= time.Microsecond/2
	},
	migrations: pgMigrations,
	// The row lock every append takes first.
	lockHead:        ` FOR UPDATE`,
	identityVersion: 2,
	stateVersion:    7,
}

var (
	// errNoPostgresLedger marks a database without a ledger, opened with create false.
	errNoPostgresLedger = errors.New("no governed ledger")
	// errNoSchema marks a connection whose search_path names no existing schema.
	errNoSchema = errors.New("its search_path names no schema that exists, so there is nowhere to keep the ledger")
)

// openPostgres opens the ledger in the PostgreSQL database at rawURL
// (postgres://user:password@host:port/database?…) and brings its schema up to
// date. With create, an empty database becomes an empty ledger; without, it is
// an error. It fails when the server cannot be reached or the database holds
// tables of the ledger's names that are not a ledger. The URL may set
// pgxpool's settings, such as pool_max_conns (default: the number of CPUs, at
// least 4).
//
// origin is recorded with every event it appends, the first of which a
// migration may append at open.
func openPostgres(ctx context.Context, rawURL string, create bool, origin Origin) (*PostgresStore, error) {
	ledger := pgurl.Redact(rawURL)
	cfg, err := pgurl.Config(rawURL)
	if err != nil {
		return nil, fmt.Errorf("invalid PostgreSQL ledger location: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg) // connects on first use
	if err != nil {
		return nil, fmt.Errorf("invalid PostgreSQL ledger location %s: %v", ledger, err)
	}
	s := &PostgresStore{pool: pgPool{pool}, ledger: ledger}
	s.SetOrigin(origin)
	if err := s.migrate(ctx, create); err != nil {
		s.pool.close()
		return nil, s.describeAll(err)
	}
	return s, nil
}

// describe turns a failure to talk to PostgreSQL into a message that names the
// ledger; any other error (ErrConflict and the like) is returned as it is.
func (s *PostgresStore) describe(err error) error {
	if d, ok := s.explain(err); ok {
		return d
	}
	return err
}

// describeAll is describe for reads, where every error concerns the ledger.
func (s *PostgresStore) describeAll(err error) error {
	if d, ok := s.explain(err); ok {
		return d
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("PostgreSQL ledger %s: %w", s.ledger, err)
}

// explain says what err means for the ledger, when it comes from PostgreSQL,
// the network or the store's own checks at open.
func (s *PostgresStore) explain(err error) (error, bool) {
	var pe *pgconn.PgError
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case err == nil:
		return nil, false
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		// Before net.Error, which DeadlineExceeded satisfies.
		if errors.As(err, &ce) {
			return fmt.Errorf("cannot reach the PostgreSQL ledger %s: %w", s.ledger, err), true
		}
		return nil, false
	case errors.Is(err, errNotALedger):
		return fmt.Errorf("%s is a PostgreSQL database but not a governed ledger", s.ledger), true
	case errors.Is(err, errNoPostgresLedger):
		return fmt.Errorf("no governed ledger at %s", s.ledger), true
	case errors.Is(err, errNoSchema):
		return fmt.Errorf("cannot open the PostgreSQL ledger %s: %w", s.ledger, err), true
	case errors.As(err, &pe):
		switch {
		case pe.Code == "42P01": // undefined_table
			return fmt.Errorf("no governed ledger at %s: %s", s.ledger, pe.Message), true
		case pe.Code == "3D000": // invalid_catalog_name
			return fmt.Errorf("cannot open the PostgreSQL ledger %s: %s", s.ledger, pe.Message), true
		case pe.Code == "28P01" || pe.Code == "28000": // invalid_password, invalid_authorization_specification
			return fmt.Errorf("cannot log in to the PostgreSQL ledger %s: %s (SQLSTATE %s). %s", s.ledger, pe.Message,
				pe.Code, pgurl.PasswordHint), true
		case pe.Code == "42501": // insufficient_privilege
			return fmt.Errorf("permission denied on the PostgreSQL ledger %s: %s", s.ledger, pe.Message), true
		case pe.Code == "53300": // too_many_connections
			return fmt.Errorf("the PostgreSQL server of the ledger %s has no connection free: %s", s.ledger, pe.Message), true
		case pe.Code == "25006": // read_only_sql_transaction
			return fmt.Errorf("cannot write the PostgreSQL ledger %s: %s", s.ledger, pe.Message), true
		case strings.HasPrefix(pe.Code, "57P"): // operator_intervention: shutdown, crash
			return fmt.Errorf("the PostgreSQL server of the ledger %s went away: %s", s.ledger, pe.Message), true
		}
		return fmt.Errorf("PostgreSQL ledger %s: %w", s.ledger, err), true
	case errors.As(err, &ce):
		// The innermost network error says it best; pgx's own message
		// repeats the user and database.
		var oe *net.OpError
		var de *net.DNSError
		switch {
		case errors.As(err, &oe):
			return fmt.Errorf("cannot reach the PostgreSQL ledger %s: %w", s.ledger, oe), true
		case errors.As(err, &de):
			return fmt.Errorf("cannot reach the PostgreSQL ledger %s: %w", s.ledger, de), true
		}
		return fmt.Errorf("cannot reach the PostgreSQL ledger %s: %w", s.ledger, err), true
	case errors.As(err, &ne), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("lost the connection to the PostgreSQL ledger %s: %w", s.ledger, err), true
	}
	return nil, false
}

// migrate brings the schema to the latest version in one transaction, under
// the migration lock.
func (s *PostgresStore) migrate(ctx context.Context, create bool) error {
	return s.pool.with(ctx, func(c *pgx.Conn) error {
		// READ COMMITTED: each statement after the lock sees what a process
		// that held it before committed, whatever the server's default.
		tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pgMigrationLock); err != nil {
			return err
		}
		var schema *string
		if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			return err
		}
		if schema == nil {
			return errNoSchema
		}
		rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relname = ANY ($1)`,
			[]string{"schema_migrations", "events", "grants", "approvals", "ledger_head", "ledger_identity", "policies"})
		if err != nil {
			return err
		}
		present, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		if !slices.Contains(present, "schema_migrations") {
			switch {
			case len(present) > 0:
				return errNotALedger
			case !create:
				return errNoPostgresLedger
			}
			if _, err := tx.Exec(ctx, `CREATE TABLE schema_migrations (
	version    integer PRIMARY KEY,
	applied_at text NOT NULL
)`); err != nil {
				return err
			}
		} else {
			// schema_migrations is a common name: make sure it is ours.
			var ours bool
			if err := tx.QueryRow(ctx, `SELECT count(*) = 2 FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relname = 'schema_migrations' AND a.attnum > 0 AND NOT a.attisdropped
	AND (a.attname, a.atttypid) IN (('version', 'integer'::regtype), ('applied_at', 'text'::regtype))`).Scan(&ours); err != nil {
				return err
			}
			if !ours {
				return errNotALedger
			}
		}
		var dbNow time.Time
		if err := tx.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&dbNow); err != nil {
			return err
		}
		if err := pgDialect.migrate(ctx, pgTx{tx}, s.stampAt(dbNow)); err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
}

// Close closes the store's connections.
func (s *PostgresStore) Close() error {
	s.pool.close()
	return nil
}

// AppendGrant implements Store.
func (s *PostgresStore) AppendGrant(ctx context.Context, eventType string, at time.Time, g Grant, expectSeq int64) (Event, error) {
	r, err := grantRecord(eventType, g)
	if err != nil {
		return Event{}, err
	}
	return s.appendRecord(ctx, eventType, at, r, expectSeq)
}

// AppendApproval implements Store.
func (s *PostgresStore) AppendApproval(ctx context.Context, eventType string, at time.Time, a Approval, expectSeq int64) (Event, error) {
	r, err := approvalRecord(eventType, a)
	if err != nil {
		return Event{}, err
	}
	return s.appendRecord(ctx, eventType, at, r, expectSeq)
}

func (s *PostgresStore) appendRecord(ctx context.Context, eventType string, at time.Time, r appendRecord, expectSeq int64) (Event, error) {
	if err := checkPostgresRecord(r.row.kind, r.row.id, r.expiresAt, r.data); err != nil {
		return Event{}, err
	}
	return s.append(ctx, eventType, at, r, expectSeq)
}

// checkPostgresRecord refuses, with a plain message, the records that pass
// checkRecord but that PostgreSQL cannot store or index: text that is not
// UTF-8, the character U+0000, which its JSON functions reject, and years
// before 1 (RFC 3339 allows year 0000; PostgreSQL has no year 0).
func checkPostgresRecord(kind, id, expiresAt string, data []byte) error {
	if !utf8.ValidString(id) {
		return fmt.Errorf("%s id %q is not UTF-8 text", kind, id)
	}
	if hasEscapedNUL(data) {
		return fmt.Errorf("%s %q holds the character U+0000, which a PostgreSQL ledger cannot index", kind, id)
	}
	if exp, err := time.Parse(time.RFC3339, expiresAt); err == nil && exp.UTC().Year() < 1 {
		return fmt.Errorf("%s %q: expires_at %q is before year 1, which PostgreSQL cannot store", kind, id, expiresAt)
	}
	return nil
}

// hasEscapedNUL reports whether JSON text holds the escape \u0000 (and not an
// escaped backslash followed by "u0000").
func hasEscapedNUL(data []byte) bool {
	for i := 0; i+5 < len(data); i++ {
		if data[i] == '\\' {
			if data[i+1] == 'u' && string(data[i+2:i+6]) == "0000" {
				return true
			}
			i++ // skip the escaped character
		}
	}
	return false
}

// Statements of an append, by current-state table.
var (
	// pgStateQuery reads, once the head is locked, the sequence number of
	// the record's last event (recordSeqQuery), the last event of the log
	// and the database's clock, which the event is recorded by (the trigger
	// events_recorded_now holds every insert to it).
	pgStateQuery = map[string]string{}
	// pgUpsert stores the record's new current state.
	pgUpsert = map[string]string{}
)

func init() {
	for table, kind := range map[string]string{"grants": "grant", "approvals": "approval"} {
		pgStateQuery[table] = `SELECT (` + recordSeqQuery(pgDialect, kind) + `), e.seq, e.hash, e.recorded_at, clock_timestamp()
FROM (SELECT 1) one LEFT JOIN (SELECT seq, hash, recorded_at FROM events ORDER BY seq DESC LIMIT 1) e ON true`
		pgUpsert[table] = `INSERT INTO ` + table + ` (id, seq, principal, entitlement, status, expires_at, revoke_pending, approval_id)
VALUES ($1, $2, $3, $4, $5, $6::text::timestamptz, $7, $8)
ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, principal = excluded.principal, entitlement = excluded.entitlement,
	status = excluded.status, expires_at = excluded.expires_at, revoke_pending = excluded.revoke_pending,
	approval_id = excluded.approval_id`
	}
}

func (s *PostgresStore) append(ctx context.Context, eventType string, at time.Time, r appendRecord, expectSeq int64) (Event, error) {
	for attempt := 1; ; attempt++ {
		var ev Event
		err := s.pool.with(ctx, func(c *pgx.Conn) error {
			var err error
			ev, err = s.appendTx(ctx, c, eventType, at, r, expectSeq)
			return err
		})
		var pe *pgconn.PgError
		if errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01") && attempt < pgAppendAttempts {
			continue // serialization_failure, deadlock_detected: nothing was written
		}
		if err != nil {
			return Event{}, s.describe(err)
		}
		return ev, nil
	}
}

// appendTx is one append, in three round trips: begin, lock the head and read
// the state; write the event, the current state and the head; commit.
func (s *PostgresStore) appendTx(ctx context.Context, c *pgx.Conn, eventType string, at time.Time, r appendRecord, expectSeq int64) (Event, error) {
	// Locking the head row serialises appends from every process. The state is
	// read by the next statement, which in READ COMMITTED takes its snapshot
	// once the lock is held, and so sees the append that held it before.
	var head Head
	var cur, lastSeq *int64
	var lastHash, lastRecorded *string
	var dbNow time.Time
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	b.Queue(`SELECT seq, hash FROM ledger_head WHERE id = 1 FOR UPDATE`).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&head.Seq, &head.Hash)
		if errors.Is(err, pgx.ErrNoRows) {
			return errHeadMissing
		}
		if err != nil {
			return fmt.Errorf("reading the ledger's head: %w", err)
		}
		return nil
	})
	b.Queue(pgStateQuery[r.row.table], r.row.id).QueryRow(func(row pgx.Row) error {
		return row.Scan(&cur, &lastSeq, &lastHash, &lastRecorded, &dbNow)
	})
	br := c.SendBatch(ctx, b)
	tx := br.Tx()
	defer tx.Rollback(ctx)
	if err := br.Close(); err != nil {
		return Event{}, err
	}

	var last Head
	prevRecorded := ""
	if lastSeq != nil && lastHash != nil && lastRecorded != nil {
		last, prevRecorded = Head{Seq: *lastSeq, Hash: *lastHash}, *lastRecorded
	}
	ev, err := decideAppend(eventType, at, r, expectSeq, cur, head, last, s.stampAt(dbNow).after(prevRecorded))
	if err != nil {
		return Event{}, err
	}

	b = &pgx.Batch{}
	b.Queue(insertEventStatement(pgDialect), eventArgs(ev)...)
	b.Queue(pgUpsert[r.row.table], r.row.id, ev.Seq, r.cols.principal, r.cols.entitlement, r.cols.status, r.cols.expiresAt,
		r.cols.revokePending, r.cols.approvalID)
	b.Queue(`UPDATE ledger_head SET seq = $1, hash = $2 WHERE id = 1`, ev.Seq, ev.Hash)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return Event{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// AppendDiscontinuity implements Store. The transaction locks the head table
// in a mode that conflicts with the row lock every append takes on the head,
// so that it serialises with appends even when the head row is missing.
func (s *PostgresStore) AppendDiscontinuity(ctx context.Context, at time.Time, note string) (Event, bool, error) {
	var ev Event
	var appended bool
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, `LOCK TABLE ledger_head IN EXCLUSIVE MODE`); err != nil {
			return err
		}
		var h, last Head
		head := &h
		err = tx.QueryRow(ctx, `SELECT seq, hash FROM ledger_head WHERE id = 1`).Scan(&h.Seq, &h.Hash)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			head = nil
		case err != nil:
			return err
		}
		var lastRecorded string
		err = tx.QueryRow(ctx, lastEventQuery).Scan(&last.Seq, &last.Hash, &lastRecorded)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var dbNow time.Time
		if err := tx.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&dbNow); err != nil {
			return err
		}
		if ev, appended, err = decideDiscontinuity(at, note, head, last, s.stampAt(dbNow).after(lastRecorded)); err != nil || !appended {
			return err
		}
		if _, err := tx.Exec(ctx, insertEventStatement(pgDialect), eventArgs(ev)...); err != nil {
			return err
		}
		moveHead := `UPDATE ledger_head SET seq = $1, hash = $2 WHERE id = 1`
		if head == nil {
			moveHead = `INSERT INTO ledger_head (id, seq, hash) VALUES (1, $1, $2)`
		}
		if _, err := tx.Exec(ctx, moveHead, ev.Seq, ev.Hash); err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
	if err != nil {
		return Event{}, false, s.describe(err)
	}
	return ev, appended, nil
}

// Grant implements Store. It reads the grant's last event (see lastRecord).
func (s *PostgresStore) Grant(ctx context.Context, id string) (Grant, error) {
	return lastRecord[Grant](ctx, s.lastEvent, "grant", id)
}

// Approval implements Store. Like Grant, it reads the approval's last event.
func (s *PostgresStore) Approval(ctx context.Context, id string) (Approval, error) {
	return lastRecord[Approval](ctx, s.lastEvent, "approval", id)
}

// lastEvent is the store's lastEventReader.
func (s *PostgresStore) lastEvent(ctx context.Context, kind, id string) (seq int64, data []byte, found bool, err error) {
	err = s.pool.with(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT seq, data FROM events WHERE subject = $1 AND type LIKE $2 ORDER BY seq DESC LIMIT 1`,
			id, kind+".%").Scan(&seq, &data)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, false, nil
	}
	if err != nil {
		return 0, nil, false, s.describeAll(err)
	}
	return seq, data, true, nil
}

// Grants implements Store. The result is sorted by id. Rows are selected in SQL
// and the filter is checked again against each stored payload.
func (s *PostgresStore) Grants(ctx context.Context, f GrantFilter) ([]Grant, error) {
	return collectGrants(ctx, s.EachGrant, f)
}

// EachGrant implements Store. Rows are selected in SQL and the filter is
// checked again against each stored payload.
func (s *PostgresStore) EachGrant(ctx context.Context, f GrantFilter, fn func(Grant) error) error {
	return s.eachGrantRow(ctx, f, func(rows recordRows) error { return eachRecord(rows, "grant", f.Matches, fn) })
}

// EachListedGrant implements Store, as EachGrant does.
func (s *PostgresStore) EachListedGrant(ctx context.Context, f GrantFilter, fn func(*Grant) error) error {
	return s.eachGrantRow(ctx, f, func(rows recordRows) error { return eachListedGrant(rows, f.Matches, fn) })
}

// eachGrantRow runs the query of the grants that may match f and hands its
// rows to each, which returns the callback's errors in an errStopRecords.
func (s *PostgresStore) eachGrantRow(ctx context.Context, f GrantFilter, each func(recordRows) error) error {
	q, args := pgDialect.grantsQuery(f)
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		if err := each(pgRecordRows{rows}); err != nil {
			return err
		}
		return rows.Err()
	})
	if own, ok := callbackError(err); ok {
		return own
	}
	if err != nil {
		return s.describeAll(err)
	}
	return nil
}

// pgRecordRows are a query's (id, seq, payload) rows (recordRows); each
// payload is pgx's buffer, read without a copy.
type pgRecordRows struct{ pgx.Rows }

func (r pgRecordRows) scanRecord(id *string, seq *int64) ([]byte, error) {
	if err := r.Scan(id, seq, nil); err != nil {
		return nil, err
	}
	return r.RawValues()[2], nil
}

// Head implements Store.
func (s *PostgresStore) Head(ctx context.Context) (Head, error) {
	var h Head
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT seq, hash FROM ledger_head WHERE id = 1`).Scan(&h.Seq, &h.Hash)
	})
	if err != nil {
		return Head{}, s.describeAll(err)
	}
	return h, nil
}

// KeepPolicy implements Store.
func (s *PostgresStore) KeepPolicy(ctx context.Context, digest string, document []byte, at time.Time) error {
	if err := checkPolicy(digest, document); err != nil {
		return err
	}
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, keepPolicyStatement(pgDialect), digest, document, formatAt(at))
		return err
	})
	if err != nil {
		return s.describeAll(err)
	}
	return nil
}

// Policies implements Store.
func (s *PostgresStore) Policies(ctx context.Context, fn func(digest string, document []byte) error) error {
	var fnErr error
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, policiesQuery)
		if err != nil {
			return err
		}
		defer rows.Close()
		var digest string
		var document []byte
		for rows.Next() {
			if err := rows.Scan(&digest, &document); err != nil {
				return err
			}
			if fnErr = fn(digest, document); fnErr != nil {
				return nil
			}
		}
		return rows.Err()
	})
	if err != nil {
		return s.describeAll(err)
	}
	return fnErr
}

// ID implements Store.
func (s *PostgresStore) ID(ctx context.Context) (string, error) {
	var id string
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, ledgerIDQuery).Scan(&id)
	})
	if err != nil {
		return "", s.describeAll(err)
	}
	return id, nil
}

// recordedAround implements timeReader.
func (s *PostgresStore) recordedAround(ctx context.Context, seq int64, after bool) (int64, time.Time, bool, error) {
	var at int64
	var t time.Time
	var found bool
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		var err error
		at, t, found, err = scanRecordedAround(ctx, func(ctx context.Context, q string, args []any, dest ...any) (bool, error) {
			err := c.QueryRow(ctx, q, args...).Scan(dest...)
			if errors.Is(err, pgx.ErrNoRows) {
				return false, nil
			}
			return err == nil, err
		}, pgDialect, seq, after)
		return err
	})
	if err != nil {
		return 0, time.Time{}, false, s.describeAll(err)
	}
	return at, t, found, nil
}

// EventHash implements Store.
func (s *PostgresStore) EventHash(ctx context.Context, seq int64) (string, error) {
	var hash string
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, eventHashQuery(pgDialect), seq).Scan(&hash)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", s.describeAll(err)
	}
	return hash, nil
}

// Events implements Store. It holds one of the store's connections while it
// runs: fn may use the store, but only while the pool has connections to spare.
func (s *PostgresStore) Events(ctx context.Context, fn func(Event) error) error {
	return s.scanEvents(ctx, fn, `SELECT `+eventColumns+` FROM events ORDER BY seq`)
}

// SubjectEvents implements Store. Like Events, it holds one of the store's
// connections while it runs.
func (s *PostgresStore) SubjectEvents(ctx context.Context, kind, subject string, fn func(Event) error) error {
	args, err := subjectEventsArgs(kind, subject)
	if err != nil {
		return err
	}
	return s.scanEvents(ctx, fn, subjectEventsQuery(pgDialect, subject), args...)
}

// scanEvents calls fn for every event q selects (with eventColumns).
func (s *PostgresStore) scanEvents(ctx context.Context, fn func(Event) error, q string, args ...any) error {
	var fnErr error // fn's own error, returned as it is
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e Event
			var at, recordedAt string
			if err := rows.Scan(&e.Seq, &at, &e.Type, &e.Subject, &e.Data, &e.PrevHash, &e.Hash, &recordedAt, &e.Actor, &e.RunID); err != nil {
				return err
			}
			if fnErr = eventTimes(&e, at, recordedAt); fnErr != nil {
				return nil
			}
			if fnErr = fn(e); fnErr != nil {
				return nil
			}
		}
		return rows.Err()
	})
	if err != nil {
		return s.describeAll(err)
	}
	return fnErr
}

// Verify implements Store: verifySnapshot over one REPEATABLE READ, read-only
// transaction, so that the chain, the recorded head, the current-state tables
// and the schema are read in one snapshot while appends go on.
//
// What it cannot see: a superuser can skip triggers for a session
// (session_replication_role = replica) without changing any definition. The
// chain and the head still show what such a session changed.
func (s *PostgresStore) Verify(ctx context.Context) (Report, error) { return s.verify(ctx, nil, nil) }

// verify is Verify with a Judge of the decisions (nil for none), from the
// trusted event from when it is not nil (VerifySince).
func (s *PostgresStore) verify(ctx context.Context, judge Judge, from *Head) (Report, error) {
	var report Report
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		report, err = verifySnapshot(ctx, pgTx{tx}, judge, from)
		return err
	})
	if err != nil {
		return Report{}, s.describeAll(err)
	}
	return report, nil
}

// pgTx is a transaction of the store as the shared code uses it: a migration
// (migrationTx) or a verification (snapshotReader).
type pgTx struct{ tx pgx.Tx }

func (t pgTx) exec(ctx context.Context, stmt string, args ...any) error {
	_, err := t.tx.Exec(ctx, stmt, args...)
	return err
}

func (t pgTx) queryRow(ctx context.Context, q string, dest ...any) (bool, error) {
	return t.queryRowArgs(ctx, q, nil, dest...)
}

func (t pgTx) queryRowArgs(ctx context.Context, q string, args []any, dest ...any) (bool, error) {
	err := t.tx.QueryRow(ctx, q, args...).Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// pgWalkQuery reads the events in sequence order, in the binary format: the
// text columns arrive as stored, seq as 8 bytes.
const pgWalkQuery = `SELECT seq, at, type, subject, prev_hash, hash, recorded_at, actor, run_id, data FROM events WHERE seq > $1 ORDER BY seq`

// walkEvents walks the log in sequence order (see verification.walk); each
// event's text fields travel joined by walkSeparator, which no stored field
// holds unless it was altered. A connection runs one query at a time, so the
// current-state rows are read after the walk.
func (t pgTx) walkEvents(ctx context.Context, v *verification, after int64, _ bool) (bool, error) {
	rows, err := t.tx.Query(ctx, pgWalkQuery, pgx.QueryResultFormats{pgx.BinaryFormatCode}, after)
	if err != nil {
		return false, err
	}
	defer rows.Close()

	err = v.walk(func(f *walkFeed) error {
		for rows.Next() {
			vals := rows.RawValues()
			if len(vals) != 10 || len(vals[0]) != 8 {
				return errors.New("reading the events: unexpected row format")
			}
			buf := f.buf()
			start := len(buf)
			for i, field := range vals[1:] {
				if i > 0 {
					buf = append(buf, walkSeparator)
				}
				buf = append(buf, field...)
			}
			if !f.appended(int64(binary.BigEndian.Uint64(vals[0])), buf, start) {
				break
			}
		}
		return nil
	})
	// Stopping early leaves rows unread; Close reads past them.
	rows.Close()
	if err != nil {
		return false, err
	}
	return false, rows.Err()
}

func (t pgTx) dialect() dialect { return pgDialect }

// policies reads the kept policy documents.
func (t pgTx) policies(ctx context.Context, fn func(digest string, document []byte)) error {
	rows, err := t.tx.Query(ctx, policiesQuery)
	if err != nil {
		return err
	}
	defer rows.Close()
	return scanPolicies(rows, fn)
}

// rows reads one current-state table.
func (t pgTx) rows(ctx context.Context, kind int, fn func(*stateRow)) error {
	rows, err := t.tx.Query(ctx, pgDialect.stateRowsQuery(kindTables[kind]))
	if err != nil {
		return err
	}
	defer rows.Close()
	return scanStateRows(rows, fn)
}

// schemaProblem reports whether the append-only triggers and their function,
// and the current-state tables, are still defined and enabled as the
// migrations left them, in the ledger's schema.
func (t pgTx) schemaProblem(ctx context.Context) (string, error) {
	type trigger struct {
		def     string
		enabled string
	}
	triggers := map[string]trigger{}
	rows, err := t.tx.Query(ctx, `SELECT t.tgname, pg_get_triggerdef(t.oid, true), t.tgenabled::text
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relname = 'events' AND NOT t.tgisinternal`)
	if err != nil {
		return "", err
	}
	var name string
	var tr trigger
	if _, err := pgx.ForEachRow(rows, []any{&name, &tr.def, &tr.enabled}, func() error {
		triggers[name] = tr
		return nil
	}); err != nil {
		return "", err
	}
	var function, schema string
	err = t.tx.QueryRow(ctx, `SELECT coalesce((SELECT pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = current_schema() AND p.proname = 'events_append_only' AND p.pronargs = 0), ''), quote_ident(current_schema())`).Scan(&function, &schema)
	if err != nil {
		return "", err
	}
	names := slices.Sorted(maps.Keys(pgTriggers))
	for _, n := range names {
		if _, ok := triggers[n]; !ok || function == "" {
			return "append-only triggers are missing", nil
		}
	}
	for _, n := range names {
		if triggers[n].def != pgTriggers[n] || function != fmt.Sprintf(pgAppendOnlyFunctionDef, schema) {
			return "append-only triggers were altered", nil
		}
	}
	for _, n := range names {
		// 'O' fires in normal sessions; 'D' is disabled; 'R' fires only in
		// replicas, which is disabled too for governed's sessions.
		if triggers[n].enabled != "O" && triggers[n].enabled != "A" {
			return "append-only triggers are disabled", nil
		}
	}

	var recordedNow string
	err = t.tx.QueryRow(ctx, `SELECT coalesce((SELECT pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = current_schema() AND p.proname = 'events_recorded_now' AND p.pronargs = 0), '')`).Scan(&recordedNow)
	if err != nil {
		return "", err
	}
	switch tr, ok := triggers["events_recorded_now"]; {
	case !ok || recordedNow == "":
		return "the trigger that has the database stamp each event's recording time is missing", nil
	case tr.def != pgTriggerRecordedNow || recordedNow != strings.Replace(pgRecordedNowFunctionDef, "{schema}", schema, 1):
		return "the trigger that has the database stamp each event's recording time was altered", nil
	case tr.enabled != "O" && tr.enabled != "A":
		return "the trigger that has the database stamp each event's recording time is disabled", nil
	}

	tables, err := describePostgresTables(ctx, t.tx, "grants", "approvals")
	if err != nil {
		return "", err
	}
	for _, table := range []string{"grants", "approvals"} {
		if tables[table] != fmt.Sprintf(pgCurrentStateTableDef, table) {
			return fmt.Sprintf("the definition of the %s table was altered", table), nil
		}
	}
	return "", nil
}

// describePostgresTables describes tables as pgCurrentStateTableDef does: a
// line per column (name, type, NOT NULL, generation or default) in order, then
// a line per constraint, by name.
func describePostgresTables(ctx context.Context, tx pgx.Tx, tables ...string) (map[string]string, error) {
	desc := map[string]*strings.Builder{}
	for _, t := range tables {
		desc[t] = &strings.Builder{}
	}
	rows, err := tx.Query(ctx, `SELECT c.relname, 0 AS part, a.attnum::int AS pos,
	a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
	|| CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
	|| CASE WHEN a.attgenerated = 's' THEN ' GENERATED ALWAYS AS ' || pg_get_expr(d.adbin, d.adrelid) || ' STORED'
		WHEN d.adbin IS NOT NULL THEN ' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid) ELSE '' END
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = current_schema() AND c.relname = ANY ($1) AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT c.relname, 1, 0, 'CONSTRAINT ' || quote_ident(k.conname) || ' ' || pg_get_constraintdef(k.oid)
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relname = ANY ($1)
ORDER BY 1, 2, 3, 4`, tables)
	if err != nil {
		return nil, err
	}
	var table, line string
	var part, pos int
	if _, err := pgx.ForEachRow(rows, []any{&table, &part, &pos, &line}, func() error {
		if b, ok := desc[table]; ok {
			b.WriteString(line)
			b.WriteByte('\n')
		}
		return nil
	}); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for t, b := range desc {
		out[t] = b.String()
	}
	return out, nil
}

// pgPool is the store's view of a pgx connection pool.
type pgPool struct{ *pgxpool.Pool }

// with runs fn on a connection of the pool. A connection fn leaves inside a
// transaction is closed rather than reused.
func (p pgPool) with(ctx context.Context, fn func(*pgx.Conn) error) error {
	return p.AcquireFunc(ctx, func(c *pgxpool.Conn) error { return fn(c.Conn()) })
}

func (p pgPool) close() { p.Close() }
