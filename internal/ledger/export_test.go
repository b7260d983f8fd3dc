package ledger

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// verifyChain checks a whole chain held in memory, starting at sequence 1.
func verifyChain(events []Event) (ok bool, firstBad int64, problem string) {
	v := NewChainVerifier()
	var at [64]byte
	for _, e := range events {
		if !v.addRaw(e.Seq, e.At.UTC().AppendFormat(at[:0], time.RFC3339Nano),
			[]byte(e.Type), []byte(e.Subject), e.Data, []byte(e.PrevHash), []byte(e.Hash), eventOrigin(e)) {
			break
		}
	}
	return v.Result()
}

// storedApprovals returns every approval in the current-state table of s,
// sorted by id, so that tests can compare it with the log.
func storedApprovals(ctx context.Context, s Store) ([]Approval, error) {
	const q = `SELECT id, seq, (SELECT data FROM events WHERE events.seq = approvals.seq) FROM approvals ORDER BY id`
	switch s := s.(type) {
	case *SQLiteStore:
		rows, err := s.db.QueryContext(ctx, q)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		all, err := scanRecords[Approval](&sqliteRecordRows{Rows: rows}, "approval", nil)
		if err != nil {
			return nil, err
		}
		return all, rows.Err()
	case *PostgresStore:
		var all []Approval
		err := s.pool.with(ctx, func(c *pgx.Conn) error {
			rows, err := c.Query(ctx, q)
			if err != nil {
				return err
			}
			defer rows.Close()
			if all, err = scanRecords[Approval](pgRecordRows{rows}, "approval", nil); err != nil {
				return err
			}
			return rows.Err()
		})
		return all, err
	}
	return nil, fmt.Errorf("no current-state table to read in a %T", s)
}

// eventOrigin is the stored text of e's recording time and origin.
func eventOrigin(e Event) originFields {
	var rec string
	if !e.RecordedAt.IsZero() {
		rec = formatAt(e.RecordedAt)
	}
	return originFields{[]byte(rec), []byte(e.Actor), []byte(e.RunID)}
}

// StoreUnderTest gives the tests of package ledger_test, which may import
// what imports the ledger (the checkpoint and evidence packages), the
// conformance suite's ledgers.
type StoreUnderTest struct{ st storeUnderTest }

// ForEachStore is forEachStore for package ledger_test.
func ForEachStore(t *testing.T, test func(t *testing.T, st StoreUnderTest)) {
	t.Helper()
	forEachStore(t, func(t *testing.T, st storeUnderTest) { test(t, StoreUnderTest{st}) })
}

// Ledger is the store's ledger, as its owner opened it.
func (s StoreUnderTest) Ledger() *Ledger { return s.st.l }

// Name is the kind of store: "sqlite" or "postgres".
func (s StoreUnderTest) Name() string { return s.st.name }

// Appender opens the ledger as the least-privileged role that appends.
func (s StoreUnderTest) Appender(t testing.TB) *Ledger { return s.st.appender(t) }

// AsOwner runs statements with full access, the append-only triggers taken
// away meanwhile and put back as they were.
func (s StoreUnderTest) AsOwner(stmts ...string) error {
	all := append(append(slices.Clone(s.st.triggersOff), stmts...), s.st.triggersOn...)
	return s.st.exec(all...)
}

// Exec runs statements with full access.
func (s StoreUnderTest) Exec(stmts ...string) error { return s.st.exec(stmts...) }

// FormatAt is the stored text of an event's time.
func FormatAt(t time.Time) string { return formatAt(t) }

// AppendRawGrant appends a grant event whose payload is data as given, as
// someone who writes the store's rows directly could: g is the state the
// append's checks read, data what is hashed and kept.
func AppendRawGrant(ctx context.Context, s Store, eventType string, at time.Time, g Grant, data []byte, expectSeq int64) (Event, error) {
	r, err := grantRecord(eventType, g)
	if err != nil {
		return Event{}, err
	}
	r.data = data
	switch s := s.(type) {
	case *SQLiteStore:
		return s.append(ctx, eventType, at, r, expectSeq)
	case *PostgresStore:
		return s.appendRecord(ctx, eventType, at, r, expectSeq)
	}
	return Event{}, fmt.Errorf("no raw append to a %T", s)
}

// VacuumInto copies a SQLite ledger file into a new file, as sqlite3's
// .backup does.
func VacuumInto(ctx context.Context, path, into string) error {
	s, err := openSQLite(ctx, path, false, Origin{})
	if err != nil {
		return err
	}
	defer s.Close()
	_, err = s.db.ExecContext(ctx, `VACUUM INTO ?`, into)
	return err
}
