package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
)

// currentRow names the current-state row an append replaces.
type currentRow struct {
	table string
	kind  string
	id    string
}

// appendRecord is what every store appends for one event about a record: the
// current-state row it replaces, the record's expiry, its payload, and the
// row's filter columns, read back from that payload (stateColumnsOf).
type appendRecord struct {
	row       currentRow
	expiresAt string
	data      []byte
	cols      stateColumns
}

// stateColumns are the filter columns of a current-state row: what a query
// selects grants and approvals by, copied from the payload of the record's
// last event. The row holds them and that event's sequence number, never
// the payload itself, which readers take from the event.
type stateColumns struct {
	principal, entitlement, status string
	// expiresAt is the payload's expires_at, as written; each store keeps
	// it in a form of its own (dialect.expires).
	expiresAt     string
	revokePending bool
	// approvalID is the approval record a grant was made under, "" for
	// none and for an approval.
	approvalID string
}

// stateColumnsOf reads a record's filter columns from the payload of an
// event about it. Appends and verification both read them this way, so that
// a row an append wrote always agrees with its event. It reads the payload
// as verification of meaning does (readPayload), in one pass without
// reflection, since verification reads every current-state row's event.
func stateColumnsOf(data []byte) (stateColumns, error) {
	var f payloadFields
	// The checks of meaning hold the payload's members to their types; its
	// columns need only its grammar.
	if problem := readPayloadTyped(data, &f, false); problem != "" {
		return stateColumns{}, errors.New(problem)
	}
	revokePending, err := revokePendingOf(&f)
	if err != nil {
		return stateColumns{}, err
	}
	return stateColumns{principal: string(f[fPrincipal]), entitlement: string(f[fEntitlement]), status: string(f[fStatus]),
		expiresAt: string(f[fExpiresAt]), revokePending: revokePending, approvalID: string(f[fApprovalID])}, nil
}

// revokePendingOf is the revoke_pending column of a payload read into f:
// false when the payload has no such member.
func revokePendingOf(f *payloadFields) (bool, error) {
	switch string(f[fRevokePending]) {
	case "true":
		return true, nil
	case "", "false":
		return false, nil
	}
	return false, errors.New("its payload's revoke_pending is not a boolean")
}

// grantRecord checks an append of an event about g and encodes its payload.
func grantRecord(eventType string, g Grant) (appendRecord, error) {
	return newAppendRecord(eventType, grantEventTypes, currentRow{"grants", "grant", g.ID}, g.Status, g.ExpiresAt, g)
}

// approvalRecord checks an append of an event about a and encodes its payload.
func approvalRecord(eventType string, a Approval) (appendRecord, error) {
	return newAppendRecord(eventType, approvalEventTypes, currentRow{"approvals", "approval", a.ID}, a.Status, a.ExpiresAt, a)
}

func newAppendRecord(eventType string, allowed []string, row currentRow, status, expiresAt string, payload any) (appendRecord, error) {
	if !slices.Contains(allowed, eventType) {
		article := "a"
		if strings.HasPrefix(row.kind, "a") {
			article = "an"
		}
		return appendRecord{}, fmt.Errorf("event type %q is not about %s %s", eventType, article, row.kind)
	}
	if err := checkRecord(row.kind, row.id, status, expiresAt); err != nil {
		return appendRecord{}, err
	}
	data, err := json.Marshal(payload)
	if err != nil {
		return appendRecord{}, err
	}
	cols, err := stateColumnsOf(data)
	if err != nil {
		return appendRecord{}, err
	}
	return appendRecord{row: row, expiresAt: expiresAt, data: data, cols: cols}, nil
}

// checkRecord refuses a record the current-state tables cannot index.
func checkRecord(kind, id, status, expiresAt string) error {
	if id == "" {
		return fmt.Errorf("a %s needs an id", kind)
	}
	if strings.IndexFunc(id, unicode.IsControl) >= 0 {
		return fmt.Errorf("%s id %q holds a control character", kind, id)
	}
	if status == "" {
		return fmt.Errorf("%s %q has no status", kind, id)
	}
	// The same form SQLite's date functions read, so that the generated
	// expires_unix column always has a value.
	if _, err := time.Parse(time.RFC3339, expiresAt); err != nil || strings.ContainsAny(expiresAt, "tz") {
		return fmt.Errorf("%s %q: expires_at %q is not an RFC 3339 time such as 2026-12-01T17:00:00Z", kind, id, expiresAt)
	}
	return nil
}

// recordSeqQuery reads, under an append's write lock, the sequence number of
// the last event about the record of kind ("grant" or "approval") whose id is
// the query's one parameter, through the events_subject index; no row when
// there is none.
//
// An append decides by it (decideAppend's cur), not by the seq of the
// record's current-state row: the rows are an index that the pipeline's own
// database role, or a SQLite file's owner, can edit or delete. A row whose
// seq was edited would make every append about its record a conflict, and a
// deleted row would make every transition of its record "not found", so that
// the expiry or revocation of a grant could never be recorded. Read from the
// events, the append goes through and its upsert writes the row again from
// the event it appends.
func recordSeqQuery(d dialect, kind string) string {
	return `SELECT seq FROM events WHERE subject = ` + d.param(1) + ` AND type LIKE '` + kind +
		`.%'` + d.ownEvent + ` ORDER BY seq DESC LIMIT 1`
}

