package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger/internal/timebounds"
)

// Bounds on an event's times (SPEC §6 "Anchoring"). Every event carries two:
// At, the instant the run decided by (one per run, read when the provider
// is configured or the command starts), and RecordedAt, when the store wrote
// it: the database's clock on PostgreSQL, the appending host's clock on
// SQLite. The appender chooses At; the store, not the appender, sets
// RecordedAt on PostgreSQL, and a witness's timestamped cosignature bounds it
// on both stores (CheckTimeAnchor). Verification holds At to RecordedAt with
// these two bounds, so that an event's decision instant cannot be moved far
// from when it was recorded.
const (
	// MaxClockSkew is how far the clocks of the hosts that decide (the
	// pipeline's runners), record (the database server, or the runner
	// itself for SQLite) and cosign (the witnesses) may disagree: an event
	// may be decided up to this long after it was recorded. Hosts kept by
	// NTP are within a second of each other; five minutes leaves room for a
	// runner that has drifted without letting an event be dated a run later.
	MaxClockSkew = 5 * time.Minute
	// MaxRunLength is how long before it was recorded an event may have
	// been decided: the longest a run lasts from its decision instant (the
	// provider's configure) to its last append. CI systems end their jobs
	// well within it (GitHub-hosted runners after 6 hours, GitLab after 1
	// hour by default); an apply that waits for a slow target still records
	// within a day.
	MaxRunLength = 24 * time.Hour
)

// timeline checks the times of the events of a walk, in sequence order:
// recording times never go backwards, an event without one never follows
// one with one, and each decision instant is within MaxClockSkew after and
// MaxRunLength before its recording time. It keeps the first problem.
type timeline struct {
	bounded bool
	// last is the recording time of the last event that has one, in Unix
	// nanoseconds, and lastSeq its sequence number (0 before one).
	last    int64
	lastSeq int64
	lastRec []byte
	// firstBad and problem are the first problem found.
	firstBad int64
	problem  string
}

// boundedKey marks a context whose verifications bound decision instants
// even in a test binary that turned the bounds off
// (ledgertest.UnboundDecisionTimes; tests of the bounds).
type boundedKey struct{}

func newTimeline(ctx context.Context) timeline {
	return timeline{bounded: !timebounds.Unbounded.Load() || ctx.Value(boundedKey{}) != nil}
}

func (tl *timeline) fail(seq int64, format string, args ...any) {
	if tl.firstBad == 0 {
		tl.firstBad, tl.problem = seq, fmt.Sprintf("event %d ", seq)+fmt.Sprintf(format, args...)
	}
}

// from sets the event verification starts after (VerifySince): seq and
// its stored recording time, "" when it has none.
func (tl *timeline) from(seq int64, recordedAt string) {
	if recordedAt == "" {
		return
	}
	if ns, ok := parseUTC([]byte(recordedAt)); ok {
		tl.last, tl.lastSeq, tl.lastRec = ns, seq, []byte(recordedAt)
	}
}

// event checks the stored times of the next event.
func (tl *timeline) event(seq int64, at, recordedAt []byte) {
	if tl.firstBad != 0 {
		return
	}
	if len(recordedAt) == 0 {
		if tl.lastSeq != 0 {
			tl.fail(seq, "records no recording time, and event %d before it does: every event since records one", tl.lastSeq)
		}
		return
	}
	rec, ok := parseUTC(recordedAt)
	if !ok {
		tl.fail(seq, "has a recording time that is not an RFC 3339 time in UTC: %q", recordedAt)
		return
	}
	if tl.lastSeq != 0 && rec < tl.last {
		tl.fail(seq, "was recorded at %s, before event %d (recorded at %s): recording times never go backwards, "+
			"so it was recorded with a clock set back or its time was forged", recordedAt, tl.lastSeq, tl.lastRec)
		return
	}
	tl.last, tl.lastSeq = rec, seq
	tl.lastRec = append(tl.lastRec[:0], recordedAt...)
	if !tl.bounded {
		return
	}
	decided, ok := parseUTC(at)
	if !ok {
		return // the checks of meaning report a time that cannot be read
	}
	switch {
	case decided > rec+int64(MaxClockSkew):
		tl.fail(seq, "was decided at %s, after it was recorded at %s by more than the %s clocks may differ",
			at, recordedAt, MaxClockSkew)
	case decided < rec-int64(MaxRunLength):
		tl.fail(seq, "was decided at %s, more than %s (the longest a run lasts) before it was recorded at %s: "+
			"its decision instant was backdated", at, MaxRunLength, recordedAt)
	}
}

// parseUTC reads a time as formatAt writes it (RFC 3339 in UTC, with up to
// nine fraction digits) into Unix nanoseconds, without allocating; any other
// form goes through time.Parse.
func parseUTC(b []byte) (int64, bool) {
	if ns, ok := parseUTCFast(b); ok {
		return ns, true
	}
	return parseSlow(b)
}

// parseUTCFast is parseUTC for the form formatAt writes only: false for any
// other, valid or not.
func parseUTCFast(b []byte) (int64, bool) {
	n := len(b)
	if n < 20 || b[n-1] != 'Z' || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	num := func(i, w int) (int, bool) {
		v := 0
		for _, c := range b[i : i+w] {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 2)
	day, ok3 := num(8, 2)
	hour, ok4 := num(11, 2)
	minute, ok5 := num(14, 2)
	sec, ok6 := num(17, 2)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || month < 1 || month > 12 || day < 1 || day > 31 ||
		hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	frac := int64(0)
	if n > 20 {
		digits := b[19 : n-1]
		if len(digits) < 2 || len(digits) > 10 || digits[0] != '.' {
			return 0, false
		}
		scale := int64(1e9)
		for _, c := range digits[1:] {
			if c < '0' || c > '9' {
				return 0, false
			}
			scale /= 10
			frac += int64(c-'0') * scale
		}
	}
	if day > 28 {
		length := [...]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[month-1]
		if month == 2 && year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			length = 29
		}
		if day > length {
			return 0, false
		}
	}
	days := daysFromCivil(year, month, day)
	return (days*86400+int64(hour*3600+minute*60+sec))*1e9 + frac, true
}

