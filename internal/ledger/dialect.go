package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// dialect holds what differs in the SQL that both stores run: the rest of
// each statement, and the steps around it, are written once here.
type dialect struct {
	// param is the text of a statement's nth parameter, counted from 1.
	param func(n int) string
	// expiresBefore is the condition, with %s for its parameter, that selects
	// current-state rows whose expiry may be before bound or at it, and the
	// parameter's value. It may select more rows than it must, never fewer:
	// Grants checks every payload again.
	expiresBefore func(bound time.Time) (cond string, arg any)
	// expiresAfter is expiresBefore's counterpart: the condition selecting
	// rows whose expiry may be after bound, and its parameter's value. It
	// may select more rows than it must, never fewer.
	expiresAfter func(bound time.Time) (cond string, arg any)
	// unfolded is the condition that selects current-state rows whose
	// principal is not plain lower-case printable ASCII: the only principals
	// that policy.NormalizeIdentity may change, so that a principal outside
	// it matches an identity only when it equals it. The partial index
	// grants_principal_unfolded is made with the same text.
	unfolded string
	// ownEvent is a condition, appended to the reads of a record's last event
	// (whose parameter 1 is the record's id), that the event's payload names
	// the record. Those reads go through the events_subject index, which a
	// SQLite file's owner can rebuild to file another record's event under
	// the id: its last event would then stand in for the record's, and an
	// append about it would conflict, so that it could not be revoked.
	// Empty for PostgreSQL, whose indexes the ledger's roles cannot rebuild.
	ownEvent string
	// eventsTable is how a query that groups every event names the events
	// table so that it reads the table itself, whatever the indexes on it
	// hold: a SQLite file's owner can rebuild an index to leave out a
	// record's events or file them under another record. Plain "events" for
	// PostgreSQL, for the reason ownEvent is empty.
	eventsTable string
	// unindexed is a column's name written so that the planner does not look
	// it up in an index but only checks it on the rows it reads.
	unindexed func(column string) string
	// approvalWithdrawn is the condition, with %s for the withdrawn status,
	// that selects grants whose approval record has that status: a lookup of
	// the record by its primary key.
	approvalWithdrawn string
	// revokePending is the condition that selects grants whose revocation is
	// pending. The partial index grants_revoke_pending is made with the same
	// condition, which is what lets a store use it.
	revokePending string
	// expiresStored is the stored expiry of the current-state row g as an
	// integer, in the store's unit, for verification.
	expiresStored string
	// expiresAgree reports whether a stored expiry (expiresStored) is the
	// expiry expiresAt of the payload it was copied from.
	expiresAgree func(stored int64, expiresAt time.Time) bool
	// expiresKey is the stored expiry (expiresStored) an append writes for
	// expiresAt, which the walk compares a row's with when it notes rows
	// while it reads the events (verification.rowKey); a row whose expiry
	// differs is judged again with expiresAgree.
	expiresKey func(expiresAt time.Time) int64
	// declaredTypes is a condition, true when every column of the
	// current-state row g holds a value of the type its table declares.
	declaredTypes string
	// migrations are the schema's versions, in order: step i brings the
	// schema to version i+1.
	migrations [][]string
	// lockHead is what follows the read of the head row in a migration that
	// appends an event, to hold the row against appends until it commits.
	lockHead string
	// identityVersion is the schema version whose migration makes the
	// ledger's id (the table ledger_identity).
	identityVersion int
	// stateVersion is the schema version whose migration takes the copies
	// of event payloads out of the current-state tables.
	stateVersion int
}

// ledgerIDQuery reads the ledger's id, which both stores keep in a one-row
// table made by a migration.
const ledgerIDQuery = `SELECT ledger_id FROM ledger_identity WHERE id = 1`

// eventHashQuery reads the hash of the event at a sequence number.
func eventHashQuery(d dialect) string { return `SELECT hash FROM events WHERE seq = ` + d.param(1) }

// policiesQuery lists the kept policy documents, by digest.
const policiesQuery = `SELECT digest, document FROM policies ORDER BY digest`

// keepPolicyStatement keeps a policy document under its digest, once: a
// document already kept is left as it is.
func keepPolicyStatement(d dialect) string {
	return `INSERT INTO policies (digest, document, recorded_at) VALUES (` + d.param(1) + `, ` + d.param(2) + `, ` +
		d.param(3) + `) ON CONFLICT (digest) DO NOTHING`
}

