package ledger

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math/rand/v2"
	"strings"
	"sync"

	"modernc.org/sqlite"
)

// A verification's walk reads every stored event and current-state row once.
// SQLite hands each one's columns to a function of ours (walkEventColumns,
// walkRowColumns), which copies them straight into the walk and checks that
// each holds the storage class its table declares. That check matters: the
// tables are STRICT, but a definition rewritten behind SQLite's back
// (writable_schema) lets the ledger's owner store an event's subject as a
// BLOB, or NULL with its text moved into a neighbouring field. The event
// would hash as before and match every checkpoint, while reads that compare
// the column in SQL (by subject, by type) would no longer find it: a
// revocation hidden, a grant active again. SQLite tells the function each
// value's storage class at no cost, where checking it in SQL took two
// comparisons per column and about a quarter of its CPU. A third function
// (walkIndexEntry) reads the entries of the index through which other reads
// find a record's events, for a comparison with the events (indexProblem).
//
// The functions write to the walk's walkSink, found by the number the query
// binds as its first parameter. They are registered with the driver for the
// whole process; the connections run with trusted_schema off (sqliteDSN), so
// that only the statements below can call them: a trigger or view stored in
// a ledger file cannot.
const (
	walkEventFunction = "governed_walk_event"
	walkRowFunction   = "governed_walk_row"
	walkIndexFunction = "governed_walk_index"
)

func init() {
	// VolatileArgs: the text arguments are views of SQLite's own memory,
	// valid during the call; the functions copy them before returning.
	sqlite.MustRegisterFunction(walkEventFunction, &sqlite.FunctionImpl{
		NArgs: 11, VolatileArgs: true, Scalar: walkEventColumns})
	sqlite.MustRegisterFunction(walkRowFunction, &sqlite.FunctionImpl{
		NArgs: 10, VolatileArgs: true, Scalar: walkRowColumns})
	sqlite.MustRegisterFunction(walkIndexFunction, &sqlite.FunctionImpl{
		NArgs: 3, VolatileArgs: true, Scalar: walkIndexEntry})
}

// The walk's queries each run as one step: SQLite calls a walk function for
// every event, row or index entry it reads and returns one row, the count of
// calls that returned 1, which the walk compares with the calls the function
// counted. A row per event handed back through the driver cost about a tenth
// more CPU.

// The walk's queries read the tables themselves (NOT INDEXED), never an
// index that holds the columns they read: the ledger file is its owner's to
// write, an index too, and so is sqlite_stat1, which steers SQLite's choice.
// An index holding a current-state row as appends wrote it, while the table
// holds it edited, would verify a row that every listing reads otherwise.

// sqliteWalkQuery reads the events after ?2, in the table's order, through
// walkEventColumns into the walk sink ?1. That is sequence order, the rowid's,
// unless the table was made again with seq a column of its own: the chain's
// checks then report the first event out of order (ChainVerifier), as
// tampering, which an error here would make a failure to read the ledger
// that stops removals of access too.
const sqliteWalkQuery = `SELECT count(` + walkEventFunction +
	`(?1, seq, at, type, subject, prev_hash, hash, recorded_at, actor, run_id, data)) FROM events NOT INDEXED WHERE seq > ?2`

// sqliteWalkRowsQuery reads the current-state rows of table through
// walkRowColumns into the walk sink ?1.
func sqliteWalkRowsQuery(table string) string {
	return `SELECT count(` + walkRowFunction +
		`(?1, rowid, seq, expires_unix, revoke_pending, id, principal, entitlement, status, approval_id)) FROM ` + table +
		` NOT INDEXED`
}

// sqliteSubjectIndex is the index every read of one record's events goes
// through (a grant's state, its revocation), as migration 2 defines it.
const (
	sqliteSubjectIndex    = "events_subject"
	sqliteSubjectIndexSQL = `CREATE INDEX events_subject ON events (subject, seq)`
)

// sqliteSubjectIndexQuery reads every entry of the subject index, and only
// the index, through walkIndexEntry into the walk sink ?1.
const sqliteSubjectIndexQuery = `SELECT count(` + walkIndexFunction + `(?1, subject, seq)) FROM events INDEXED BY ` +
	sqliteSubjectIndex

