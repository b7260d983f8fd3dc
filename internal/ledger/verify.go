package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Report is the outcome of verifying a ledger. Tampering is reported here, with
// OK false; Verify's error is reserved for failures to read the ledger.
type Report struct {
	// Events is the number of events read, up to and including the first one
	// whose chain is broken (past a problem of meaning, the chain is still
	// checked to its end).
	Events int64
	// Head is the head the store recorded with its last append.
	Head Head
	OK   bool
	// FirstBad is the first sequence number at fault, or 0 when the fault is not
	// tied to one event (the store's protections were removed). A fault of
	// meaning (an event that no grant's or approval's life allows, or a
	// decision its policy did not allow) counts as much as a broken chain.
	FirstBad int64
	// Problem says what is wrong, in one sentence; empty when OK.
	Problem string
	// From is the sequence number of the trusted event that verification
	// started after (VerifySince), or 0 when it verified the whole ledger.
	From int64
}

// Subject kinds, by event type prefix.
const (
	kindGrant = iota
	kindApproval
	kindOther
)

func eventKind(typ []byte) int {
	switch {
	case bytes.HasPrefix(typ, []byte("grant.")):
		return kindGrant
	case bytes.HasPrefix(typ, []byte("approval.")):
		return kindApproval
	}
	return kindOther
}

var (
	kindNames  = [...]string{kindGrant: "grant", kindApproval: "approval"}
	kindTables = [...]string{kindGrant: "grants", kindApproval: "approvals"}
)

// subjectIndex remembers, for every grant or approval, the last event about
// it: its sequence number and what its current-state row must hold. A full verification
// keeps one entry for every record the ledger ever held, so it is kept
// small: an open-addressing table of indexes (no pointers for the collector
// to trace), the ids back to back in large shared blocks, and one state per
// record.
type subjectIndex struct {
	seed  maphash.Seed
	slots []uint32 // 1 + an index into last, 0 for a free slot; a power of two long
	ids   strings.Builder
	last  []subjectState
}

type subjectState struct {
	id  string // shares a block of subjectIndex.ids
	seq int64  // 0 while no event about it was seen, only a row
	// cols is the keyed digest of the filter columns the last event's
	// payload gives (columnsDigest), 0 when the payload does not read as
	// governed writes it; expires is its expiry in Unix nanoseconds,
	// math.MinInt64 when it has none that reads.
	cols    uint64
	expires int64
	// row is the key (rowKey) of the subject's current-state row as the walk
	// noted it, to be judged once the walk is over, or a stand-in (oddRow,
	// oddType) for one that read otherwise than appends write it; 0 when
	// none is noted or it was judged when noted. rows is how many rows were
	// found, up to 2.
	row  uint64
	rows uint8
}

// Stand-ins for the filter columns, or the key, of a row that read otherwise
// than appends write it (stateRow.odd): even, so that they equal no digest
// (columnsDigest) and no key (rowKey).
const (
	oddRow  = 2 // a revoke_pending neither 0 nor 1
	oddType = 4 // a column holding a value of another type than its table declares
)

// oddColumns is what differs in a row of each stand-in, in nameMismatch's words.
var oddColumns = map[uint64]string{oddRow: "revoke_pending", oddType: "column types"}

// idBlock is the size in bytes of the blocks that subject ids are kept in.
const idBlock = 64 << 10

// init empties x, with room for n subjects.
func (x *subjectIndex) init(seed maphash.Seed, n int) {
	slots := 16
	for slots < 2*n {
		slots *= 2
	}
	*x = subjectIndex{seed: seed, slots: make([]uint32, slots), last: make([]subjectState, 0, n)}
}

// find returns the index of subject id, and whether it is known.
func (x *subjectIndex) find(id []byte) (int, bool) {
	i, ok := x.slot(id, maphash.Bytes(x.seed, id))
	if !ok {
		return 0, false
	}
	return int(x.slots[i] - 1), true
}

