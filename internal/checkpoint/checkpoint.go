// Package checkpoint anchors a ledger outside its store: a checkpoint is a
// signed note (the C2SP signed-note format, Ed25519) that names a ledger's id,
// its size and the hash of its event at that size. A hash chain alone shows
// nothing to someone who can rewrite the store, nor a rollback to an older
// copy; a ledger that no longer extends a checkpoint signed earlier shows both.
//
// The text of a checkpoint is three lines:
//
//	governed ledger <id>
//	<size>
//	<hash>
//
// where <id> is the ledger's id (32 lowercase hex digits), <size> the
// sequence number of its head event in decimal (0 for an empty ledger), and
// <hash> the hex SHA-256 of that event as the chain records it (64 zeros for
// an empty ledger). The signatures follow after a blank line, as the
// signed-note format lays them out.
package checkpoint

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
)

// origin starts the first line of a checkpoint's text; the ledger's id follows.
const origin = "governed ledger "

// emptyHash stands for the head hash of a ledger without events.
const emptyHash = "0000000000000000000000000000000000000000000000000000000000000000"

var (
	idPattern   = regexp.MustCompile(`^[0-9a-f]{32}$`)
	hashPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Checkpoint is what a checkpoint says of a ledger.
type Checkpoint struct {
	// LedgerID is the id of the ledger it was signed for.
	LedgerID string
	// Size is the sequence number of the ledger's head event then.
	Size int64
	// Hash is the hash of that event (emptyHash when Size is 0).
	Hash string
}

// Text is the checkpoint's text, the part of the note that is signed.
func (c Checkpoint) Text() string {
	return fmt.Sprintf("%s%s\n%d\n%s\n", origin, c.LedgerID, c.Size, c.Hash)
}

// Parse reads a checkpoint's text.
func Parse(text string) (Checkpoint, error) {
	lines := strings.Split(text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		return Checkpoint{}, errors.New("a checkpoint's text is three lines: the ledger's id, its size and its head hash")
	}
	id, ok := strings.CutPrefix(lines[0], origin)
	if !ok || !idPattern.MatchString(id) {
		return Checkpoint{}, fmt.Errorf("the first line %q is not %q followed by a ledger id", lines[0], origin)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("the second line %q is not a size", lines[1])
	}
	if !hashPattern.MatchString(lines[2]) || (size == 0) != (lines[2] == emptyHash) {
		return Checkpoint{}, fmt.Errorf("the third line %q is not the head hash of a ledger of size %d", lines[2], size)
	}
	return Checkpoint{LedgerID: id, Size: size, Hash: lines[2]}, nil
}

// Of is the checkpoint of a ledger as it is now: its id and the head its
// store records.
func Of(ctx context.Context, l *ledger.Ledger) (Checkpoint, error) {
	id, err := l.ID(ctx)
	if err != nil {
		return Checkpoint{}, err
	}
	h, err := l.Head(ctx)
	if err != nil {
		return Checkpoint{}, err
	}
	c := Checkpoint{LedgerID: id, Size: h.Seq, Hash: h.Hash}
	if c.Size == 0 {
		c.Hash = emptyHash
	}
	return c, nil
}

// GenerateKey makes a key pair named name, in the signed-note key encodings:
// the signer key, which must stay secret, and the verifier key, which anyone
// may hold.
func GenerateKey(name string) (signer, verifier string, err error) {
	signer, verifier, err = note.GenerateKey(rand.Reader, name)
	if err == nil {
		// GenerateKey does not check the name; a signer made from the key does.
		_, err = note.NewSigner(signer)
	}
	if err != nil {
		return "", "", fmt.Errorf("key name %q: %w (use a name such as checkpoints.example.com, without spaces or '+')", name, err)
	}
	return signer, verifier, nil
}

// Sign signs c with the signer key and returns the signed note.
func Sign(c Checkpoint, signerKey string) ([]byte, error) {
	s, err := note.NewSigner(strings.TrimSpace(signerKey))
	if err != nil {
		return nil, fmt.Errorf("the signer key is not a signed-note signer key: %w", notSignerKey(signerKey, err))
	}
	return note.Sign(&note.Note{Text: c.Text()}, s)
}

// notSignerKey explains why key, which note.NewSigner refused with err, is
// not a signer key: a verifier key given in its place is named as such, with
// the file keygen writes the signer key to; anything else keeps err.
func notSignerKey(key string, err error) error {
	if _, verr := note.NewVerifier(strings.TrimSpace(key)); verr == nil {
		return errors.New("it holds a verifier key (NAME+HASH+KEY), which only checks signatures; give the signer " +
			"key (PRIVATE+KEY+NAME+HASH+KEY), the file governed checkpoint keygen wrote with --signer-key")
	}
	return err
}

// signerKeyGiven is the sentence for a signer key given where a verifier key
// belongs; it never repeats the key.
const signerKeyGiven = "holds a signer key (PRIVATE+KEY+...), which must stay secret where it signs; give the " +
	"verifier key (NAME+HASH+KEY), the file governed checkpoint keygen wrote with --verifier-key"

// ParseVerifierKey reads a verifier key given either as its text
// (NAME+HASH+KEY) or as the path of a file that holds it.
func ParseVerifierKey(value string) (note.Verifier, error) {
	value = strings.TrimSpace(value)
	if v, err := newKey(value); err == nil {
		return v, nil
	}
	if _, err := note.NewSigner(value); err == nil {
		return nil, errors.New("the value " + signerKeyGiven)
	}
	b, err := os.ReadFile(value)
	if err != nil {
		return nil, errors.New("it is neither a verifier key (NAME+HASH+KEY, as governed checkpoint keygen prints it) " +
			"nor a readable file that holds one")
	}
	v, err := newKey(strings.TrimSpace(string(b)))
	if err != nil {
		if _, serr := note.NewSigner(strings.TrimSpace(string(b))); serr == nil {
			return nil, fmt.Errorf("the file %s %s", value, signerKeyGiven)
		}
		return nil, fmt.Errorf("the file %s does not hold a verifier key (NAME+HASH+KEY): %w", value, err)
	}
	return v, nil
}

// Open checks a signed note's signature with the verifier key and returns
// the checkpoint it signs. A note without a valid signature by that key is
// an error that says so.
func Open(msg []byte, v note.Verifier) (Checkpoint, error) {
	// Only the log's own signature counts: a witness's cosignature/v1 line
	// signs another message, and is no signature by the log even where v is
	// the witness's key.
	plain := v
	if k, ok := v.(*Key); ok {
		plain = k.Verifier
	}
	n, err := note.Open(msg, note.VerifierList(plain))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &invalid):
			return Checkpoint{}, fmt.Errorf("its signature by key %s does not verify: the checkpoint was altered after "+
				"it was signed", v.Name())
		case errors.As(err, &unverified):
			if _, cosigned, _ := cosignedAt(msg, v); cosigned {
				return Checkpoint{}, fmt.Errorf("key %s only cosigned it as a witness: give the verifier key of the "+
					"log that signed the checkpoint (the apply job's), not a witness's", v.Name())
			}
			return Checkpoint{}, fmt.Errorf("its signature does not verify with key %s: it carries no "+
				"signature by that key (it was signed with another key, or not at all)", v.Name())
		}
		return Checkpoint{}, fmt.Errorf("it is not a signed note: %w", err)
	}
	c, err := Parse(n.Text)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("its signature verifies but its text is not a governed checkpoint: %w", err)
	}
	return c, nil
}