// decideAppend decides an append from what the store read under its write
// lock: cur is the sequence number of the last event about the record
// (recordSeqQuery; nil when there is none), head the head recorded with the
// last append and last the last event of the log ({0, ""} for an empty log).
// The record must be new when expectSeq is 0 and otherwise still at
// expectSeq, and the head must match the log. It returns the event to write,
// chained to the head.
func decideAppend(eventType string, at time.Time, r appendRecord, expectSeq int64, cur *int64, head, last Head, st stamp) (Event, error) {
	switch {
	case cur == nil:
		if expectSeq != 0 {
			return Event{}, fmt.Errorf("%s %q: %w", r.row.kind, r.row.id, ErrNotFound)
		}
	case expectSeq == 0:
		return Event{}, fmt.Errorf("%s %q: %w", r.row.kind, r.row.id, ErrExists)
	case *cur != expectSeq:
		return Event{}, fmt.Errorf("%s %q is at event %d, not %d: %w", r.row.kind, r.row.id, *cur, expectSeq, ErrConflict)
	}
	if head != last {
		return Event{}, ErrInconsistent
	}
	ev := Event{Seq: head.Seq + 1, At: at.UTC().Round(0), Type: eventType, Subject: r.row.id, Data: r.data, PrevHash: head.Hash}
	st.apply(&ev)
	ev.Hash = HashEvent(ev.PrevHash, ev)
	return ev, nil
}

// decideDiscontinuity decides an AppendDiscontinuity from what the store read
// under its write lock: head is the recorded head (nil when its row is
// missing), last the last event of the log. It returns the event to write,
// chained onto last, or false when head matches last.
func decideDiscontinuity(at time.Time, note string, head *Head, last Head, st stamp) (Event, bool, error) {
	if head != nil && *head == last {
		return Event{}, false, nil
	}
	data, err := json.Marshal(Discontinuity{RecordedHead: head, LastEvent: last, Note: note})
	if err != nil {
		return Event{}, false, err
	}
	ev := Event{Seq: last.Seq + 1, At: at.UTC().Round(0), Type: EventLedgerDiscontinuity, Subject: DiscontinuitySubject,
		Data: data, PrevHash: last.Hash}
	st.apply(&ev)
	ev.Hash = HashEvent(ev.PrevHash, ev)
	return ev, true, nil
}

// errHeadMissing is returned by an append when the ledger's head row is gone.
var errHeadMissing = fmt.Errorf("the ledger's recorded head is missing: %w", ErrInconsistent)

// record is a grant or an approval: what the events of the log are about.
type record interface{ Grant | Approval }

// decodeRecord decodes a stored payload, the data of an event, and gives the
// record the sequence number seq.
func decodeRecord[T record](seq int64, data []byte) (T, error) {
	var r T
	if err := json.Unmarshal(data, &r); err != nil {
		return r, err
	}
	switch p := any(&r).(type) {
	case *Grant:
		p.Seq = seq
	case *Approval:
		p.Seq = seq
	}
	return r, nil
}

// recordID is the id of a grant or an approval.
func recordID[T record](r *T) string {
	switch p := any(r).(type) {
	case *Grant:
		return p.ID
	case *Approval:
		return p.ID
	}
	return ""
}

// lastEventReader reads the sequence number and payload of the last event of
// kind ("grant" or "approval") about id; found is false when there is none.
// Each store has one, with its own query and error messages.
type lastEventReader func(ctx context.Context, kind, id string) (seq int64, data []byte, found bool, err error)

// lastRecord returns the grant or approval that the last event of its kind
// about id holds. Stores read records this way rather than from their
// current-state rows: the events are hash-chained and verified, the rows are
// only an index, so an edited row can never change what a record is.
func lastRecord[T record](ctx context.Context, read lastEventReader, kind, id string) (T, error) {
	var zero T
	seq, data, found, err := read(ctx, kind, id)
	if err != nil {
		return zero, err
	}
	if !found {
		return zero, fmt.Errorf("%s %q: %w", kind, id, ErrNotFound)
	}
	r, err := decodeRecord[T](seq, data)
	if err != nil {
		return zero, fmt.Errorf("%s %q: the stored event is not readable: %w", kind, id, err)
	}
	if got := recordID(&r); got != id {
		// Verification holds every event's payload to its subject, so only
		// an index altered behind the store's back hands over another
		// record's event: refuse it rather than take one record for another.
		return zero, fmt.Errorf("%s %q: event %d, read as its last, is about %s %q: the ledger's index of events by "+
			"subject was altered; run governed verify", kind, id, seq, kind, got)
	}
	return r, nil
}