// slot returns the slot of subject id, whose hash is h, or the free slot
// where it would go.
func (x *subjectIndex) slot(id []byte, h uint64) (int, bool) {
	mask := uint64(len(x.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		j := x.slots[i]
		if j == 0 {
			return int(i), false
		}
		if x.last[j-1].id == string(id) {
			return int(i), true
		}
	}
}

// record notes event seq about subject and returns the subject's index,
// whether this is its first event, and the sequence number of its event
// before (0 for a first).
func (x *subjectIndex) record(subject []byte, seq int64, cols uint64, expires int64) (i int, isNew bool, prevSeq int64) {
	i = x.index(subject)
	st := &x.last[i]
	prevSeq, st.seq, st.cols, st.expires = st.seq, seq, cols, expires
	return i, prevSeq == 0, prevSeq
}

// index returns the index of subject id, adding it when it is not known.
func (x *subjectIndex) index(id []byte) int {
	slot, ok := x.slot(id, maphash.Bytes(x.seed, id))
	if ok {
		return int(x.slots[slot] - 1)
	}
	i := len(x.last)
	x.last = append(x.last, subjectState{id: x.keep(id)})
	x.slots[slot] = uint32(i + 1)
	if 2*len(x.last) > len(x.slots) {
		x.grow()
	}
	return i
}

// keep returns id as a string in a block of x.ids.
func (x *subjectIndex) keep(id []byte) string {
	if len(id) > idBlock/16 {
		return string(id)
	}
	if x.ids.Cap()-x.ids.Len() < len(id) {
		x.ids = strings.Builder{}
		x.ids.Grow(idBlock)
	}
	x.ids.Write(id)
	all := x.ids.String() // earlier strings stay valid: the block is only appended to
	return all[len(all)-len(id):]
}

// grow doubles the table.
func (x *subjectIndex) grow() {
	x.slots = make([]uint32, 2*len(x.slots))
	mask := uint64(len(x.slots) - 1)
	for j, st := range x.last {
		i := maphash.String(x.seed, st.id) & mask
		for x.slots[i] != 0 {
			i = (i + 1) & mask
		}
		x.slots[i] = uint32(j + 1)
	}
}

// verification runs the checks every store shares: the chain, the recorded
// head, and the replay of the log against the current-state tables. Stores feed
// it what they read; the first problem found is the one reported, except that
// among replay problems the lowest sequence number wins.
//
// The replay compares payloads through digests keyed with a seed chosen at
// random for each verification, so that the log's payloads need not be kept in
// memory. The digests are not cryptographic, but whoever edits the ledger
// cannot know the seed, so a changed payload has a chance of 2^-64 of going
// unnoticed.
type verification struct {
	chain   *ChainVerifier
	meaning *meaning
	// walked is set once the walk of the events is over: rows noted after
	// it are judged at once (verification.row).
	walked bool
	// suffix, when not nil, keeps the events for the checks of meaning,
	// which run after the walk (verifySuffix).
	suffix   []suffixEvent
	seed     maphash.Seed
	events   int64
	subjects [2]subjectIndex
	firstBad int64
	problem  string
	failed   bool
	replay   bool // the recorded problem comes from the replay
	// ledgerID is the id the ledger keeps (ledger_identity), "" when its
	// row is missing; identified is the sequence number of the
	// ledger.identified event seen, 0 before one.
	ledgerID   string
	identified int64
	// expiresAgree is the store's dialect.expiresAgree.
	expiresAgree func(stored int64, expiresAt time.Time) bool
	// mismatch is the current-state row with the lowest sequence number
	// whose columns differ from its last event's, nil for none.
	mismatch *rowMismatch
	// times checks the events' recording and decision times.
	times timeline
}

func newVerification() *verification {
	v := &verification{chain: NewChainVerifier(), seed: maphash.MakeSeed()}
	v.meaning = newMeaning(v.seed, nil, nil)
	v.expectSubjects(0, 0)
	return v
}

// expectSubjects sizes the subject indexes, and what the checks of meaning
// keep of each subject, ahead of the walk.
func (v *verification) expectSubjects(grants, approvals int) {
	v.subjects[kindGrant].init(v.seed, grants)
	v.subjects[kindApproval].init(v.seed, approvals)
	v.meaning.grants = make([]grantLife, 0, grants)
	v.meaning.approvals = make([]approvalLife, 0, approvals)
}

func (v *verification) fail(seq int64, problem string) {
	if v.failed {
		return
	}
	v.failed, v.firstBad, v.problem = true, seq, problem
}

// event checks the next stored event and reports whether to go on. It is
// the order of the checks that the walk keeps, though it runs the chain's on
// one goroutine and the rest (subjectEvent) on another.
func (v *verification) event(seq int64, at, typ, subject, data, prevHash, hash []byte, origin originFields) bool {
	v.events++
	if !v.chain.addRaw(seq, at, typ, subject, data, prevHash, hash, origin) {
		_, firstBad, problem := v.chain.Result()
		v.fail(firstBad, problem)
		return false
	}
	return v.subjectEvent(seq, at, typ, subject, data, prevHash, origin)
}

// subjectEvent runs the checks of event other than the chain's, in sequence
// order on one goroutine: the subject index and meaning, the ledger's id, a
// recorded discontinuity. It reports whether to go on. A check added here
// that keeps its own first problem, as meaning does, must be dropped in
// finish when found at or past the event where the chain broke.
func (v *verification) subjectEvent(seq int64, at, typ, subject, data, prevHash []byte, origin originFields) bool {
	v.times.event(seq, at, origin.recordedAt)
	if k := eventKind(typ); k != kindOther {
		problem := readPayload(data, &v.meaning.fields)
		cols, expires := v.stateOf(&v.meaning.fields, problem)
		i, isNew, prevSeq := v.subjects[k].record(subject, seq, cols, expires)
		if v.suffix != nil {
			buf := make([]byte, 0, len(at)+len(typ)+len(subject)+len(data))
			buf = append(append(append(append(buf, at...), typ...), subject...), data...)
			a, t, s := len(at), len(at)+len(typ), len(at)+len(typ)+len(subject)
			v.suffix = append(v.suffix, suffixEvent{kind: k, i: i, seq: seq, at: buf[:a:a], typ: buf[a:t:t], subject: buf[t:s:s], data: buf[s:]})
		} else {
			v.meaning.event(v, k, i, isNew, prevSeq, seq, at, typ, subject, data, problem)
		}
	} else if bytes.Equal(typ, discontinuityType) {
		v.discontinuity(seq, at, prevHash, data)
		return false
	} else if bytes.Equal(typ, identifiedType) {
		v.identify(seq, subject, data)
	}
	return true
}

var (
	discontinuityType = []byte(EventLedgerDiscontinuity)
	identifiedType    = []byte(EventLedgerIdentified)
)

// identify checks a ledger.identified event at seq: the only one in the log,
// about the ledger, naming the id the ledger keeps.
func (v *verification) identify(seq int64, subject, data []byte) {
	if v.identified != 0 {
		v.fail(seq, fmt.Sprintf("event %d records the ledger's id again, after event %d", seq, v.identified))
		return
	}
	v.identified = seq
	var id Identified
	switch {
	case string(subject) != LedgerSubject:
		v.fail(seq, fmt.Sprintf("event %d records the ledger's id about %q, not about the ledger", seq, subject))
	case json.Unmarshal(data, &id) != nil:
		v.fail(seq, fmt.Sprintf("event %d records the ledger's id in a payload that cannot be read", seq))
	case v.ledgerID == "":
		v.fail(seq, fmt.Sprintf("the ledger's id was changed: event %d records it as %s, but the ledger keeps none", seq, id.LedgerID))
	case id.LedgerID != v.ledgerID:
		v.fail(seq, fmt.Sprintf("the ledger's id was changed: event %d records it as %s, but the ledger says %s", seq, id.LedgerID, v.ledgerID))
	}
}

// readLedgerID reads the id the ledger keeps into v, for identify.
func (v *verification) readLedgerID(ctx context.Context, r snapshotReader) error {
	_, err := r.queryRow(ctx, ledgerIDQuery, &v.ledgerID)
	return err
}

// discontinuity reports the damage a ledger.discontinuity event records, at
// the sequence number where verification found it before the event was
// written, so that a ledger never verifies again once it was damaged. The
// event passed the chain checks: it follows event seq-1, whose hash is
// prevHash.
func (v *verification) discontinuity(seq int64, at, prevHash, data []byte) {
	var d Discontinuity
	if err := json.Unmarshal(data, &d); err != nil {
		v.fail(seq, fmt.Sprintf("event %d records a discontinuity that cannot be read: %v", seq, err))
		return
	}
	if d.LastEvent.Seq != seq-1 || d.LastEvent.Hash != string(prevHash) {
		v.fail(seq, fmt.Sprintf("event %d records a discontinuity after event %d, but it follows event %d", seq, d.LastEvent.Seq, seq-1))
		return
	}
	firstBad, problem, ok := headProblem(d.RecordedHead, d.LastEvent)
	if ok {
		firstBad, problem = seq, "the recorded head matched the log"
	}
	found := string(at)
	if t, err := time.Parse(time.RFC3339Nano, found); err == nil {
		found = t.UTC().Format(time.RFC3339)
	}
	v.fail(firstBad, fmt.Sprintf("%s (found at %s; event %d records this discontinuity and the events after it are "+
		"chained onto event %d, so that removals of access could still be recorded)", problem, found, seq, d.LastEvent.Seq))
}

// joinedEvent is event for a stored event whose text fields come joined, as
// walkFields splits them.
func (v *verification) joinedEvent(seq int64, joined []byte) bool {
	at, typ, subject, prevHash, hash, origin, data, ok := walkFields(joined)
	if !ok {
		v.events++
		v.fail(seq, fmt.Sprintf("event %d was altered (a field holds a control character or is missing)", seq))
		return false
	}
	return v.event(seq, at, typ, subject, data, prevHash, hash, origin)
}

// head cross-checks the head the store recorded (nil when its row is
// missing) against the last event read.
func (v *verification) head(recorded *Head) {
	if seq, problem, ok := headProblem(recorded, v.chain.Head()); !ok {
		v.fail(seq, problem)
	}
}

// headProblem says how a recorded head (nil when missing) differs from the
// last event of the log, and the first sequence number at fault; ok is true
// when they match.
func headProblem(recorded *Head, last Head) (seq int64, problem string, ok bool) {
	switch {
	case recorded == nil:
		return last.Seq, "the recorded head is missing", false
	case recorded.Seq > last.Seq:
		return last.Seq + 1, fmt.Sprintf("the log ends at event %d but the recorded head is event %d: events %d to %d were removed",
			last.Seq, recorded.Seq, last.Seq+1, recorded.Seq), false
	case recorded.Seq < last.Seq:
		return recorded.Seq + 1, fmt.Sprintf("the recorded head is event %d but the log goes on to event %d: events %d to %d were added outside governed",
			recorded.Seq, last.Seq, recorded.Seq+1, last.Seq), false
	case recorded.Hash != last.Hash:
		return last.Seq, fmt.Sprintf("the recorded head hash differs from the hash of event %d", last.Seq), false
	}
	return 0, "", true
}

// stateRow is one current-state row as verification reads it
// (dialect.stateRowsQuery): its columns and its expiry as the store keeps it
// (dialect.expiresStored).
type stateRow struct {
	id      string
	seq     int64
	cols    stateColumns // expiresAt unset: see expires
	expires int64
	// odd is a stand-in (oddRow, oddType) for a row the store read
	// otherwise than the append writes it, 0 for none: the row differs from
	// its event whatever the event says.
	odd uint64
}

// dest is where a scan of a stateRowsQuery row goes.
func (r *stateRow) dest() []any {
	return []any{&r.id, &r.seq, &r.cols.principal, &r.cols.entitlement, &r.cols.status, &r.expires,
		pendingColumn{r}, &r.cols.approvalID, declaredColumn{r}}
}

// declaredColumn scans the last column of a stateRowsQuery row, whether
// every column holds a value of the type its table declares
// (dialect.declaredTypes), and makes a row that does not odd (oddType),
// unless it is odd already. It comes after pendingColumn, which resets odd.
type declaredColumn struct{ r *stateRow }

func (d declaredColumn) Scan(src any) error {
	switch v := src.(type) {
	case bool:
		if !v && d.r.odd == 0 {
			d.r.odd = oddType
		}
	case int64:
		if v != 1 && d.r.odd == 0 {
			d.r.odd = oddType
		}
	default:
		return fmt.Errorf("the check of a row's column types gave %T", src)
	}
	return nil
}

// pendingColumn scans a row's revoke_pending as either store keeps it
// (PostgreSQL a boolean, SQLite 0 or 1) into its row, and makes a row whose
// SQLite value is neither 0 nor 1 odd (oddRow), or of another type (oddType),
// rather than unreadable, so that verification names what differs. It sets
// odd for every row it scans.
type pendingColumn struct{ r *stateRow }

func (p pendingColumn) Scan(src any) error {
	p.r.odd = 0
	switch v := src.(type) {
	case bool:
		p.r.cols.revokePending = v
	case int64:
		p.r.cols.revokePending = v == 1
		if v != 0 && v != 1 {
			p.r.odd = oddRow
		}
	case nil:
		return errors.New("revoke_pending is NULL")
	default: // another type than the table declares
		p.r.odd = oddType
	}
	return nil
}

// stateOf is what the current-state row of a record must hold, given its
// last event's payload as readPayload read it into f with problem: the digest
// of its filter columns (0 when the payload does not read as governed writes
// it, which the checks of meaning report) and its expiry in Unix nanoseconds
// (math.MinInt64 when it does not read). The walk keeps it for every record,
// so that the rows are checked without reading their events again.
func (v *verification) stateOf(f *payloadFields, problem string) (cols uint64, expires int64) {
	if problem != "" {
		return 0, math.MinInt64
	}
	revokePending, err := revokePendingOf(f)
	if err != nil {
		return 0, math.MinInt64
	}
	expires = math.MinInt64
	if t, ok := parseUTC(f[fExpiresAt]); ok {
		expires = t
	}
	return columnsDigest(v.seed, f[fPrincipal], f[fEntitlement], f[fStatus], f[fApprovalID], revokePending), expires
}

// rowDigest is columnsDigest of a current-state row's columns.
func rowDigest(seed maphash.Seed, c *stateColumns) uint64 {
	b := func(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) } // only read
	return columnsDigest(seed, b(c.principal), b(c.entitlement), b(c.status), b(c.approvalID), c.revokePending)
}

