package ledger

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// The walk runs the chain's checks and the others on two goroutines; its
// outcome must be that of event called for each event in turn, which stops at
// the first broken link or recorded discontinuity. Each case breaks a chain of
// more events than a batch holds in a few of these ways, at random places:
// an edited payload (the chain breaks), a field holding the separator, a life
// no grant has (meaning, correctly chained), a second ledger.identified event
// and a discontinuity (both correctly chained), an event stored under an
// earlier sequence number whose life is also wrong (the chain breaks there,
// so its meaning must not be reported, though its number is lower), and
// compares the reports.
func TestWalkIsSequential(t *testing.T) {
	t.Parallel()
	const n = 3*walkBatchSize + 17
	ways := []string{"edit", "separator", "meaning", "identified", "discontinuity", "reordered"}
	for c := range 400 {
		rng := rand.New(rand.NewPCG(uint64(c), 7))
		breaks := map[int64]string{}
		for range 1 + rng.IntN(3) {
			breaks[1+rng.Int64N(n)] = ways[rng.IntN(len(ways))]
		}
		events := brokenChain(t, n, breaks)

		seq := newVerification()
		for _, e := range events {
			if !seq.joinedEvent(e.seq, e.fields) {
				break
			}
		}
		par := newVerification()
		par.seed = seq.seed // the same digests, though nothing here compares them
		err := par.walk(func(f *walkFeed) error {
			for _, e := range events {
				if !f.event(e.seq, e.fields) {
					break
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want, got := seq.report(Head{}), par.report(Head{})
		if got != want || par.chain.Head() != seq.chain.Head() && !seq.failed {
			t.Fatalf("case %d, breaks %v: the walk reports %+v, one event at a time %+v", c, breaks, got, want)
		}
		if want.OK {
			t.Fatalf("case %d, breaks %v: nothing found", c, breaks)
		}
	}
}

// brokenChain is a chain of n events about grants (each issued, then
// revoked), broken at the given sequence numbers in the given ways.
func brokenChain(t *testing.T, n int64, breaks map[int64]string) []walkEvent {
	t.Helper()
	var out []walkEvent
	prev := ""
	for s := int64(1); s <= n; s++ {
		e, _, err := fixtureEvent(s, prev)
		if err != nil {
			t.Fatal(err)
		}
		way := breaks[s]
		switch way {
		case "meaning", "reordered":
			e.Type = EventGrantExpired // after its issue or its revocation: no life goes so
		case "identified":
			e.Type, e.Subject, e.Data = EventLedgerIdentified, LedgerSubject, []byte(`{"ledger_id":"0123"}`)
		case "discontinuity":
			e.Type, e.Subject = EventLedgerDiscontinuity, DiscontinuitySubject
			e.Data = fmt.Appendf(nil, `{"recorded_head":null,"last_event":{"seq":%d,"hash":%q}}`, s-1, prev)
		}
		e.PrevHash = prev
		e.Hash = HashEvent(prev, e)
		prev = e.Hash
		switch way {
		case "edit":
			e.Data = bytes.Replace(e.Data, []byte("svc-"), []byte("evil"), 1)
		case "separator":
			e.Subject += "\x1f"
		}
		fields := bytes.Join([][]byte{[]byte(formatAt(e.At)), []byte(e.Type), []byte(e.Subject), []byte(e.PrevHash),
			[]byte(e.Hash), nil, nil, nil, e.Data}, []byte{walkSeparator})
		stored := s
		if way == "reordered" {
			stored = max(1, s-5)
		}
		out = append(out, walkEvent{seq: stored, fields: fields})
	}
	return out
}
