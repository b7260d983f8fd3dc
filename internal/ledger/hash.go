package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
	"time"
)

// hashDomain opens every hashed encoding, so that a ledger hash can never be
// confused with a SHA-256 computed over some other structure.
const hashDomain = "governed.ledger.v1"

// domainField is hashDomain as the first length-prefixed field.
var domainField = append(binary.BigEndian.AppendUint64(nil, uint64(len(hashDomain))), hashDomain...)

// HashEvent returns the hex SHA-256 that chains e to the event before it.
//
// The hashed input is a sequence of fields, each written as its length in bytes
// (8 bytes, big-endian) followed by the bytes themselves:
//
//	"governed.ledger.v1", prevHash (hex, "" for the first event),
//	Seq (decimal), At (UTC, RFC 3339 with nanoseconds, trailing zeros trimmed),
//	Type, Subject, Data
//
// followed, for events that record who appended them and when (every event
// appended since the ledger kept it), by three more fields:
//
//	RecordedAt (as At), Actor, RunID
//
// Events recorded before have none of the three and hash as they always did.
// Length prefixes make the encoding unambiguous: no two different events encode
// to the same bytes. PrevHash and Hash of e are ignored.
func HashEvent(prevHash string, e Event) string {
	var enc hashEncoder
	enc.init()
	var at, recordedAt [64]byte
	var rec []byte
	if !e.RecordedAt.IsZero() {
		rec = e.RecordedAt.UTC().AppendFormat(recordedAt[:0], time.RFC3339Nano)
	}
	sum := enc.sum(
		[]byte(prevHash),
		e.Seq,
		e.At.UTC().AppendFormat(at[:0], time.RFC3339Nano),
		[]byte(e.Type),
		[]byte(e.Subject),
		e.Data,
		originFields{rec, []byte(e.Actor), []byte(e.RunID)},
	)
	return hex.EncodeToString(sum)
}

// formatAt is the stored and hashed text of an event's time.
func formatAt(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// hashEncoder computes event hashes with a reusable hasher and scratch space, so
// that verifying a long chain does not allocate per event.
type hashEncoder struct {
	h   hash.Hash
	buf [sha256.Size]byte
	num [24]byte
	len [8]byte
}

func (enc *hashEncoder) init() {
	if enc.h == nil {
		enc.h = sha256.New()
	}
}

func (enc *hashEncoder) field(b []byte) {
	binary.BigEndian.PutUint64(enc.len[:], uint64(len(b)))
	enc.h.Write(enc.len[:])
	enc.h.Write(b)
}

// originFields are the stored text of an event's recording time, actor and
// run id; all empty in events recorded before they were kept.
type originFields struct{ recordedAt, actor, runID []byte }

func (o originFields) empty() bool { return len(o.recordedAt)+len(o.actor)+len(o.runID) == 0 }

// sum returns the raw SHA-256 of the encoded event. The result aliases the
// encoder's buffer and is valid until the next call.
func (enc *hashEncoder) sum(prevHash []byte, seq int64, at, typ, subject, data []byte, origin originFields) []byte {
	enc.h.Reset()
	enc.h.Write(domainField)
	enc.field(prevHash)
	enc.field(strconv.AppendInt(enc.num[:0], seq, 10))
	enc.field(at)
	enc.field(typ)
	enc.field(subject)
	enc.field(data)
	if !origin.empty() {
		enc.field(origin.recordedAt)
		enc.field(origin.actor)
		enc.field(origin.runID)
	}
	return enc.h.Sum(enc.buf[:0])
}

// ChainVerifier checks events one at a time, in sequence order: sequence
// numbers must run 1, 2, 3, … without gaps, each PrevHash must be the Hash of
// the event before, and each Hash must recompute. It stops at the first fault.
// The zero value is not usable; call NewChainVerifier.
type ChainVerifier struct {
	enc      hashEncoder
	next     int64 // the sequence number the next event must carry
	prev     [2 * sha256.Size]byte
	prevLen  int
	hexSum   [2 * sha256.Size]byte
	firstBad int64
	problem  string
}

// NewChainVerifier returns a verifier expecting the first event of a chain.
func NewChainVerifier() *ChainVerifier {
	v := &ChainVerifier{next: 1}
	v.enc.init()
	return v
}

// addRaw checks the next event, given as the stored text of its fields, and
// reports whether the chain is still intact.
func (v *ChainVerifier) addRaw(seq int64, at, typ, subject, data, prevHash, hash []byte, origin originFields) bool {
	if v.firstBad != 0 {
		return false
	}
	switch {
	case seq > v.next:
		if v.next == seq-1 {
			return v.fail(v.next, fmt.Sprintf("event %d is missing (the next stored event is %d)", v.next, seq))
		}
		return v.fail(v.next, fmt.Sprintf("events %d to %d are missing (the next stored event is %d)", v.next, seq-1, seq))
	case seq < v.next:
		return v.fail(v.next, fmt.Sprintf("event %d is out of order (expected %d)", seq, v.next))
	}
	if !bytes.Equal(prevHash, v.prev[:v.prevLen]) {
		return v.fail(seq, fmt.Sprintf("event %d does not link to the event before it (its previous hash is %.16s…, expected %.16s…)",
			seq, prevHash, v.prev[:v.prevLen]))
	}
	sum := v.enc.sum(prevHash, seq, at, typ, subject, data, origin)
	hex.Encode(v.hexSum[:], sum)
	if !bytes.Equal(hash, v.hexSum[:]) {
		return v.fail(seq, fmt.Sprintf("event %d was altered (its content does not match its hash)", seq))
	}
	v.prev = v.hexSum
	v.prevLen = len(v.hexSum)
	v.next++
	return true
}

func (v *ChainVerifier) fail(seq int64, problem string) bool {
	v.firstBad = seq
	v.problem = problem
	return false
}

// Result reports whether every event added so far is intact and, if not, the
// first bad sequence number and what is wrong with it.
func (v *ChainVerifier) Result() (ok bool, firstBad int64, problem string) {
	return v.firstBad == 0, v.firstBad, v.problem
}

// Head returns the last intact event's sequence number and hash ({0, ""} before
// the first).
func (v *ChainVerifier) Head() Head {
	return Head{Seq: v.next - 1, Hash: string(v.prev[:v.prevLen])}
}