// columnsDigest is a keyed digest of a record's filter columns but its
// expiry, never 0.
func columnsDigest(seed maphash.Seed, principal, entitlement, status, approvalID []byte, revokePending bool) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	for _, s := range [...][]byte{principal, entitlement, status, approvalID} {
		var n [8]byte
		h.Write(n[:binaryPutLen(n[:], len(s))])
		h.Write(s)
	}
	if revokePending {
		h.WriteByte(1)
	} else {
		h.WriteByte(0)
	}
	return h.Sum64() | 1
}

// binaryPutLen writes n into b as a little-endian length and returns how
// many bytes it took, so that the digest's fields cannot run into each other.
func binaryPutLen(b []byte, n int) int {
	for i := range b {
		b[i] = byte(n >> (8 * i))
	}
	return len(b)
}

// rowMismatch is a current-state row whose filter columns differ from what
// its last event gives; the one with the lowest sequence number is named once
// all rows are judged (nameMismatch).
type rowMismatch struct {
	kind int
	id   string
	seq  int64
	odd  string
}

// row notes a current-state row of kind. Once the walk is over it judges
// the row at once (judgeRow); during the walk, when a store reads the rows
// while it reads the events, the subject's last event may be still to come,
// so it keeps only the row's key (8 bytes a record), for checkRows to compare
// with what the last event gives once the walk is over.
func (v *verification) row(kind int, r *stateRow) {
	x := &v.subjects[kind]
	st := &x.last[x.index(unsafe.Slice(unsafe.StringData(r.id), len(r.id)))] // only read, or copied by keep
	if st.rows < 2 {
		st.rows++
	}
	if st.rows > 1 {
		st.row = 0 // more than one: checkRows reports it
		return
	}
	switch {
	case v.walked:
		v.judgeRow(kind, st, r)
	case r.odd != 0:
		st.row = r.odd
	default:
		st.row = v.rowKey(r.seq, rowDigest(v.seed, &r.cols), r.expires)
	}
}