// checkPolicy refuses to keep a document under a digest that is not its
// SHA-256.
func checkPolicy(digest string, document []byte) error {
	sum := sha256.Sum256(document)
	if hex.EncodeToString(sum[:]) != digest {
		return fmt.Errorf("policy digest %q is not the SHA-256 of the document", digest)
	}
	return nil
}

// grantsQuery is the query of Grants: the ids, sequence numbers and payloads
// of the grants whose current-state rows may match f, sorted by id, and its
// parameters. The payload is that of the event the row names, read by its
// primary key (NULL when the event is missing).
func (d dialect) grantsQuery(f GrantFilter) (string, []any) {
	var where []string
	var args []any
	// add adds a condition with a %s for each of its parameters' values.
	add := func(cond string, values ...any) {
		params := make([]any, len(values))
		for i, v := range values {
			args = append(args, v)
			params[i] = d.param(len(args))
		}
		where = append(where, fmt.Sprintf(cond, params...))
	}
	// A principal's grants are few: where they are asked for as an identity,
	// they are what the query starts from, and the other columns are only
	// checked (SQLite, which keeps no statistics here, would otherwise start
	// from the entitlement's grants, which may be most of the ledger).
	col := func(name string) string { return name }
	if f.Identity != "" {
		col = d.unindexed
	}
	if f.Principal != "" {
		add(col("principal")+" = %s", f.Principal)
	}
	// With a principal, only its index is used: a principal holds few grants,
	// while one entitlement may hold most of a long history's, and a planner
	// without statistics (SQLite) may pick the wrong one.
	if f.Entitlement != "" {
		entitlement := col("entitlement")
		if f.Principal != "" {
			entitlement = d.unindexed("entitlement")
		}
		add(entitlement+" = %s", f.Entitlement)
	}
	if f.Status != "" {
		add(col("status")+" = %s", f.Status)
	}
	if !f.ExpiringBefore.IsZero() {
		add("status = %s", StatusActive)
		add(d.expiresBefore(f.ExpiringBefore))
	}
	// The grants a reconciliation removes are few among many: each is found
	// through an index, grants_status_expires for grants still in force and
	// grants_revoke_pending for pending revocations.
	inForce := func() { add("status IN (%s, %s)", StatusActive, StatusPending) }
	if !f.Overdue.IsZero() {
		inForce()
		add(d.expiresBefore(f.Overdue))
	}
	if f.ApprovalWithdrawn {
		inForce()
		add(d.approvalWithdrawn, ApprovalWithdrawn)
	}
	if f.RevokePending {
		add(d.revokePending)
	}
	if f.Identity != "" {
		// Plain principals through grants_principal, the few others through
		// grants_principal_unfolded; Grants compares the normalised forms.
		add("id IN (SELECT id FROM grants WHERE principal = %s UNION ALL SELECT id FROM grants WHERE "+d.unfolded+")",
			policy.NormalizeIdentity(f.Identity))
	}
	if f.StatusAt != "" {
		status := col("status")
		switch f.StatusAt {
		case StatusActive, StatusPending:
			add(status+" = %s", f.StatusAt)
			add(d.expiresAfter(f.At))
		case StatusExpired:
			// Recorded as expired, or still in force by the ledger's account
			// with an expiry that is not after At.
			cond, bound := d.expiresBefore(f.At)
			add("("+status+" = %s OR ("+status+" IN (%s, %s) AND "+cond+"))", StatusExpired, StatusActive, StatusPending, bound)
		default:
			add(status+" = %s", f.StatusAt)
		}
	}
	q := `SELECT id, seq, ` + stateEventData("grants") + ` FROM grants`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	return q + ` ORDER BY id`, args
}

// stateEventData is the expression, in a query of the current-state table
// table, for the payload of the event a row names.
func stateEventData(table string) string {
	return `(SELECT data FROM events WHERE events.seq = ` + table + `.seq)`
}

