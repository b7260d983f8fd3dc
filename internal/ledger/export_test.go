package ledger

import (
	"context"
	"fmt"
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
	const q = `SELECT seq, data FROM approvals ORDER BY id`
	switch s := s.(type) {
	case *SQLiteStore:
		rows, err := s.db.QueryContext(ctx, q)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		all, err := scanRecords[Approval](rows, "approval", nil)
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
			if all, err = scanRecords[Approval](rows, "approval", nil); err != nil {
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