// rowKey is a keyed digest of what a current-state row holds: the event it
// names, the digest of its filter columns and its expiry as the store keeps
// it (dialect.expiresKey); odd, so that it equals no stand-in.
func (v *verification) rowKey(seq int64, cols uint64, expires int64) uint64 {
	var b [24]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(seq))
	binary.LittleEndian.PutUint64(b[8:], cols)
	binary.LittleEndian.PutUint64(b[16:], uint64(expires))
	return maphash.Bytes(v.seed, b[:]) | 1
}

// judgeRow judges a current-state row of kind against its subject's state
// st once the walk is over: it names the subject's last event, and its filter
// columns are those that event's payload gives (stateColumnsOf), so that no
// filter can hide a record or show another.
func (v *verification) judgeRow(kind int, st *subjectState, r *stateRow) {
	name, id, end := kindNames[kind], st.id, v.chain.Head().Seq
	switch {
	case st.seq == 0:
		v.replayFail(r.seq, fmt.Sprintf("%s %q has a current-state row (event %d) but no events in the log", name, id, r.seq))
	case r.seq > end:
		v.replayFail(end+1, fmt.Sprintf("the current state of %s %q refers to event %d, beyond the end of the log (%d): events were removed",
			name, id, r.seq, end))
	case r.seq != st.seq:
		v.replayFail(st.seq, fmt.Sprintf("the current state of %s %q says event %d but its last event is %d", name, id, r.seq, st.seq))
	case st.cols == 0:
		// The payload reads otherwise than governed writes it: the checks
		// of meaning report the event, which fails verification.
	case r.odd != 0 || rowDigest(v.seed, &r.cols) != st.cols || st.expires == math.MinInt64 ||
		!v.expiresAgree(r.expires, time.Unix(0, st.expires)):
		v.rowMismatch(kind, st, r.odd)
	}
}

