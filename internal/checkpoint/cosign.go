package checkpoint

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
)

// Witness cosignatures are timestamped: a witness signs in the C2SP
// tlog-cosignature format (cosignature/v1, https://c2sp.org/tlog-cosignature),
// whose signature line carries the Unix time, in seconds, at which the
// witness saw the checkpoint, and signs that time with the checkpoint:
//
//	cosignature/v1
//	time <seconds>
//	<the checkpoint's text>
//
// The line is "— <name> <base64(key hash || time || signature)>": the key
// hash is the first four bytes of SHA-256(name || "\n" || 0x04 || public
// key), 0x04 being cosignature/v1's Ed25519 signature type, the time eight
// bytes big-endian, and the signature Ed25519 over the message above. A
// witness keeps its ordinary Ed25519 key pair (GenerateKey): the same key
// makes and checks both kinds of line. Cosignatures made before they were
// timestamped, plain signed-note lines over the checkpoint's text, still
// count as cosignatures; they anchor no time.

// cosigV1Alg is cosignature/v1's Ed25519 signature type.
const cosigV1Alg = 0x04

// Key is a verifier key as ParseVerifierKey and VerifierOf read it: the
// plain signed-note verifier, for the log's signature and a witness's
// cosignatures made before they were timestamped, and the cosignature/v1
// verifier of the same Ed25519 key.
type Key struct {
	note.Verifier
	// timed checks cosignature/v1 lines by the same key; nil for a key
	// that cannot make them.
	timed note.Verifier
}

// newKey reads the verifier key text vkey (NAME+HASH+KEY).
func newKey(vkey string) (*Key, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, err
	}
	k := &Key{Verifier: v}
	if t, err := fnote.NewVerifierForCosignatureV1(vkey); err == nil {
		k.timed = t
	}
	return k, nil
}

// verifiers are the verifiers of v: both of a Key's, else v alone.
func verifiers(v note.Verifier) note.Verifiers {
	if k, ok := v.(*Key); ok && k.timed != nil {
		return note.VerifierList(k.Verifier, k.timed)
	}
	return note.VerifierList(v)
}

// cosignerV1 makes cosignature/v1 signatures with an Ed25519 key at the
// time its clock says.
type cosignerV1 struct {
	name string
	hash uint32
	key  ed25519.PrivateKey
	now  func() time.Time
}

func (s *cosignerV1) Name() string    { return s.name }
func (s *cosignerV1) KeyHash() uint32 { return s.hash }

// Sign signs msg, a note's text, as cosignature/v1 lays the message out,
// and returns the time followed by the signature.
func (s *cosignerV1) Sign(msg []byte) ([]byte, error) {
	if strings.Count(string(msg), "\n") < 3 {
		return nil, errors.New("a cosigned checkpoint has at least three lines")
	}
	t := s.now().Unix()
	if t < 0 {
		return nil, errors.New("the witness's clock is before 1970")
	}
	m := fmt.Appendf(nil, "cosignature/v1\ntime %d\n%s", t, msg)
	sig := binary.BigEndian.AppendUint64(make([]byte, 0, 8+ed25519.SignatureSize), uint64(t))
	return append(sig, ed25519.Sign(s.key, m)...), nil
}

// newCosignerV1 reads an Ed25519 signer key (PRIVATE+KEY+NAME+HASH+KEY, as
// GenerateKey writes it) as a cosignature/v1 signer dated by now.
func newCosignerV1(signerKey string, now func() time.Time) (*cosignerV1, error) {
	s, priv, err := parseSignerKey(signerKey)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write([]byte(s.Name() + "\n"))
	h.Write([]byte{cosigV1Alg})
	h.Write(priv[ed25519.SeedSize:]) // the private key is the seed, then the public key
	return &cosignerV1{name: s.Name(), hash: binary.BigEndian.Uint32(h.Sum(nil)), key: priv, now: now}, nil
}

// Anchors are the time anchors of a checkpoint of size c.Size: one for each
// witness whose timestamped cosignature verifies.
func (r Witnessed) Anchors(c Checkpoint) []ledger.TimeAnchor {
	var out []ledger.TimeAnchor
	for _, name := range r.Cosigned {
		if t, ok := r.Times[name]; ok {
			out = append(out, ledger.TimeAnchor{Size: c.Size, Time: t, Witness: name})
		}
	}
	return out
}

// cosignedAt returns the time of the timestamped cosignature by k on msg,
// and whether it carries one that verifies. invalid is true when it carries
// one by k that does not verify.
func cosignedAt(msg []byte, k note.Verifier) (t time.Time, ok, invalid bool) {
	key, isKey := k.(*Key)
	if !isKey || key.timed == nil {
		return time.Time{}, false, false
	}
	n, err := note.Open(msg, note.VerifierList(key.timed))
	var bad *note.InvalidSignatureError
	if errors.As(err, &bad) {
		return time.Time{}, false, true
	}
	if err != nil {
		return time.Time{}, false, false
	}
	for _, s := range n.Sigs {
		if s.Name == key.timed.Name() && s.Hash == key.timed.KeyHash() {
			if t, err := fnote.CoSigV1Timestamp(s); err == nil {
				return t.UTC(), true, false
			}
		}
	}
	return time.Time{}, false, false
}