// walkSink is where the walk functions put what SQLite hands them, for one
// walk on one connection.
type walkSink struct {
	id int64

	// feed takes the events and rows read (verification.walk); stopped is
	// set when it said the walk stopped, which ends the query under way.
	feed    *walkFeed
	stopped bool
	// calls counts the calls of a walk function since the query began.
	calls int64

	// kind is the kind of the rows being read (kindGrant, kindApproval),
	// and others the rowids of those to be read again on their own, by
	// kind (walkRowColumns).
	kind   int
	others [2][]int64

	// entries and indexed are digests of the (subject, seq) pairs of the
	// events walked and of the subject index's entries: sums of each pair's
	// hash under seed, a number the ledger's owner cannot know, and counts.
	// indexOdd is set by an index entry whose subject is not TEXT.
	seed             maphash.Seed
	entries, indexed pairDigest
	indexOdd         bool

	// suffix, when set, has the events' subjects and seqs kept in pairs:
	// a walk of the events since a checkpoint, few (MaxSuffix at most).
	suffix bool
	pairs  []indexPair
}

// errWalkStopped ends a walk's query when the walk stopped (walkSink.stopped).
var errWalkStopped = errors.New("the verification walk stopped")

// scan runs one of the walk's queries with the sink as ?1 and args after it,
// and checks that SQLite counted as many calls of its walk function as the
// function did. It reports false when the walk stopped.
func (s *walkSink) scan(ctx context.Context, q driver.QueryerContext, query string, args ...any) (bool, error) {
	named := []driver.NamedValue{{Ordinal: 1, Value: s.id}}
	for i, a := range args {
		named = append(named, driver.NamedValue{Ordinal: i + 2, Value: a})
	}
	s.calls = 0
	dest := make([]driver.Value, 1)
	found, err := firstRow(q.QueryContext(ctx, query, named))(dest)
	switch n, _ := dest[0].(int64); {
	case s.stopped:
		return false, nil
	case err != nil:
		return false, err
	case !found || n != s.calls:
		return false, fmt.Errorf("the verification walk was called %d times where SQLite counted %v", s.calls, dest[0])
	}
	return true, nil
}

// pairDigest is a digest of a multiset of (subject, seq) pairs that does not
// depend on their order: the sum of their hashes, and their count.
type pairDigest struct {
	sum, count uint64
}

func (d *pairDigest) add(seed maphash.Seed, subject string, seq int64) {
	// The subject's keyed hash and the seq go through a bijective mixer
	// (splitmix64's finaliser) together, so that pairs cannot trade their
	// seqs without changing the sum.
	x := maphash.String(seed, subject) + uint64(seq)*0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	d.sum += x ^ x>>31
	d.count++
}

var walkSinks sync.Map // int64 → *walkSink

// openWalkSink registers a sink under a random number, not the next of a
// count: a connection that trusts the schema (SQLite's default; ours do not,
// but a tool opening the same file in this process may) would let a view in
// the ledger file call the walk functions, and a count would tell it which
// numbers a walk under way reads into.
func openWalkSink() *walkSink {
	for {
		s := &walkSink{id: rand.Int64(), seed: maphash.MakeSeed()}
		if _, taken := walkSinks.LoadOrStore(s.id, s); !taken {
			return s
		}
	}
}

func (s *walkSink) close() { walkSinks.Delete(s.id) }

func walkSinkOf(arg driver.Value) (*walkSink, error) {
	id, _ := arg.(int64)
	v, _ := walkSinks.Load(id)
	s, ok := v.(*walkSink)
	if !ok || s.feed == nil {
		return nil, errors.New("no verification walk is reading")
	}
	return s, nil
}

