package ledger

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// A removal of access must not depend on the current-state rows: they are an
// index that the pipeline's own database role (PostgreSQL) or the SQLite
// file's owner can edit or delete, and a row whose status, expiry or
// revoke_pending lies, or a row that is gone, hides its grant from every
// query of the rows. EachLastGrant and EachLastApproval read what the
// events say instead: the last event of each record, never a row, and (in
// SQLite) grouped by the subjects the events table holds, not those of an
// index (dialect.eventsTable). Grouped through the events_subject index, the
// list cost the same (a lookup of each event's type in the table), and an
// index rebuilt to file a grant's revocation under another grant would have
// listed the first grant twice and left the second out of every
// reconciliation.

// lastEventsQuery selects the (subject, seq, payload) of the last event of
// every record of one kind (its one parameter, "grant.%" or "approval.%"),
// in no particular order.
func lastEventsQuery(d dialect) string {
	return `SELECT e.subject, e.seq, e.data FROM events e WHERE e.seq IN (SELECT max(seq) FROM ` + d.eventsTable +
		` WHERE type LIKE ` + d.param(1) + ` GROUP BY subject)`
}

// lastEventsReader is a store that can read lastEventsQuery: both of this
// package's stores.
type lastEventsReader interface {
	// eachLastEvent calls fn with the rows of lastEventsQuery for kind; the
	// payload is valid only until fn returns.
	eachLastEvent(ctx context.Context, kind string, fn func(subject string, seq int64, data []byte) error) error
}

// EachLastGrant calls fn for every grant that the ledger's events record,
// with the grant as its last event holds it: only its ListedFields are
// filled (see EachListedGrant), and Seq is that event's. fn is given one
// Grant again for each grant. A grant whose last event cannot be read, or
// names another grant, is given with only its ID (the event's subject) and
// Seq set, and the reason in readErr, so that the caller can still act on
// it. An error from fn ends the walk and is returned as it is. It reads
// every grant's last event: its cost grows with the number of grants the
// ledger ever recorded.
func (l *Ledger) EachLastGrant(ctx context.Context, fn func(g *Grant, readErr error) error) error {
	var g Grant
	return l.eachLastEvent(ctx, "grant", func(subject string, seq int64, data []byte) error {
		err := decodeListedGrant(seq, data, &g)
		switch {
		case err != nil:
			g = Grant{ID: subject, Seq: seq}
			err = fmt.Errorf("grant %q: its event %d is not readable: %w", subject, seq, err)
		case g.ID != subject:
			err = fmt.Errorf("grant %q: its event %d is about %q", subject, seq, g.ID)
			g = Grant{ID: subject, Seq: seq}
		}
		return fn(&g, err)
	})
}

// EachLastApproval calls fn for every approval record that the ledger's
// events record, as its last event holds it, as EachLastGrant does for
// grants: only its ID, Status and Seq are filled, read in one pass without
// reflection, since a ledger holds about one approval per grant.
func (l *Ledger) EachLastApproval(ctx context.Context, fn func(a Approval, readErr error) error) error {
	var g Grant // an approval's payload has "id" and "status" members as a grant's does
	return l.eachLastEvent(ctx, "approval", func(subject string, seq int64, data []byte) error {
		a := Approval{ID: subject, Seq: seq}
		err := decodeListedGrant(seq, data, &g)
		switch {
		case err != nil:
			err = fmt.Errorf("approval %q: its event %d is not readable: %w", subject, seq, err)
		case g.ID != subject:
			err = fmt.Errorf("approval %q: its event %d is about %q", subject, seq, g.ID)
		default:
			a.Status = g.Status
		}
		return fn(a, err)
	})
}

// eachLastEvent runs lastEventsQuery for kind on the store; fn's own error
// is returned as it is.
func (l *Ledger) eachLastEvent(ctx context.Context, kind string, fn func(subject string, seq int64, data []byte) error) error {
	r, ok := l.s.(lastEventsReader)
	if !ok {
		return fmt.Errorf("this ledger's store cannot list its records from their events")
	}
	err := r.eachLastEvent(ctx, kind, func(subject string, seq int64, data []byte) error {
		if err := fn(subject, seq, data); err != nil {
			return errStopRecords{err}
		}
		return nil
	})
	if own, ok := callbackError(err); ok {
		return own
	}
	return err
}

// eachLastEvent implements lastEventsReader.
func (s *SQLiteStore) eachLastEvent(ctx context.Context, kind string, fn func(subject string, seq int64, data []byte) error) error {
	rows, err := s.query(ctx, lastEventsQuery(sqliteDialect), kind+".%")
	if err != nil {
		return describeSQLiteError(s.path, err)
	}
	defer rows.Close()
	if err := eachRow(&sqliteRecordRows{Rows: rows}, kind, fn); err != nil {
		var stop errStopRecords
		if errors.As(err, &stop) {
			return err
		}
		return describeSQLiteError(s.path, err)
	}
	if err := rows.Err(); err != nil {
		return describeSQLiteError(s.path, err)
	}
	return nil
}

// eachLastEvent implements lastEventsReader. It holds one of the store's
// connections while it runs.
func (s *PostgresStore) eachLastEvent(ctx context.Context, kind string, fn func(subject string, seq int64, data []byte) error) error {
	var stop error // fn's own error, returned as it is
	err := s.pool.with(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, lastEventsQuery(pgDialect), kind+".%")
		if err != nil {
			return err
		}
		defer rows.Close()
		if err := eachRow(pgRecordRows{rows}, kind, fn); err != nil {
			if errors.As(err, new(errStopRecords)) {
				stop = err
				return nil
			}
			return err
		}
		return rows.Err()
	})
	if err != nil {
		return s.describeAll(err)
	}
	return stop
}
