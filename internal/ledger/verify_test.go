package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func TestHashEventEncoding(t *testing.T) {
	t.Parallel()
	e := Event{Seq: 42, At: time.Date(2026, 3, 1, 10, 0, 0, 120000000, time.FixedZone("CET", 3600)),
		Type: EventGrantIssued, Subject: "grt_1", Data: []byte(`{"id":"grt_1"}`)}
	prev := strings.Repeat("ab", 32)

	// The documented encoding, written out independently.
	var buf []byte
	for _, f := range []string{"governed.ledger.v1", prev, "42", "2026-03-01T09:00:00.12Z", "grant.issued", "grt_1", `{"id":"grt_1"}`} {
		buf = binary.BigEndian.AppendUint64(buf, uint64(len(f)))
		buf = append(buf, f...)
	}
	sum := sha256.Sum256(buf)
	if got, want := HashEvent(prev, e), hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("HashEvent = %s, want %s", got, want)
	}
	// Pinned, so that a change to the encoding cannot pass unnoticed: it would
	// break every existing ledger.
	if got := HashEvent(prev, e); got != "8de2c09b435516f48424719224520f90c6300ce103d41a74b0e878602fd5a9da" {
		t.Errorf("the pinned hash changed to %s", got)
	}

	// The same instant in another zone hashes the same; PrevHash and Hash of the
	// event itself are ignored.
	same := e
	same.At = e.At.UTC()
	same.PrevHash, same.Hash = "x", "y"
	if HashEvent(prev, same) != HashEvent(prev, e) {
		t.Error("the hash depends on the time zone or on the event's own hash fields")
	}
	// Moving bytes between adjacent fields changes the hash.
	a, b := e, e
	a.Type, a.Subject = "grant.issuedgrt", "_1"
	b.Type, b.Subject = "grant.issued", "grt_1"
	if HashEvent(prev, a) == HashEvent(prev, b) {
		t.Error("field boundaries are ambiguous")
	}
	for name, change := range map[string]func(*Event){
		"seq":     func(e *Event) { e.Seq++ },
		"at":      func(e *Event) { e.At = e.At.Add(time.Nanosecond) },
		"type":    func(e *Event) { e.Type = EventGrantRevoked },
		"subject": func(e *Event) { e.Subject = "grt_2" },
		"data":    func(e *Event) { e.Data = []byte(`{"id":"grt_2"}`) },
	} {
		c := e
		change(&c)
		if HashEvent(prev, c) == HashEvent(prev, e) {
			t.Errorf("changing %s does not change the hash", name)
		}
	}
	if HashEvent(prev, e) == HashEvent("", e) {
		t.Error("the previous hash is not part of the hash")
	}
}

// chain builds n valid events in memory.
func chain(n int) []Event {
	events := make([]Event, n)
	prev := ""
	for i := range events {
		e := Event{Seq: int64(i + 1), At: t0.Add(time.Duration(i) * time.Second), Type: EventGrantIssued,
			Subject: fmt.Sprintf("grt_%d", i), Data: []byte(fmt.Sprintf(`{"id":"grt_%d"}`, i)), PrevHash: prev}
		e.Hash = HashEvent(prev, e)
		events[i], prev = e, e.Hash
	}
	return events
}