// walkEventColumns is governed_walk_event(sink, seq, at, type, subject,
// prev_hash, hash, recorded_at, actor, run_id, data): it appends the fields
// to the walk's batch and hands the event over (walkFeed.appended). An event
// with a field that holds no TEXT goes over without fields, and the walk
// reports it as altered, at its place in the chain. It returns 1.
func walkEventColumns(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	s, err := walkSinkOf(args[0])
	if err != nil {
		return nil, err
	}
	s.calls++
	// seq is the rowid, an integer, unless the table was made again: the
	// chain's checks report a seq of another type, read as 0, or one out of
	// order.
	seq, _ := args[1].(int64)
	buf := s.feed.buf()
	start := len(buf)
	for i, arg := range args[2:] {
		text, ok := arg.(string)
		if !ok {
			buf, start = buf[:start], -1
			break
		}
		if i > 0 {
			buf = append(buf, walkSeparator)
		}
		buf = append(buf, text...)
	}
	if start >= 0 {
		subject := args[4].(string) //nolint:forcetypeassert // a string, checked above
		s.entries.add(s.seed, subject, seq)
		if s.suffix {
			// A copy: the argument is a view of SQLite's memory.
			s.pairs = append(s.pairs, indexPair{strings.Clone(subject), seq})
		}
	}
	if !s.feed.appended(seq, buf, start) {
		s.stopped = true
		return nil, errWalkStopped
	}
	return int64(1), nil
}

// walkIndexEntry is governed_walk_index(sink, subject, seq), for each entry
// of the subject index: it adds the pair to the sink's digest of the index.
// It returns 1.
func walkIndexEntry(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	s, err := walkSinkOf(args[0])
	if err != nil {
		return nil, err
	}
	s.calls++
	subject, ok := args[1].(string)
	seq, _ := args[2].(int64) // the rowid, always an integer
	if !ok {
		s.indexOdd = true
		return int64(1), nil
	}
	s.indexed.add(s.seed, subject, seq)
	return int64(1), nil
}

// indexProblem compares the subject index with the events a whole walk read:
// the same (subject, seq) pairs, no more and no fewer. SQLite keeps an index
// in step with its table, but the ledger file is its owner's to write: an
// index rebuilt under another definition for a moment (a partial one that
// leaves out a revocation) and then given its definition back would hide the
// revocation from every read of the grant, while the events themselves,
// their chain and every checkpoint still verify. It says what differs, or ""
// when nothing does.
func (s *walkSink) indexProblem(ctx context.Context, q driver.QueryerContext) (string, error) {
	problem, err := subjectIndexDefinitionProblem(ctx, q)
	if err != nil || problem != "" {
		return problem, err
	}
	if _, err := s.scan(ctx, q, sqliteSubjectIndexQuery); err != nil {
		return "", err
	}
	if s.indexOdd || s.indexed != s.entries {
		return fmt.Sprintf("the index %s holds other entries than the events (index entries: %d, events: %d): "+
			"reads of a record through it would not find the events verified", sqliteSubjectIndex,
			s.indexed.count, s.entries.count), nil
	}
	return "", nil
}

// subjectIndexDefinitionProblem says whether the subject index is missing or
// defined otherwise than migration 2 left it, or whether the events table
// has another index; "" when none of these. Reads of a record go through
// whichever index SQLite chooses, and sqlite_stat1, the owner's to write,
// steers the choice: another index on the subjects, built without a
// revocation, would hide it as the subject index would, without being
// compared with the events.
func subjectIndexDefinitionProblem(ctx context.Context, q driver.QueryerContext) (string, error) {
	dest := make([]driver.Value, 1)
	found, err := firstRow(q.QueryContext(ctx,
		`SELECT sql FROM sqlite_master WHERE type = 'index' AND name = '`+sqliteSubjectIndex+`'`, nil))(dest)
	switch {
	case err != nil:
		return "", err
	case !found:
		return "the index " + sqliteSubjectIndex + ", through which a record's events are read, is missing", nil
	}
	if def, _ := dest[0].(string); def != sqliteSubjectIndexSQL {
		return "the definition of the index " + sqliteSubjectIndex + " was altered", nil
	}
	found, err = firstRow(q.QueryContext(ctx,
		`SELECT name FROM pragma_index_list('events') WHERE name <> '`+sqliteSubjectIndex+`' ORDER BY name`, nil))(dest)
	switch {
	case err != nil:
		return "", err
	case found:
		return fmt.Sprintf("the events table has an index the migrations did not make (%v): reads of a record "+
			"could go through it, and it is not compared with the events", dest[0]), nil
	}
	return "", nil
}

// sqliteIndexEntryQuery finds the subject index's entry for one event.
const sqliteIndexEntryQuery = `SELECT 1 FROM events INDEXED BY ` + sqliteSubjectIndex + ` WHERE subject = ?1 AND seq = ?2`

