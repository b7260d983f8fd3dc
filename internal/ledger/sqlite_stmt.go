package ledger

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// sqliteStmtLimit bounds how many statement texts a SQLiteStore keeps
// prepared. The store's fixed statements and the few shapes of its grant
// queries (one per combination of filters) stay well under it; texts beyond
// it are prepared for each call, as before.
const sqliteStmtLimit = 64

// sqliteStmts keeps the statements a SQLiteStore runs often prepared, so that
// SQLite parses and plans each text once per connection instead of once per
// call (a grant's apply runs seven statements and a ticket's grant query,
// which cost more to prepare than to run). database/sql prepares a Stmt
// again on any connection of the pool that has not seen it, and inside a
// transaction (Tx.StmtContext) on the transaction's connection.
type sqliteStmts struct {
	mu     sync.Mutex
	stmts  map[string]*sql.Stmt
	closed bool
}

// get returns the prepared statement for q, preparing it on first use; nil
// when the cache is full or closed (the caller runs q unprepared).
func (c *sqliteStmts) get(ctx context.Context, db *sql.DB, q string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.stmts[q]; ok {
		return st, nil
	}
	if c.closed || len(c.stmts) >= sqliteStmtLimit {
		return nil, nil
	}
	st, err := db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if c.stmts == nil {
		c.stmts = map[string]*sql.Stmt{}
	}
	c.stmts[q] = st
	return st, nil
}

// close closes every statement; later gets prepare nothing.
func (c *sqliteStmts) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var errs []error
	for _, st := range c.stmts {
		errs = append(errs, st.Close())
	}
	c.stmts = nil
	return errors.Join(errs...)
}

// query runs q with args through its prepared statement.
func (s *SQLiteStore) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := s.stmts.get(ctx, s.db, q)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return s.db.QueryContext(ctx, q, args...)
	}
	return st.QueryContext(ctx, args...)
}

// queryRow runs q with args through its prepared statement; a failure to
// prepare is the row's error, as QueryRowContext reports it.
func (s *SQLiteStore) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := s.stmts.get(ctx, s.db, q)
	if err != nil || st == nil {
		return s.db.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// txQueryRow and txExec run q inside tx through its prepared statement.
func (s *SQLiteStore) txQueryRow(ctx context.Context, tx *sql.Tx, q string, args ...any) *sql.Row {
	st, err := s.stmts.get(ctx, s.db, q)
	if err != nil || st == nil {
		return tx.QueryRowContext(ctx, q, args...)
	}
	return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
}

func (s *SQLiteStore) txExec(ctx context.Context, tx *sql.Tx, q string, args ...any) error {
	st, err := s.stmts.get(ctx, s.db, q)
	if err != nil {
		return err
	}
	if st == nil {
		_, err = tx.ExecContext(ctx, q, args...)
		return err
	}
	_, err = tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	return err
}