// recordRows is the result of a query of (id, seq, payload) rows, as each
// store reads it (sqliteRecordRows, pgRecordRows).
type recordRows interface {
	Next() bool
	// scanRecord reads the current row's id and seq into id and seq and
	// returns its payload, nil for NULL, valid until the next call of Next.
	scanRecord(id *string, seq *int64) ([]byte, error)
}

// scanRecords is eachRecord into a slice.
func scanRecords[T record](rows recordRows, kind string, keep func(T) bool) ([]T, error) {
	out := []T{}
	err := eachRecord(rows, kind, keep, func(r T) error { out = append(out, r); return nil })
	if own, ok := callbackError(err); ok {
		return nil, own
	}
	return out, err
}

// eachRecord decodes the (id, seq, payload) rows of a query of a current-state
// table about records of kind, where the payload is that of the event seq
// (stateEventData), one by one, and calls fn for each that keep accepts (all
// of them when keep is nil). An error from fn ends the walk and is returned
// in an errStopRecords. The caller checks the rows' error at the end.
//
// What readers trust: a row's seq and filter columns are copied from the
// record's last event by the append, in the same transaction, and Verify
// checks every row against the events. Between two full verifications (a
// plan verifies only the rows that events since its checkpoint touched,
// VerifySince), a row edited behind governed's back is caught here only in
// part: a seq naming a missing event or another record's event is refused,
// and a filter column that lies cannot add a grant to a result, since keep
// checks the filter again against the payload; but a lie that hides a grant
// from a filter, or a seq naming an earlier event of the same record, goes
// unseen until `governed verify` reads every row.
func eachRecord[T record](rows recordRows, kind string, keep func(T) bool, fn func(T) error) error {
	return eachRow(rows, kind, func(id string, seq int64, data []byte) error {
		r, err := decodeRecord[T](seq, data)
		if err != nil {
			return fmt.Errorf("%s %q: its event %d is not readable: %w", kind, id, seq, err)
		}
		if err := checkRowSubject(kind, id, seq, recordID(&r)); err != nil {
			return err
		}
		if keep == nil || keep(r) {
			if err := fn(r); err != nil {
				return errStopRecords{err}
			}
		}
		return nil
	})
}

// eachListedGrant is eachRecord for grants with only their ListedFields
// decoded (decodeListedGrant), into one Grant that each call of fn reuses.
func eachListedGrant(rows recordRows, keep func(Grant) bool, fn func(*Grant) error) error {
	var g Grant
	return eachRow(rows, "grant", func(id string, seq int64, data []byte) error {
		if err := decodeListedGrant(seq, data, &g); err != nil {
			return fmt.Errorf("grant %q: its event %d is not readable: %w", id, seq, err)
		}
		if err := checkRowSubject("grant", id, seq, g.ID); err != nil {
			return err
		}
		if keep == nil || keep(g) {
			if err := fn(&g); err != nil {
				return errStopRecords{err}
			}
		}
		return nil
	})
}

// eachRow scans the (id, seq, payload) rows of a current-state query and
// calls fn with each; the payload is valid only until fn returns. A row whose
// event is missing is an error.
func eachRow(rows recordRows, kind string, fn func(id string, seq int64, data []byte) error) error {
	var id string
	var seq int64
	for rows.Next() {
		data, err := rows.scanRecord(&id, &seq)
		if err != nil {
			return err
		}
		if data == nil {
			return fmt.Errorf("the current state of %s %q names event %d, which is missing; run governed verify", kind, id, seq)
		}
		if err := fn(id, seq, data); err != nil {
			return err
		}
	}
	return nil
}

// checkRowSubject refuses a current-state row of id whose event seq is about
// the record got instead.
func checkRowSubject(kind, id string, seq int64, got string) error {
	if got != id {
		return fmt.Errorf("the current state of %s %q names event %d, which is about %q; run governed verify", kind, id, seq, got)
	}
	return nil
}

// errStopRecords carries an error of eachRecord's callback through a store's
// error handling, which must give it back as it is.
type errStopRecords struct{ err error }

func (e errStopRecords) Error() string { return e.err.Error() }
func (e errStopRecords) Unwrap() error { return e.err }

// callbackError returns the callback's own error when err carries one, and
// false otherwise.
func callbackError(err error) (error, bool) {
	var stop errStopRecords
	if errors.As(err, &stop) {
		return stop.err, true
	}
	return nil, false
}

// collectGrants is Grants in terms of EachGrant.
func collectGrants(ctx context.Context, each func(context.Context, GrantFilter, func(Grant) error) error, f GrantFilter) ([]Grant, error) {
	out := []Grant{}
	err := each(ctx, f, func(g Grant) error { out = append(out, g); return nil })
	if err != nil {
		return nil, err
	}
	return out, nil
}