// stateRowsQuery reads current-state rows of table for verification, in the
// order of stateRow's fields (stateRow.dest). It does not read the events
// the rows name: the walk keeps what each row must hold (verification.stateOf).
func (d dialect) stateRowsQuery(table string) string {
	return `SELECT g.id, g.seq, g.principal, g.entitlement, g.status, ` + d.expiresStored +
		`, g.revoke_pending, g.approval_id, ` + d.declaredTypes + ` FROM ` + table + ` g`
}

// rowQuerier runs a query that returns at most one row in a store's
// transaction and scans that row into dest; found is false when there is no
// row. It reports the store's errors as they are.
type rowQuerier interface {
	queryRow(ctx context.Context, q string, dest ...any) (found bool, err error)
}

// migrationTx is the transaction in which a store migrates its schema.
type migrationTx interface {
	rowQuerier
	exec(ctx context.Context, stmt string, args ...any) error
}

// migrate brings the schema of a ledger that has its schema_migrations table
// to the latest version, recording each version it applies there. It refuses
// a schema newer than this build knows. Each store runs it inside its own
// transaction, after checking that the database holds its ledger. When it
// gives an id to a ledger that already holds events, it also appends the
// ledger.identified event, stamped with st (see identify).
func (d dialect) migrate(ctx context.Context, tx migrationTx, st stamp) error {
	var version int
	if _, err := tx.queryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`, &version); err != nil {
		return err
	}
	if version > len(d.migrations) {
		return fmt.Errorf("its schema is version %d, newer than this build of governed knows (%d): upgrade governed", version, len(d.migrations))
	}
	record := `INSERT INTO schema_migrations (version, applied_at) VALUES (` + d.param(1) + `, ` + d.param(2) + `)`
	for v := version; v < len(d.migrations); v++ {
		for _, stmt := range d.migrations[v] {
			if err := tx.exec(ctx, stmt); err != nil {
				return fmt.Errorf("migrating the schema to version %d: %w", v+1, err)
			}
		}
		if err := tx.exec(ctx, record, v+1, formatAt(time.Now())); err != nil {
			return err
		}
	}
	// A schema from before version 1 has no events; from the identity
	// version on, the id was made with the ledger or has its event already.
	if version >= 1 && version < d.identityVersion {
		return d.identify(ctx, tx, version, st)
	}
	return nil
}

// identify appends the ledger.identified event to a ledger whose id the
// migration running in tx has just made, when its log already holds events:
// chained and hashed as every event, stamped with st, in the transaction
// that makes the id, so that the id and its event are committed together
// and once (migrations take turns under the store's migration lock, and a
// later opener finds the schema migrated). A new ledger, with no events,
// records none. A ledger whose recorded head does not match its log gets no
// event: it is damaged, Verify says so, and an append would be refused.
//
// An open for a plan may write this event: it is part of a schema migration,
// which already writes at open, and it never happens again once committed.
func (d dialect) identify(ctx context.Context, tx migrationTx, from int, st stamp) error {
	var head, last Head
	found, err := tx.queryRow(ctx, `SELECT seq, hash FROM ledger_head WHERE id = 1`+d.lockHead, &head.Seq, &head.Hash)
	if err != nil || !found {
		return err
	}
	var lastRecorded string
	if found, err = tx.queryRow(ctx, lastEventQuery, &last.Seq, &last.Hash, &lastRecorded); err != nil || !found {
		return err
	}
	st = st.after(lastRecorded)
	if head != last {
		return nil
	}
	var id string
	if _, err := tx.queryRow(ctx, ledgerIDQuery, &id); err != nil {
		return err
	}
	data, err := json.Marshal(Identified{LedgerID: id, MigratedFrom: from, SchemaVersion: len(d.migrations)})
	if err != nil {
		return err
	}
	ev := Event{Seq: last.Seq + 1, At: st.recordedAt, Type: EventLedgerIdentified, Subject: LedgerSubject, Data: data, PrevHash: last.Hash}
	st.apply(&ev)
	ev.Hash = HashEvent(ev.PrevHash, ev)
	if err := tx.exec(ctx, insertEventStatement(d), eventArgs(ev)...); err != nil {
		return fmt.Errorf("recording the ledger's id in its log: %w", err)
	}
	return tx.exec(ctx, `UPDATE ledger_head SET seq = `+d.param(1)+`, hash = `+d.param(2)+` WHERE id = 1`, ev.Seq, ev.Hash)
}