// rowMismatch notes that the row of the subject st of kind differs from its
// last event, odd being its stand-in if it has one: the one with the lowest
// sequence number is named (nameMismatch).
func (v *verification) rowMismatch(kind int, st *subjectState, odd uint64) {
	if v.mismatch == nil || st.seq < v.mismatch.seq {
		v.mismatch = &rowMismatch{kind: kind, id: st.id, seq: st.seq, odd: oddColumns[odd]}
	}
}

// checkRows judges the current-state rows of kind once the walk is over:
// every subject with events has exactly one row, and one the walk noted has
// the key its last event gives. A row whose key differs is read again, by
// its subject's id, and judged as it reads (judgeRow), so that the problem
// is named; so is one about a subject without events.
func (v *verification) checkRows(ctx context.Context, r snapshotReader, kind int) error {
	name, expiresKey := kindNames[kind], r.dialect().expiresKey
	var again []int
	for i := range v.subjects[kind].last {
		st := &v.subjects[kind].last[i]
		switch {
		case st.rows == 0:
			v.replayFail(st.seq, fmt.Sprintf("%s %q has events (the last is %d) but no current-state row", name, st.id, st.seq))
		case st.rows > 1:
			v.replayFail(st.seq, fmt.Sprintf("%s %q has more than one current-state row", name, st.id))
		case st.row == 0:
			// Judged when noted.
		case st.seq != 0 && (st.row == oddRow || st.row == oddType):
			v.rowMismatch(kind, st, st.row)
		case st.seq != 0 && st.cols != 0 && st.expires != math.MinInt64 &&
			st.row == v.rowKey(st.seq, st.cols, expiresKey(time.Unix(0, st.expires))):
			// As its last event says.
		default:
			again = append(again, i)
		}
	}
	d := r.dialect()
	q := d.stateRowsQuery(kindTables[kind]) + ` WHERE g.id = ` + d.param(1)
	for _, i := range again {
		st := &v.subjects[kind].last[i]
		var row stateRow
		found, err := r.queryRowArgs(ctx, q, []any{st.id}, row.dest()...)
		if err != nil {
			return err
		}
		if found {
			v.judgeRow(kind, st, &row)
		}
	}
	return nil
}

// nameMismatch reports the row mismatch found by row, if any, naming the
// first column that differs: it reads that row's event again.
func (v *verification) nameMismatch(ctx context.Context, r snapshotReader) error {
	m := v.mismatch
	if m == nil {
		return nil
	}
	column := m.odd // a value no append writes
	if column == "" {
		d := r.dialect()
		var row stateRow
		if _, err := r.queryRowArgs(ctx, d.stateRowsQuery(kindTables[m.kind])+` WHERE g.id = `+d.param(1), []any{m.id}, row.dest()...); err != nil {
			return err
		}
		var data []byte
		if _, err := r.queryRowArgs(ctx, `SELECT data FROM events WHERE seq = `+d.param(1), []any{m.seq}, &data); err != nil {
			return err
		}
		if column = v.columnProblem(&row, data); column == "" {
			column = "filter columns" // the store read the row otherwise than it reads now
		}
	}
	v.replayFail(m.seq, fmt.Sprintf("the current state of %s %q does not match its last event (%d): its %s differs",
		kindNames[m.kind], m.id, m.seq, column))
	return nil
}

func (v *verification) columnProblem(r *stateRow, data []byte) string {
	want, err := stateColumnsOf(data)
	if err != nil {
		return ""
	}
	got := r.cols
	switch {
	case got.principal != want.principal:
		return "principal"
	case got.entitlement != want.entitlement:
		return "entitlement"
	case got.status != want.status:
		return "status"
	case got.revokePending != want.revokePending:
		return "revoke_pending"
	case got.approvalID != want.approvalID:
		return "approval_id"
	}
	expires, err := time.Parse(time.RFC3339, want.expiresAt)
	if err != nil || !v.expiresAgree(r.expires, expires) {
		return "expiry"
	}
	return ""
}

func (v *verification) replayFail(seq int64, problem string) {
	earlierReplayProblem := v.replay && seq < v.firstBad
	if v.failed && !earlierReplayProblem {
		return
	}
	v.failed, v.replay, v.firstBad, v.problem = true, true, seq, problem
}

// report is the outcome: the problem at the lowest sequence number, where a
// problem of the chain, the head or the replay comes before a problem of
// meaning at the same event, and a problem of the schema (tied to no event)
// after any problem of meaning.
func (v *verification) report(recorded Head) Report {
	r := Report{Events: v.events, Head: recorded, OK: !v.failed, FirstBad: v.firstBad, Problem: v.problem}
	if m := v.meaning; m.firstBad != 0 && (!v.failed || v.firstBad == 0 || m.firstBad < v.firstBad) {
		r.OK, r.FirstBad, r.Problem = false, m.firstBad, m.problem
	}
	if tl := &v.times; tl.firstBad != 0 && (r.OK || r.FirstBad == 0 || tl.firstBad < r.FirstBad) {
		r.OK, r.FirstBad, r.Problem = false, tl.firstBad, tl.problem
	}
	return r
}

