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
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

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
		return nil, fmt.Errorf("the signer key is not a signed-note signer key: %w", err)
	}
	return note.Sign(&note.Note{Text: c.Text()}, s)
}

// ParseVerifierKey reads a verifier key given either as its text
// (NAME+HASH+KEY) or as the path of a file that holds it.
func ParseVerifierKey(value string) (note.Verifier, error) {
	value = strings.TrimSpace(value)
	if v, err := note.NewVerifier(value); err == nil {
		return v, nil
	}
	b, err := os.ReadFile(value)
	if err != nil {
		return nil, errors.New("it is neither a verifier key (NAME+HASH+KEY, as governed checkpoint keygen prints it) " +
			"nor a readable file that holds one")
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("the file %s does not hold a verifier key (NAME+HASH+KEY): %w", value, err)
	}
	return v, nil
}

// Open checks a signed note's signature with the verifier key and returns
// the checkpoint it signs. A note without a valid signature by that key is
// an error that says so.
func Open(msg []byte, v note.Verifier) (Checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &invalid):
			return Checkpoint{}, fmt.Errorf("its signature by key %s does not verify: the checkpoint was altered after "+
				"it was signed", v.Name())
		case errors.As(err, &unverified):
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