// suffixIndexProblem checks, after a walk of the events appended since a
// checkpoint (pairs, their subjects and seqs), that the subject index has an
// entry for each: reads of a record go through it, and an entry left out
// would hide the event (a revocation) from them while the walk verified it.
// A whole verification compares the whole index (indexProblem); this costs a
// lookup for each event since the checkpoint. It returns the problem and the
// event it names, or "".
func suffixIndexProblem(ctx context.Context, q driver.QueryerContext, pairs []indexPair) (string, int64, error) {
	problem, err := subjectIndexDefinitionProblem(ctx, q)
	if err != nil || problem != "" || len(pairs) == 0 {
		return problem, 0, err
	}
	// Prepared once: up to MaxSuffix lookups, each cheaper than its parse.
	c, ok := q.(driver.ConnPrepareContext)
	if !ok {
		return "", 0, errors.New("the SQLite driver's connection cannot prepare a statement")
	}
	st, err := c.PrepareContext(ctx, sqliteIndexEntryQuery)
	if err != nil {
		return "", 0, err
	}
	defer st.Close()
	lookup, ok := st.(driver.StmtQueryContext)
	if !ok {
		return "", 0, errors.New("the SQLite driver's statement cannot run a query")
	}
	dest := make([]driver.Value, 1)
	for _, p := range pairs {
		found, err := firstRow(lookup.QueryContext(ctx, []driver.NamedValue{
			{Ordinal: 1, Value: p.subject}, {Ordinal: 2, Value: p.seq}}))(dest)
		switch {
		case err != nil:
			return "", 0, err
		case !found:
			return fmt.Sprintf("the index %s has no entry for event %d: reads of its record would not find it",
				sqliteSubjectIndex, p.seq), p.seq, nil
		}
	}
	return "", 0, nil
}

// firstRow reads the first row of a query run through the driver (its rows
// and error, as QueryContext returns them) into dest and closes the rows; it
// reports whether there was one.
func firstRow(rows driver.Rows, err error) func(dest []driver.Value) (bool, error) {
	return func(dest []driver.Value) (bool, error) {
		if err != nil {
			return false, err
		}
		defer rows.Close()
		switch err := rows.Next(dest); {
		case errors.Is(err, io.EOF):
			return false, nil
		case err != nil:
			return false, err
		}
		return true, nil
	}
}

// indexPair is one event's subject and seq.
type indexPair struct {
	subject string
	seq     int64
}

// walkRowColumns is governed_walk_row(sink, rowid, seq, expires_unix,
// revoke_pending, id, principal, entitlement, status, approval_id): it hands
// the row over (walkFeed.row). A row whose integer columns do not all hold
// integers, or whose text columns hold a NULL or a number, is left to be
// read again on its own (walkSink.others), through database/sql and the
// type checks of dialect.declaredTypes. A revoke_pending neither 0 nor 1,
// which no append writes and which a filter on 1 would pass over, makes the
// row odd (oddRow); so, failing that, does a text column that holds a BLOB
// (oddType). It returns 1.
func walkRowColumns(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	s, err := walkSinkOf(args[0])
	if err != nil {
		return nil, err
	}
	s.calls++
	rowid, _ := args[1].(int64) // the rowid is always an integer
	seq, ok1 := args[2].(int64)
	expires, ok2 := args[3].(int64)
	pending, ok3 := args[4].(int64)
	if !ok1 || !ok2 || !ok3 {
		s.others[s.kind] = append(s.others[s.kind], rowid)
		return int64(1), nil
	}
	odd := uint64(0)
	if pending != 0 && pending != 1 {
		odd = oddRow
	}
	texts := args[5:]
	size := 0
	for _, arg := range texts {
		switch v := arg.(type) {
		case string:
			size += len(v)
		case []byte:
			size += len(v)
			if odd == 0 {
				odd = oddType
			}
		default:
			s.others[s.kind] = append(s.others[s.kind], rowid)
			return int64(1), nil
		}
	}
	// One copy of the five columns, which the row's strings share.
	var b strings.Builder
	b.Grow(size)
	var ends [5]int
	for i, arg := range texts {
		switch v := arg.(type) {
		case string:
			b.WriteString(v)
		case []byte:
			b.Write(v)
		}
		ends[i] = b.Len()
	}
	all := b.String()
	col := func(i int) string {
		if i == 0 {
			return all[:ends[0]]
		}
		return all[ends[i-1]:ends[i]]
	}
	row := stateRow{id: col(0), seq: seq, expires: expires, cols: stateColumns{principal: col(1), entitlement: col(2),
		status: col(3), revokePending: pending == 1, approvalID: col(4)}, odd: odd}
	if !s.feed.row(walkRow{kind: s.kind, row: row}) {
		s.stopped = true
		return nil, errWalkStopped
	}
	return int64(1), nil
}