func parseSlow(b []byte) (int64, bool) {
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return 0, false
	}
	return t.UnixNano(), true
}

// daysFromCivil is the number of days from 1970-01-01 to a date of the
// proleptic Gregorian calendar (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// lastEventQuery reads the sequence number, hash and recording time of the
// last event of the log.
const lastEventQuery = `SELECT seq, hash, recorded_at FROM events ORDER BY seq DESC LIMIT 1`

// recordedAtQuery reads the recording time of the event at a sequence
// number.
func recordedAtQuery(d dialect) string {
	return `SELECT recorded_at FROM events WHERE seq = ` + d.param(1)
}

// later is the later of a recording time read from the clock and the one of
// the event before (its stored text, "" when it has none), so that the
// recording times along the chain never go backwards even where the hosts
// that append disagree on the time.
func later(now time.Time, prev string) time.Time {
	if prev == "" {
		return now
	}
	if p, err := time.Parse(time.RFC3339Nano, prev); err == nil && p.After(now) {
		return p.UTC()
	}
	return now
}

// TimeAnchor is an outside witness of when the ledger held an event: a
// witness's timestamped cosignature of a checkpoint says that at Time (Unix
// seconds, as cosignature/v1 carries it) the ledger's head was at Size.
type TimeAnchor struct {
	// Size is the checkpoint's size: the sequence number of its head event.
	Size int64
	// Time is when the witness cosigned it.
	Time time.Time
	// Witness names the witness, for messages.
	Witness string
}

// CheckTimeAnchor checks the recording times of the ledger against a time
// anchor: the last event at or before the anchor's size that records a
// recording time must have been recorded no later than the anchor's time,
// and the first one after it no earlier, each with MaxClockSkew to spare
// for the witness's and the recorder's clocks. Verification checks that
// recording times never go backwards, so these two events bound all the
// others. It returns the sequence number at fault and what is wrong, or 0
// and "" when the ledger keeps to the anchor; the error is for failures to
// read the ledger.
func (l *Ledger) CheckTimeAnchor(ctx context.Context, a TimeAnchor) (int64, string, error) {
	tr, ok := l.s.(timeReader)
	if !ok {
		return 0, "", nil
	}
	when := a.Time.UTC().Format(time.RFC3339)
	seq, rec, found, err := tr.recordedAround(ctx, a.Size, false)
	if err != nil {
		return 0, "", err
	}
	if found && rec.After(a.Time.Add(MaxClockSkew)) {
		return seq, fmt.Sprintf("event %d is recorded at %s, after witness %s cosigned the ledger at size %d at %s: "+
			"its recording time was forged", seq, rec.Format(time.RFC3339Nano), a.Witness, a.Size, when), nil
	}
	seq, rec, found, err = tr.recordedAround(ctx, a.Size, true)
	if err != nil {
		return 0, "", err
	}
	if found && rec.Before(a.Time.Add(-MaxClockSkew)) {
		return seq, fmt.Sprintf("event %d is recorded at %s, before witness %s cosigned the ledger at size %d at %s, "+
			"when it did not hold it: it was appended later and backdated", seq, rec.Format(time.RFC3339Nano), a.Witness, a.Size, when), nil
	}
	return 0, "", nil
}

// timeReader reads recording times around a sequence number: the last
// event at or before it that records one (after false), or the first one
// after it (after true).
type timeReader interface {
	recordedAround(ctx context.Context, seq int64, after bool) (at int64, recorded time.Time, found bool, err error)
}

// recordedAroundQuery is the query of timeReader.recordedAround.
func recordedAroundQuery(d dialect, after bool) string {
	if after {
		return `SELECT seq, recorded_at FROM events WHERE seq > ` + d.param(1) + ` AND recorded_at <> '' ORDER BY seq LIMIT 1`
	}
	return `SELECT seq, recorded_at FROM events WHERE seq <= ` + d.param(1) + ` AND recorded_at <> '' ORDER BY seq DESC LIMIT 1`
}

// scanRecordedAround runs recordedAroundQuery in q.
func scanRecordedAround(ctx context.Context, q func(ctx context.Context, query string, args []any, dest ...any) (bool, error),
	d dialect, seq int64, after bool) (int64, time.Time, bool, error) {
	var at int64
	var text string
	found, err := q(ctx, recordedAroundQuery(d, after), []any{seq}, &at, &text)
	if err != nil || !found {
		return 0, time.Time{}, false, err
	}
	t, err := time.Parse(time.RFC3339Nano, text)
	if err != nil {
		return at, time.Time{}, false, fmt.Errorf("event %d: recording time %q is not RFC 3339", at, text)
	}
	return at, t, true, nil
}

// StampsTime reports whether the ledger's store records each event by a
// clock of its own that the appender cannot set: PostgreSQL's, through the
// trigger events_recorded_now. A SQLite ledger's recording times come from
// the appending host's clock, which whoever appends controls.
func (l *Ledger) StampsTime() bool {
	_, ok := l.s.(*PostgresStore)
	return ok
}