// walkSeparator joins an event's text fields for the walk: the SQLite store
// joins them in its query, which SQLite hands over much faster than six
// columns, and the PostgreSQL store as it reads them. No field can contain
// it: timestamps, types, ids and hashes are plain text, and JSON escapes every
// control character, so a stored event that holds more separators than the
// join adds was altered.
const walkSeparator = 0x1f

// walkFields splits the joined fields of one event: at, type, subject,
// prev_hash, hash, recorded_at, actor, run_id, data.
func walkFields(joined []byte) (at, typ, subject, prevHash, hash []byte, origin originFields, data []byte, ok bool) {
	var f [8][]byte
	rest := joined
	for i := range f {
		j := bytes.IndexByte(rest, walkSeparator)
		if j < 0 {
			return nil, nil, nil, nil, nil, originFields{}, nil, false
		}
		f[i], rest = rest[:j], rest[j+1:]
	}
	if bytes.IndexByte(rest, walkSeparator) >= 0 {
		return nil, nil, nil, nil, nil, originFields{}, nil, false
	}
	return f[0], f[1], f[2], f[3], f[4], originFields{f[5], f[6], f[7]}, rest, true
}

// walkBatch carries stored events from the reader to the chain's checks and
// from there to the others: each event's fields joined by walkSeparator.
type walkBatch struct {
	buf    []byte
	events []walkEvent
	rows   []walkRow // current-state rows, noted after the events
	first  int64     // the position in the walk of events[0], from 1
	intact int       // how many of events, from the first, the chain's checks passed
}

type walkEvent struct {
	seq    int64
	fields []byte
	// split is fields as the chain's checks split them (walkFields), for
	// the other checks.
	split walkSplit
}

// walkRow is a current-state row of kind read during the walk.
type walkRow struct {
	kind int
	row  stateRow
}

// walkSplit is an event's fields split by walkFields.
type walkSplit struct {
	at, typ, subject, prevHash, data []byte
	origin                           originFields
}

// A walk hands events on in batches of walkBatchSize, with at most
// walkBatchesInUse of them filled or in flight: enough for the reader to go
// on while the other goroutines catch up (4 measured about 5% slower on the
// whole walk), few enough that what is in flight stays in the CPU's caches
// (96 measured slower again) and memory stays flat whatever the ledger's
// size, about 2 MiB of events.
const (
	walkBatchSize    = 256
	walkBatchesInUse = 16
)

// walkStop is where one of the walk's goroutines stopped: at the event at
// position pos (from 1) in the walk, with what it found.
type walkStop struct {
	pos      int64
	firstBad int64
	problem  string
}

// walk verifies the events that feed hands it (walkFeed.event), in
// sequence order, and notes the current-state rows it hands it
// (walkFeed.row) with them. feed runs on the caller's goroutine and reads the
// store until it is done or the walk says it stopped.
//
// Reading rows, hashing and the other checks each take about a third of the
// time, so they run as a pipeline of three goroutines with a few batches of
// events in flight: feed in the caller's, the chain's checks in a second,
// and the rest (subjectEvent) in a third, which gets only the events whose
// chain is intact. The outcome is that of event called for each event in
// turn, which stops at the first event whose chain is broken or that
// records a discontinuity (finish).
func (v *verification) walk(feed func(*walkFeed) error) error {
	toChain, toSubjects := make(chan *walkBatch, walkBatchesInUse), make(chan *walkBatch, walkBatchesInUse)
	free := make(chan *walkBatch, walkBatchesInUse)
	for range walkBatchesInUse {
		free <- &walkBatch{events: make([]walkEvent, 0, walkBatchSize)}
	}
	// stopped is set when either goroutine stopped: the feed stops, and
	// what is in flight is passed on unchecked.
	var stopped atomic.Bool
	var chainStop, subjectStop *walkStop
	go func() {
		defer close(toSubjects)
		for b := range toChain {
			b.intact = 0
			for k := range b.events {
				if chainStop != nil {
					break
				}
				e := &b.events[k]
				at, typ, subject, prevHash, hash, origin, data, ok := walkFields(e.fields)
				e.split = walkSplit{at: at, typ: typ, subject: subject, prevHash: prevHash, data: data, origin: origin}
				switch {
				case !ok:
					chainStop = &walkStop{b.first + int64(k), e.seq, fmt.Sprintf("event %d was altered (a field holds a control character or is missing)", e.seq)}
				case !v.chain.addRaw(e.seq, at, typ, subject, data, prevHash, hash, origin):
					_, firstBad, problem := v.chain.Result()
					chainStop = &walkStop{b.first + int64(k), firstBad, problem}
				default:
					b.intact++
					continue
				}
				stopped.Store(true)
			}
			toSubjects <- b
		}
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range toSubjects {
			for k := range b.events[:b.intact] {
				if subjectStop != nil {
					break
				}
				e := &b.events[k].split
				if !v.subjectEvent(b.events[k].seq, e.at, e.typ, e.subject, e.data, e.prevHash, e.origin) {
					subjectStop = &walkStop{pos: b.first + int64(k)}
					stopped.Store(true)
				}
			}
			for k := range b.rows {
				v.row(b.rows[k].kind, &b.rows[k].row)
			}
			free <- b
		}
	}()

	f := &walkFeed{b: <-free, stopped: &stopped, toChain: toChain, free: free}
	f.b.first = 1
	err := feed(f)
	toChain <- f.b
	close(toChain)
	<-done
	v.finish(f.n, chainStop, subjectStop)
	v.walked = true
	return err
}