// walkEvents walks the log in sequence order (see verification.walk). With
// rows set, it reads the current-state rows (walkRowColumns) in the same
// transaction after the events and reports that it did, unless a table's
// definition was altered (stateTablesAsMade), and compares the subject index
// with the events (indexProblem). It runs the queries through
// the driver's own connection, below database/sql.
func (t sqliteTx) walkEvents(ctx context.Context, v *verification, after int64, rows bool) (bool, error) {
	if t.conn == nil {
		return false, errors.New("a walk needs the transaction's own connection (SQLiteStore.begin)")
	}
	sink := openWalkSink()
	defer sink.close()
	// A walk from a checkpoint (after > 0) checks the index for the events
	// it reads; a whole walk (rows) checks the whole index.
	sink.suffix = !rows && after > 0
	rowsRead := false
	err := t.conn.Raw(func(dc any) error {
		q, ok := dc.(driver.QueryerContext)
		if !ok {
			// database/sql cannot be used on the connection Raw holds: it
			// would wait on Raw's own lock.
			return errors.New("the SQLite driver's connection cannot run a query")
		}
		var indexProblem string
		err := v.walk(func(f *walkFeed) error {
			sink.feed = f
			if more, err := sink.scan(ctx, q, sqliteWalkQuery, after); !more || !rows {
				return err
			}
			switch asMade, err := stateTablesAsMade(ctx, q); {
			case err != nil:
				return err
			case asMade:
				for kind, table := range kindTables {
					sink.kind = kind
					if more, err := sink.scan(ctx, q, sqliteWalkRowsQuery(table)); !more {
						return err
					}
				}
				rowsRead = true
			}
			// Read while the walk's other goroutines check the last batches.
			var err error
			indexProblem, err = sink.indexProblem(ctx, q)
			return err
		})
		switch {
		case err != nil || v.failed:
			return err
		case sink.suffix:
			problem, seq, err := suffixIndexProblem(ctx, q, sink.pairs)
			if problem != "" {
				v.fail(seq, problem)
			}
			return err
		case indexProblem != "":
			v.fail(0, indexProblem)
		}
		return nil
	})
	if err != nil || !rowsRead {
		return rowsRead, err
	}
	for kind, rowids := range sink.others {
		q := sqliteDialect.stateRowsQuery(kindTables[kind]) + ` WHERE g.rowid = ?`
		for _, rowid := range rowids {
			if err := t.rowsSQL(ctx, q, []any{rowid}, func(r *stateRow) { v.row(kind, r) }); err != nil {
				return true, err
			}
		}
	}
	return true, nil
}

// stateTablesAsMade reports whether the current-state tables are defined as
// the migrations made them, and so have the rowid the walk reads their rows
// by (sqliteWalkRowsQuery). A table the ledger's owner made again WITHOUT
// ROWID still takes appends, revocations included; its rows are left to
// be read otherwise (snapshotReader.rows), and its definition to
// schemaProblem to report, where a walk that read its rowid would fail
// with an error that stops removals of access too.
func stateTablesAsMade(ctx context.Context, q driver.QueryerContext) (bool, error) {
	for _, table := range kindTables {
		dest := make([]driver.Value, 1)
		found, err := firstRow(q.QueryContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1`,
			[]driver.NamedValue{{Ordinal: 1, Value: table}}))(dest)
		if err != nil {
			return false, err
		}
		if def, _ := dest[0].(string); !found || def != sqliteCheckedSchema[table] {
			return false, nil
		}
	}
	return true, nil
}