// Load reads the signed checkpoint at path and checks its signature with v.
func Load(path string, v note.Verifier) (Checkpoint, error) {
	msg, err := os.ReadFile(path)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("reading the checkpoint: %w", err)
	}
	c, err := Open(msg, v)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("the checkpoint %s is not valid: %w", path, err)
	}
	return c, nil
}

// Check reports whether the ledger extends c: it is the ledger c names, at
// least as long, and holds at c's size the event c records. It returns ""
// when it does, else a sentence that says what differs and where; the error
// is for failures to read the ledger.
func Check(ctx context.Context, l *ledger.Ledger, c Checkpoint) (string, error) {
	now, err := Of(ctx, l)
	if err != nil {
		return "", err
	}
	if now.LedgerID != c.LedgerID {
		return fmt.Sprintf("the checkpoint is of ledger %s, and this ledger's id is %s: it is another ledger, "+
			"not the one the checkpoint anchors", c.LedgerID, now.LedgerID), nil
	}
	if now.Size < c.Size {
		return fmt.Sprintf("the ledger's head is at sequence number %d, behind the checkpoint's size %d: it went "+
			"backwards (an older copy was restored, or events were cut off)", now.Size, c.Size), nil
	}
	if c.Size == 0 {
		return "", nil
	}
	hash, err := l.EventHash(ctx, c.Size)
	if errors.Is(err, ledger.ErrNotFound) {
		hash = "(no event)"
	} else if err != nil {
		return "", err
	}
	if hash != c.Hash {
		return fmt.Sprintf("at sequence number %d, the checkpoint's size, the ledger's event has hash %s where the "+
			"checkpoint records %s: the ledger was rewritten or forked at or before that event", c.Size, hash, c.Hash), nil
	}
	return "", nil
}