// walkFeed is how a store's reader hands a walk (verification.walk) what it
// reads: events in sequence order, and current-state rows.
type walkFeed struct {
	b       *walkBatch // filling
	n       int64      // events handed over
	stopped *atomic.Bool
	toChain chan<- *walkBatch
	free    <-chan *walkBatch
}

// buf is the filling batch's buffer. A reader appends an event's fields to
// it and hands over the grown buffer (appended), so that the fields stay
// unchanged until the walk ends without a copy of their own.
func (f *walkFeed) buf() []byte { return f.b.buf }

// appended hands over the event seq whose fields, joined by walkSeparator,
// are grown[start:], grown being buf with them appended; start < 0 when one
// of its fields holds no text (reported as altered, at its place in the
// chain). It reports whether the walk goes on: false once it stopped.
func (f *walkFeed) appended(seq int64, grown []byte, start int) bool {
	f.b.buf = grown
	var fields []byte
	if start >= 0 {
		fields = grown[start:len(grown):len(grown)]
	}
	return f.event(seq, fields)
}

// event hands over the event seq with its fields, joined by walkSeparator,
// which nothing may change until the walk ends; nil fields are reported as
// altered. It reports whether the walk goes on: false once it stopped.
func (f *walkFeed) event(seq int64, fields []byte) bool {
	f.n++
	f.b.events = append(f.b.events, walkEvent{seq: seq, fields: fields})
	if len(f.b.events) == walkBatchSize {
		f.next()
	}
	return !f.stopped.Load()
}

// row hands over a current-state row, whose strings nothing may change
// until the walk ends. It reports whether the walk goes on.
func (f *walkFeed) row(r walkRow) bool {
	f.b.rows = append(f.b.rows, r)
	if len(f.b.rows) == walkBatchSize {
		f.next()
	}
	return !f.stopped.Load()
}

// next sends the filling batch on and starts filling a free one.
func (f *walkFeed) next() {
	f.toChain <- f.b
	b := <-f.free
	clear(b.events) // let the collector have what the feed handed over
	clear(b.rows)
	b.buf, b.events, b.rows, b.first = b.buf[:0], b.events[:0], b.rows[:0], f.n+1
	f.b = b
}

// finish makes the outcome of a walk of n events whose chain's checks and
// other checks ran apart the outcome of event called for each in turn. The
// other checks saw only events whose chain is intact, so what they found
// comes first; the walk ends at the first event whose chain is broken or
// where the other checks stopped (a discontinuity), and a broken chain past a
// discontinuity is not reported.
func (v *verification) finish(n int64, chainStop, subjectStop *walkStop) {
	chainEnd, subjectEnd := int64(math.MaxInt64), int64(math.MaxInt64)
	if chainStop != nil {
		chainEnd = chainStop.pos
	}
	if subjectStop != nil {
		subjectEnd = subjectStop.pos
	}
	v.events += min(n, chainEnd, subjectEnd)
	if chainStop != nil && chainEnd < subjectEnd {
		v.fail(chainStop.firstBad, chainStop.problem) // unless the other checks found a problem before it
	}
}

// scanRows is what verification reads from the rows of either store's
// driver (database/sql's and pgx's rows both have it).
type scanRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// scanPolicies calls fn for each kept policy document in rows of policiesQuery.
func scanPolicies(rows scanRows, fn func(digest string, document []byte)) error {
	for rows.Next() {
		var digest string
		var document []byte
		if err := rows.Scan(&digest, &document); err != nil {
			return err
		}
		fn(digest, document)
	}
	return rows.Err()
}

// scanStateRows calls fn for each current-state row in rows of
// dialect.stateRowsQuery; the row is valid until fn returns.
func scanStateRows(rows scanRows, fn func(*stateRow)) error {
	var r stateRow
	dest := r.dest()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		fn(&r)
	}
	return rows.Err()
}

// snapshotReader reads what verifySnapshot checks, all from one consistent
// snapshot of a store: each store supplies one over a read-only transaction
// of its own. Its errors are reported as they are; the store describes them.
type snapshotReader interface {
	rowQuerier
	// dialect is the store's SQL dialect.
	dialect() dialect
	// queryRowArgs is queryRow for a query with parameters.
	queryRowArgs(ctx context.Context, q string, args []any, dest ...any) (found bool, err error)
	// walkEvents feeds every stored event after sequence number after to v
	// through v.walk, in sequence order, stopping when v does. With rows
	// set, it may also feed v every current-state row through the walk
	// (verification.row) and report that it did, so that they need not be
	// read again after it.
	walkEvents(ctx context.Context, v *verification, after int64, rows bool) (rowsRead bool, err error)
	// rows calls fn for every current-state row of kind (kindGrant or
	// kindApproval), read with dialect.stateRowsQuery. The row is valid
	// only until fn returns.
	rows(ctx context.Context, kind int, fn func(*stateRow)) error
	// policies calls fn for every kept policy document, by digest; document
	// is fn's to keep.
	policies(ctx context.Context, fn func(digest string, document []byte)) error
	// schemaProblem says, in one sentence, how the append-only protections
	// or the definitions of the current-state tables differ from what the
	// migrations made; it is empty when they do not.
	schemaProblem(ctx context.Context) (string, error)
}