func TestVerifyChain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		tamper   func([]Event) []Event
		firstBad int64
		problem  string
	}{
		{"intact", func(e []Event) []Event { return e }, 0, ""},
		{"empty", func(e []Event) []Event { return nil }, 0, ""},
		{"data changed", func(e []Event) []Event { e[3].Data = []byte(`{}`); return e }, 4, "event 4 was altered"},
		{"hash recomputed after a change", func(e []Event) []Event {
			e[3].Data = []byte(`{}`)
			e[3].Hash = HashEvent(e[3].PrevHash, e[3])
			return e
		}, 5, "event 5 does not link"},
		{"deleted", func(e []Event) []Event { return append(e[:5:5], e[6:]...) }, 6, "event 6 is missing"},
		{"two deleted", func(e []Event) []Event { return append(e[:5:5], e[7:]...) }, 6, "events 6 to 7 are missing"},
		{"reordered", func(e []Event) []Event { e[2], e[3] = e[3], e[2]; return e }, 3, "event 3 is missing"},
		{"duplicated", func(e []Event) []Event { return append(e[:4:4], e[3:]...) }, 5, "event 4 is out of order"},
		{"renumbered after a deletion", func(e []Event) []Event {
			e = append(e[:5:5], e[6:]...)
			for i := 5; i < len(e); i++ {
				e[i].Seq--
			}
			return e
		}, 6, "event 6 does not link"},
		{"first event does not start the chain", func(e []Event) []Event { e[0].PrevHash = e[1].Hash; return e }, 1, "event 1 does not link"},
		{"starts at 2", func(e []Event) []Event { return e[1:] }, 1, "event 1 is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ok, firstBad, problem := verifyChain(tt.tamper(chain(10)))
			if ok != (tt.firstBad == 0) || firstBad != tt.firstBad || !strings.Contains(problem, tt.problem) {
				t.Fatalf("verifyChain = %v, %d, %q; want first bad %d, %q", ok, firstBad, problem, tt.firstBad, tt.problem)
			}
		})
	}
}

// A ledger.discontinuity event never lets a ledger verify: it is reported as
// the damage it records, at the sequence number where that damage was found,
// or as itself when its payload does not describe the log it follows.
func TestVerificationReportsDiscontinuities(t *testing.T) {
	t.Parallel()
	g := testGrant("grt_1")
	g.Status = StatusActive
	data, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	first := Event{Seq: 1, At: t0, Type: EventGrantIssued, Subject: "grt_1", Data: data}
	first.Hash = HashEvent("", first)
	last := Head{Seq: 1, Hash: first.Hash}
	cases := []struct {
		name     string
		data     string
		firstBad int64
		problem  string
	}{
		{"head moved on", fmt.Sprintf(`{"recorded_head":{"seq":5,"hash":%q},"last_event":{"seq":1,"hash":%q}}`, last.Hash, last.Hash),
			2, "the log ends at event 1 but the recorded head is event 5: events 2 to 5 were removed (found at 2026-"},
		{"head missing", fmt.Sprintf(`{"recorded_head":null,"last_event":{"seq":1,"hash":%q}}`, last.Hash),
			1, "the recorded head is missing (found at"},
		{"claims another last event", fmt.Sprintf(`{"recorded_head":null,"last_event":{"seq":7,"hash":%q}}`, last.Hash),
			2, "event 2 records a discontinuity after event 7, but it follows event 1"},
		{"unreadable", `{"recorded_head":`, 2, "event 2 records a discontinuity that cannot be read"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := Event{Seq: 2, At: t0.Add(time.Hour), Type: EventLedgerDiscontinuity, Subject: DiscontinuitySubject,
				Data: []byte(tc.data), PrevHash: first.Hash}
			d.Hash = HashEvent(d.PrevHash, d)
			v := newVerification()
			for _, e := range []Event{first, d} {
				if !v.event(e.Seq, []byte(formatAt(e.At)), []byte(e.Type), []byte(e.Subject), e.Data, []byte(e.PrevHash), []byte(e.Hash), eventOrigin(e)) {
					break
				}
			}
			v.head(&Head{Seq: 2, Hash: d.Hash})
			r := v.report(Head{Seq: 2, Hash: d.Hash})
			if r.OK || r.FirstBad != tc.firstBad || !strings.Contains(r.Problem, tc.problem) {
				t.Fatalf("report = %+v; want %d: %s", r, tc.firstBad, tc.problem)
			}
		})
	}
}