// A witness cosigns checkpoints: it adds its own signature line to a
// checkpoint the log signed, after checking that the ledger extends both
// that checkpoint and the last one it cosigned. A witness key is an ordinary
// signed-note Ed25519 key pair (GenerateKey), and its cosignature a
// timestamped cosignature/v1 line (see cosign.go).
// Whoever holds the log's signer key can sign a fork; a witness that refuses
// to cosign anything that does not extend what it cosigned before makes such
// a fork show as a checkpoint short of that witness's cosignature.

// Cosign checks the log's signature on the signed note msg with logKey and
// returns the note with a signature line by witnessKey (a signer key) added;
// the signature lines it already carries, the log's and other witnesses',
// are kept. It returns the checkpoint the note signs. The cosignature is
// timestamped (cosignature/v1) with the time now.
func Cosign(msg []byte, logKey note.Verifier, witnessKey string) ([]byte, Checkpoint, error) {
	return CosignAt(msg, logKey, witnessKey, time.Now())
}

// CosignAt is Cosign with the cosignature timestamped at, which is the time
// the witness says it saw the checkpoint: whole seconds, rounded down.
func CosignAt(msg []byte, logKey note.Verifier, witnessKey string, at time.Time) ([]byte, Checkpoint, error) {
	c, err := Open(msg, logKey)
	if err != nil {
		return nil, Checkpoint{}, err
	}
	plain, err := note.NewSigner(strings.TrimSpace(witnessKey))
	if err != nil {
		return nil, Checkpoint{}, fmt.Errorf("the witness key is not a signed-note signer key: %w", notSignerKey(witnessKey, err))
	}
	if plain.Name() == logKey.Name() && plain.KeyHash() == logKey.KeyHash() {
		return nil, Checkpoint{}, fmt.Errorf("the witness key is the log's own key %s: a witness cosigns with a key of its own", plain.Name())
	}
	s, err := newCosignerV1(witnessKey, func() time.Time { return at })
	if err != nil {
		return nil, Checkpoint{}, fmt.Errorf("the witness key: %w", err)
	}
	n, err := note.Open(msg, verifiers(logKey))
	if err != nil {
		return nil, Checkpoint{}, fmt.Errorf("it is not a signed note: %w", err)
	}
	out, err := note.Sign(n, s)
	if err != nil {
		return nil, Checkpoint{}, fmt.Errorf("cosigning the checkpoint: %w", err)
	}
	return out, c, nil
}

// parseSignerKey reads an Ed25519 signer key as GenerateKey writes it
// (PRIVATE+KEY+NAME+HASH+KEY): the signed-note signer and its private key.
func parseSignerKey(signerKey string) (note.Signer, ed25519.PrivateKey, error) {
	signerKey = strings.TrimSpace(signerKey)
	s, err := note.NewSigner(signerKey)
	if err != nil {
		return nil, nil, fmt.Errorf("it is not a signed-note signer key: %w", notSignerKey(signerKey, err))
	}
	// PRIVATE+KEY+NAME+HASH+KEY: the key's base64 may itself hold '+'.
	parts := strings.SplitN(signerKey, "+", 5)
	raw, err := base64.StdEncoding.DecodeString(parts[len(parts)-1])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return nil, nil, errors.New("it is not an Ed25519 signer key")
	}
	return s, ed25519.NewKeyFromSeed(raw[1:]), nil
}

// VerifierOf is the verifier key (NAME+HASH+KEY) that belongs to a signer
// key as GenerateKey makes it (PRIVATE+KEY+NAME+HASH+KEY, Ed25519), so that a
// witness can check its own cosignature on the checkpoint it cosigned last.
func VerifierOf(signerKey string) (note.Verifier, error) {
	s, priv, err := parseSignerKey(signerKey)
	if err != nil {
		return nil, err
	}
	pub := ed25519.PublicKey(priv[ed25519.SeedSize:]) // the private key is the seed, then the public key
	vkey, err := note.NewEd25519VerifierKey(s.Name(), pub)
	if err != nil {
		return nil, err
	}
	return newKey(vkey)
}