// verifySnapshot verifies a store from one snapshot: the chain, the recorded
// head, the replay of the log against the current-state tables and, when
// those hold, the store's schema.
func verifySnapshot(ctx context.Context, r snapshotReader, judge Judge, from *Head) (Report, error) {
	policies := map[string][]byte{}
	if err := r.policies(ctx, func(digest string, document []byte) { policies[digest] = document }); err != nil {
		return Report{}, err
	}
	if from != nil {
		return verifySuffix(ctx, r, judge, *from, policies)
	}
	v := newVerification()
	v.meaning = newMeaning(v.seed, judge, policies)
	v.expiresAgree = r.dialect().expiresAgree
	v.times = newTimeline(ctx)
	var grants, approvals int
	if _, err := r.queryRow(ctx, `SELECT (SELECT count(*) FROM grants), (SELECT count(*) FROM approvals)`, &grants, &approvals); err != nil {
		return Report{}, err
	}
	defer verifyGC(grants, approvals)()
	v.expectSubjects(grants, approvals)
	if err := v.readLedgerID(ctx, r); err != nil {
		return Report{}, err
	}
	v.meaning.ledgerID = v.ledgerID
	rowsRead, err := r.walkEvents(ctx, v, math.MinInt64, true)
	if err != nil {
		return Report{}, err
	}
	var head Head
	found, err := r.queryRow(ctx, `SELECT seq, hash FROM ledger_head WHERE id = 1`, &head.Seq, &head.Hash)
	if err != nil {
		return Report{}, err
	}
	if found {
		v.head(&head)
	} else {
		v.head(nil)
	}
	if !v.failed {
		for _, kind := range []int{kindGrant, kindApproval} {
			if !rowsRead {
				if err := r.rows(ctx, kind, func(row *stateRow) { v.row(kind, row) }); err != nil {
					return Report{}, err
				}
			}
			if err := v.checkRows(ctx, r, kind); err != nil {
				return Report{}, err
			}
		}
		if err := v.nameMismatch(ctx, r); err != nil {
			return Report{}, err
		}
	}
	if !v.failed {
		problem, err := r.schemaProblem(ctx)
		if err != nil {
			return Report{}, err
		}
		if problem != "" {
			v.fail(0, problem)
		}
	}
	return v.report(head), nil
}

// A whole verification's live memory is its index, one entry for every
// record the ledger ever held, while every event it reads is garbage at once.
// The collector's target is set for the verification's index, as
// verifyGCPercent says.
const (
	// verifyHeapGoal is the heap a verification may grow to between
	// collections, while its index is small: a 100,000-event ledger then
	// verifies with two or three collections rather than a dozen, and the
	// provider's resident memory (its heap, code and SQLite's pages) stays
	// under 100 MiB.
	verifyHeapGoal = 48 << 20
	// verifyGCFloor is the target (as GOGC) for an index so large that the
	// goal would leave less than half of it again: at Go's default of 100 the
	// heap would grow to twice the index between collections, and at 50 a
	// 1,000,000-event ledger of 334,000 grants stays under 100 MiB of RSS in
	// the provider.
	verifyGCFloor = 50
	// grantIndexBytes and approvalIndexBytes are about what the index keeps
	// of each grant and approval: its entry, the checks of meaning's record
	// of it, its slot and its id.
	grantIndexBytes    = 140
	approvalIndexBytes = 320
)

// verifyGCPercent is the collector's target (as GOGC) for a verification
// whose index keeps grants and approvals, when the process's live heap
// before it is base bytes: the target that lets the heap grow to
// verifyHeapGoal, but never below verifyGCFloor.
func verifyGCPercent(base uint64, grants, approvals int) int {
	live := base + uint64(grants)*grantIndexBytes + uint64(approvals)*approvalIndexBytes
	if live == 0 || 2*verifyHeapGoal <= 3*live {
		return verifyGCFloor
	}
	return max(verifyGCFloor, int(100*(verifyHeapGoal-live)/live))
}

var walkGC struct {
	sync.Mutex
	running int // whole verifications under way
	saved   int // the target before the first of them
}

// verifyGC sets the collector's target for a whole verification whose index
// will keep grants and approvals (verifyGCPercent) until the function it
// returns is called; the target comes back when the last verification under
// way ends. A target the process set below Go's default of 100, or off
// (GOGC=off), is kept where it is lower; verifications that overlap keep the
// target the first one set.
func verifyGC(grants, approvals int) (restore func()) {
	walkGC.Lock()
	defer walkGC.Unlock()
	if walkGC.running == 0 {
		percent := verifyGCPercent(liveHeap(), grants, approvals)
		walkGC.saved = debug.SetGCPercent(percent)
		if walkGC.saved < 100 && walkGC.saved < percent { // lowered by the process, or off (-1)
			debug.SetGCPercent(walkGC.saved)
		}
	}
	walkGC.running++
	return func() {
		walkGC.Lock()
		defer walkGC.Unlock()
		if walkGC.running--; walkGC.running == 0 {
			debug.SetGCPercent(walkGC.saved)
		}
	}
}

// liveHeap is the process's live heap in bytes as the last collection left
// it, 0 when the runtime does not say.
func liveHeap() uint64 {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return sample[0].Value.Uint64()
}