// The subject index finds every subject it recorded, by its exact id, through
// the table's growth, and no id it did not record: ids that are prefixes of
// one another, differ in one byte, are empty or longer than a block.
func TestSubjectIndex(t *testing.T) {
	t.Parallel()
	v := newVerification() // sized for no subjects: the table grows
	x := &v.subjects[kindGrant]
	ids := []string{"", "g", "grt_1", "grt_10", "grt_1\x00", strings.Repeat("x", 2*idBlock), strings.Repeat("y", idBlock/16+1)}
	for i := range 5000 {
		ids = append(ids, fmt.Sprintf("grt_%020d", i))
	}
	for n, id := range ids {
		i, isNew, prev := x.record([]byte(id), int64(n+1), uint64(n), int64(n))
		if i != n || !isNew || prev != 0 {
			t.Fatalf("record(%.30q) = %d, %v, %d; want %d, new, 0", id, i, isNew, prev, n)
		}
	}
	for n, id := range ids {
		if i, ok := x.find([]byte(id)); !ok || i != n || x.last[i].id != id {
			t.Fatalf("find(%.30q) = %d, %v; want %d", id, i, ok, n)
		}
		i, isNew, prev := x.record([]byte(id), int64(len(ids)+n+1), 0, 0)
		if i != n || isNew || prev != int64(n+1) || x.last[i].seq != int64(len(ids)+n+1) {
			t.Fatalf("second record(%.30q) = %d, %v, %d; want %d, not new, %d", id, i, isNew, prev, n, n+1)
		}
	}
	for _, id := range []string{"grt_", "grt_2", "grt_1\x00\x00", "grt_000000000000000000000", strings.Repeat("x", 2*idBlock-1), "G"} {
		if i, ok := x.find([]byte(id)); ok {
			t.Fatalf("find(%.30q) = %d; want unknown", id, i)
		}
	}
	if len(x.last) != len(ids) {
		t.Fatalf("%d subjects recorded, want %d", len(x.last), len(ids))
	}
}

// A whole verification sets the collector's target only while it runs, for
// the size of its index, and never raises one the process set lower.
func TestVerificationRestoresGCPercent(t *testing.T) {
	// Not parallel: the target is the process's.
	const grants = 1000
	for _, before := range []int{100, 150, 80, 30, -1} {
		debug.SetGCPercent(before)
		computed := verifyGCPercent(liveHeap(), grants, 0)
		restore := verifyGC(grants, 0)
		during := gcPercent()
		restoreInner := verifyGC(10*grants, 0)
		restoreInner()
		still := gcPercent()
		restore()
		after := debug.SetGCPercent(100)
		want := computed
		if before < 100 && before < computed {
			want = before
		}
		if during != want || still != want || after != before {
			t.Errorf("GC percent %d: %d during, %d after a nested verification, %d after; want %d, %d, %d",
				before, during, still, after, want, want, before)
		}
	}
}

// The target lets a small index's heap grow to the goal, and a large one's by
// half of it.
func TestVerifyGCPercent(t *testing.T) {
	for _, tc := range []struct {
		base              uint64
		grants, approvals int
		want              int
	}{
		{base: 10 << 20, want: 380},                    // 10 MiB of live heap may grow by 38 MiB
		{base: 10 << 20, grants: 50_000, want: 187},    // about 16.7 MiB live
		{base: 1 << 20, grants: 50_000, want: 525},     // about 7.7 MiB
		{base: 10 << 20, grants: 334_000, want: 50},    // about 54.6 MiB: the floor
		{base: 10 << 20, approvals: 100_000, want: 50}, // about 40.5 MiB: the floor
		{base: 0, grants: 0, approvals: 0, want: 50},   // nothing known: the floor
		{base: 100 << 20, grants: 10, want: verifyGCFloor},
	} {
		if got := verifyGCPercent(tc.base, tc.grants, tc.approvals); got != tc.want {
			t.Errorf("verifyGCPercent(%d MiB, %d grants, %d approvals) = %d, want %d",
				tc.base>>20, tc.grants, tc.approvals, got, tc.want)
		}
	}
}

// gcPercent reads the collector's target.
func gcPercent() int {
	p := debug.SetGCPercent(0)
	debug.SetGCPercent(p)
	return p
}