// Extends reports whether the checkpoint next may follow prev, the one a
// witness cosigned last, on the ledger l: the same ledger, a size not
// smaller, and at prev's size the event prev records. It returns "" when it
// may, else a sentence that says why not; the error is for failures to read
// the ledger. next itself is checked against l with Check.
func Extends(ctx context.Context, l *ledger.Ledger, prev, next Checkpoint) (string, error) {
	switch {
	case next.LedgerID != prev.LedgerID:
		return fmt.Sprintf("the checkpoint is of ledger %s and the one cosigned last of ledger %s: it is another "+
			"ledger", next.LedgerID, prev.LedgerID), nil
	case next.Size < prev.Size:
		return fmt.Sprintf("the checkpoint's size %d is smaller than %d, the size of the one cosigned last: the "+
			"ledger went backwards", next.Size, prev.Size), nil
	case next.Size == prev.Size && next.Hash != prev.Hash:
		return fmt.Sprintf("the checkpoint records hash %s at size %d, and the one cosigned last %s at the same "+
			"size: the ledger was forked", next.Hash, next.Size, prev.Hash), nil
	}
	problem, err := Check(ctx, l, prev)
	if err != nil || problem == "" {
		return "", err
	}
	return "the ledger does not extend the checkpoint cosigned last: " + problem, nil
}

// Witnesses is what a checkpoint must carry besides the log's signature:
// cosignatures by at least Threshold of Keys.
type Witnesses struct {
	Keys      []note.Verifier
	Threshold int
}

// CheckKeys reports witness keys that cannot count: one that is the log's
// own key, or one given twice.
func (w Witnesses) CheckKeys(logKey note.Verifier) error {
	seen := map[string]bool{}
	for _, k := range w.Keys {
		id := fmt.Sprintf("%s+%08x", k.Name(), k.KeyHash())
		if logKey != nil && k.Name() == logKey.Name() && k.KeyHash() == logKey.KeyHash() {
			return fmt.Errorf("the witness key %s is the checkpoint's own key: a witness cosigns with a key of its own", k.Name())
		}
		if seen[id] {
			return fmt.Errorf("the witness key %s is given twice: each witness counts once", k.Name())
		}
		seen[id] = true
	}
	if len(w.Keys) > 0 && (w.Threshold < 1 || w.Threshold > len(w.Keys)) {
		return fmt.Errorf("the number of witnesses required, %d, must be between 1 and the number of witness keys, %d",
			w.Threshold, len(w.Keys))
	}
	return nil
}

// Signer names a key that signed or cosigned a checkpoint as the signed-note
// format names keys (golang.org/x/mod/sumdb/note): its name and its key hash,
// the first four bytes of SHA-256 over the name, a newline, the signature
// type and the public key, which the verifier key's text shows as
// NAME+HASH+KEY with HASH in eight hex digits.
type Signer struct {
	Name    string
	KeyHash uint32
}

// SignerOf is the signer v verifies signatures of. For a witness key it is
// the key as its verifier key text names it, whichever kind of line the
// witness cosigned with.
func SignerOf(v note.Verifier) Signer {
	return Signer{Name: v.Name(), KeyHash: v.KeyHash()}
}

// Hash is the key hash in eight lowercase hex digits, as the verifier key's
// text writes it.
func (s Signer) Hash() string {
	return fmt.Sprintf("%08x", s.KeyHash)
}

// Cosignature is a witness's cosignature that verifies.
type Cosignature struct {
	Signer
	// At is when the witness says it saw the checkpoint (cosignature/v1),
	// in UTC and whole seconds; zero for a plain signed-note line, which
	// carries no time.
	At time.Time
}

// Witnessed is which witnesses cosigned a checkpoint, by key name.
type Witnessed struct {
	// Cosigned are the witnesses whose cosignature verifies.
	Cosigned []string
	// Cosignatures are the same cosignatures, in the same order, with each
	// witness's key hash and, where the cosignature carries one, its time.
	Cosignatures []Cosignature
	// Missing are those without a cosignature on the note.
	Missing []string
	// Invalid are those whose cosignature line does not verify: the note was
	// altered after they cosigned it.
	Invalid []string
	// Times are when the witnesses whose cosignature is timestamped
	// (cosignature/v1) cosigned, by name; a witness whose cosignature is a
	// plain signed-note line has none.
	Times map[string]time.Time
}

// Cosigners checks each witness key's cosignature on the signed note msg.
func (w Witnesses) Cosigners(msg []byte) Witnessed {
	var r Witnessed
	for _, k := range w.Keys {
		if t, ok, invalid := cosignedAt(msg, k); ok || invalid {
			if invalid {
				r.Invalid = append(r.Invalid, k.Name())
				continue
			}
			if r.Times == nil {
				r.Times = map[string]time.Time{}
			}
			r.Times[k.Name()] = t
			r.Cosigned = append(r.Cosigned, k.Name())
			r.Cosignatures = append(r.Cosignatures, Cosignature{Signer: SignerOf(k), At: t})
			continue
		}
		plain := k
		if key, ok := k.(*Key); ok {
			plain = key.Verifier
		}
		_, err := note.Open(msg, note.VerifierList(plain))
		var invalid *note.InvalidSignatureError
		switch {
		case err == nil:
			r.Cosigned = append(r.Cosigned, k.Name())
			r.Cosignatures = append(r.Cosignatures, Cosignature{Signer: SignerOf(k)})
		case errors.As(err, &invalid):
			r.Invalid = append(r.Invalid, k.Name())
		default:
			r.Missing = append(r.Missing, k.Name())
		}
	}
	return r
}

// Short returns "" when r has at least threshold cosignatures, else a
// sentence that names the witnesses whose cosignatures are missing or invalid.
func (r Witnessed) Short(threshold int) string {
	if len(r.Cosigned) >= threshold {
		return ""
	}
	total := len(r.Cosigned) + len(r.Missing) + len(r.Invalid)
	s := fmt.Sprintf("it carries valid cosignatures from %d of %d witnesses and needs %d", len(r.Cosigned), total, threshold)
	if len(r.Missing) > 0 {
		s += "; not cosigned by " + strings.Join(r.Missing, ", ")
	}
	if len(r.Invalid) > 0 {
		s += "; the cosignature does not verify (the checkpoint was altered after it was cosigned) for " +
			strings.Join(r.Invalid, ", ")
	}
	return s
}

// LoadWitnessed reads the signed checkpoint at path, checks its signature
// with v and its cosignatures with w. short is "" when the checkpoint carries
// the cosignatures w requires, else a sentence naming those that are missing;
// the error is for a checkpoint that cannot be read or whose own signature
// does not verify.
func LoadWitnessed(path string, v note.Verifier, w Witnesses) (c Checkpoint, short string, err error) {
	c, _, short, err = LoadCosigned(path, v, w)
	return c, short, err
}

// LoadCosigned is LoadWitnessed that also returns which witnesses cosigned
// and when (Witnessed.Times), for CheckAnchors.
func LoadCosigned(path string, v note.Verifier, w Witnesses) (c Checkpoint, r Witnessed, short string, err error) {
	msg, err := os.ReadFile(path)
	if err != nil {
		return Checkpoint{}, r, "", fmt.Errorf("reading the checkpoint: %w", err)
	}
	c, err = Open(msg, v)
	if err != nil {
		return Checkpoint{}, r, "", fmt.Errorf("the checkpoint %s is not valid: %w", path, err)
	}
	if len(w.Keys) == 0 {
		return c, r, "", nil
	}
	r = w.Cosigners(msg)
	if s := r.Short(w.Threshold); s != "" {
		return c, r, fmt.Sprintf("the checkpoint %s is short of its witnesses: %s", path, s), nil
	}
	return c, r, "", nil
}

// CheckAnchors holds the ledger's recording times to the times at which the
// witnesses in r cosigned c (ledger.CheckTimeAnchor): no event after c's
// size recorded before a cosignature, none at or below it recorded after.
// It returns "" when the ledger keeps to every one, else a sentence naming
// the first event at fault; the error is for failures to read the ledger.
// Plain cosignatures, without a time, anchor nothing.
func CheckAnchors(ctx context.Context, l *ledger.Ledger, c Checkpoint, r Witnessed) (string, error) {
	for _, a := range r.Anchors(c) {
		_, problem, err := l.CheckTimeAnchor(ctx, a)
		if err != nil || problem != "" {
			return problem, err
		}
	}
	return "", nil
}
