package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/governed-entitlements/terraform-provider-governed/internal/checkpoint"
)

// keyHashOf is the key hash a verifier key file names (NAME+HASH+KEY), as
// the auditor holding the file reads it.
func keyHashOf(t *testing.T, verifierFile string) string {
	t.Helper()
	b, err := os.ReadFile(verifierFile)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.SplitN(strings.TrimSpace(string(b)), "+", 3)
	if len(parts) != 3 || len(parts[1]) != 8 {
		t.Fatalf("verifier key %q is not NAME+HASH+KEY", b)
	}
	return parts[1]
}

// TestVerifyNamesCheckpointSigners: governed verify with a checkpoint names
// the key that signed it, by its name and its key hash as the verifier key
// shows them (NAME+HASH), and each witness that cosigned, with its key hash
// and, for a timestamped cosignature, the time in RFC 3339; a plain
// cosignature is said to carry no time. The whole output is held, line by
// line, since scripts read it.
func TestVerifyNamesCheckpointSigners(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logKey, logPub := keygenNamed(t, dir, "checkpoints.example.com")
	w1Key, w1Pub := keygenNamed(t, dir, "witness-one.example.org")
	w2Key, w2Pub := keygenNamed(t, dir, "witness-two.example.net")
	path := fixture(t) // four events
	cp := filepath.Join(dir, "cp")
	sign(t, logKey, path, cp)

	code, out, errOut := runCLI("verify", "--ledger", path, "--checkpoint", cp, "--checkpoint-key", logPub)
	lines := strings.Split(out, "\n")
	want := []string{
		"ledger extends the checkpoint " + cp,
		"checkpoint signed by checkpoints.example.com key hash " + keyHashOf(t, logPub),
		"",
	}
	if code != 0 || errOut != "" || len(lines) != 4 || !strings.HasPrefix(lines[0], "ledger verified: 4 events, head seq 4 hash ") ||
		strings.Join(lines[1:], "\n") != strings.Join(want, "\n") {
		t.Fatalf("verify with a checkpoint = %d, %q,\n%s\nwant after the first line:\n%s", code, errOut, out, strings.Join(want, "\n"))
	}

	// Witness two cosigns with a plain signed-note line, as cosignatures
	// were made before they carried a time; witness one with the
	// timestamped cosignature governed checkpoint witness writes.
	msg, err := os.ReadFile(cp)
	if err != nil {
		t.Fatal(err)
	}
	logV, err := checkpoint.ParseVerifierKey(logPub)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(msg, note.VerifierList(logV))
	if err != nil {
		t.Fatal(err)
	}
	w2Text, err := os.ReadFile(w2Key)
	if err != nil {
		t.Fatal(err)
	}
	w2, err := note.NewSigner(strings.TrimSpace(string(w2Text)))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := note.Sign(n, w2)
	if err != nil {
		t.Fatal(err)
	}
	plainFile := filepath.Join(dir, "plain")
	if err := os.WriteFile(plainFile, plain, 0o600); err != nil {
		t.Fatal(err)
	}
	both := filepath.Join(dir, "both")
	if code, out, errOut := runCLI("checkpoint", "witness", "--key", w1Key, "--checkpoint", plainFile, "--checkpoint-key", logPub,
		"--ledger", path, "--out", both); code != 0 {
		t.Fatalf("checkpoint witness = %d, %q, %q", code, out, errOut)
	}
	bothMsg, err := os.ReadFile(both)
	if err != nil {
		t.Fatal(err)
	}
	w1V, err := checkpoint.ParseVerifierKey(w1Pub)
	if err != nil {
		t.Fatal(err)
	}
	at, ok := checkpoint.Witnesses{Keys: []note.Verifier{w1V}, Threshold: 1}.Cosigners(bothMsg).Times["witness-one.example.org"]
	if !ok {
		t.Fatalf("witness one's cosignature carries no time:\n%s", bothMsg)
	}

	code, out, errOut = runCLI("verify", "--ledger", path, "--checkpoint", both, "--checkpoint-key", logPub,
		"--witness-key", w1Pub, "--witness-key", w2Pub)
	lines = strings.Split(out, "\n")
	want = []string{
		"ledger extends the checkpoint " + both,
		"checkpoint signed by checkpoints.example.com key hash " + keyHashOf(t, logPub),
		"checkpoint cosigned by 2 of 2 witnesses (needs 2): witness-one.example.org, witness-two.example.net",
		"witness witness-one.example.org key hash " + keyHashOf(t, w1Pub) + " cosigned at " + at.UTC().Format(time.RFC3339) +
			": the ledger's recording times keep to it",
		"witness witness-two.example.net key hash " + keyHashOf(t, w2Pub) + " cosigned without a time " +
			"(a plain signature line, which anchors no recording time)",
		"",
	}
	if code != 0 || errOut != "" || len(lines) != len(want)+1 || !strings.HasPrefix(lines[0], "ledger verified: 4 events, head seq 4 hash ") ||
		strings.Join(lines[1:], "\n") != strings.Join(want, "\n") {
		t.Fatalf("verify with witnesses = %d, %q,\n%s\nwant after the first line:\n%s", code, errOut, out, strings.Join(want, "\n"))
	}
}

// evidenceCheckpointFields are the checkpoint's signers as governed evidence
// writes them in JSON.
type evidenceCheckpointFields struct {
	Ledger struct {
		CheckpointExtended bool `json:"checkpoint_extended"`
		CheckpointSigner   *struct {
			Name    string `json:"name"`
			KeyHash string `json:"key_hash"`
		} `json:"checkpoint_signer"`
		CheckpointCosignatures []struct {
			Name       string `json:"name"`
			KeyHash    string `json:"key_hash"`
			CosignedAt string `json:"cosigned_at"`
		} `json:"checkpoint_cosignatures"`
	} `json:"ledger"`
}

// TestEvidenceNamesCheckpointSigners: governed evidence --format json names
// the checkpoint's signer and each witness that cosigned, with the same
// names, key hashes and RFC 3339 times governed verify prints.
func TestEvidenceNamesCheckpointSigners(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logKey, logPub := keygenNamed(t, dir, "checkpoints.example.com")
	wKey, wPub := keygenNamed(t, dir, "witness-one.example.org")
	path := fixture(t)
	cp := filepath.Join(dir, "cp")
	sign(t, logKey, path, cp)
	cosigned := filepath.Join(dir, "cosigned")
	if code, out, errOut := runCLI("checkpoint", "witness", "--key", wKey, "--checkpoint", cp, "--checkpoint-key", logPub,
		"--ledger", path, "--out", cosigned); code != 0 {
		t.Fatalf("checkpoint witness = %d, %q, %q", code, out, errOut)
	}
	msg, err := os.ReadFile(cosigned)
	if err != nil {
		t.Fatal(err)
	}
	wV, err := checkpoint.ParseVerifierKey(wPub)
	if err != nil {
		t.Fatal(err)
	}
	at := checkpoint.Witnesses{Keys: []note.Verifier{wV}, Threshold: 1}.Cosigners(msg).Times["witness-one.example.org"]

	code, out, errOut := runCLI("evidence", "--ledger", path, "--format", "json", "--checkpoint", cosigned,
		"--checkpoint-key", logPub, "--witness-key", wPub)
	if code > 1 {
		t.Fatalf("evidence = %d, %q", code, errOut)
	}
	var got evidenceCheckpointFields
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("evidence JSON: %v\n%s", err, out)
	}
	l := got.Ledger
	if !l.CheckpointExtended || l.CheckpointSigner == nil || l.CheckpointSigner.Name != "checkpoints.example.com" ||
		l.CheckpointSigner.KeyHash != keyHashOf(t, logPub) || len(l.CheckpointCosignatures) != 1 ||
		l.CheckpointCosignatures[0].Name != "witness-one.example.org" || l.CheckpointCosignatures[0].KeyHash != keyHashOf(t, wPub) ||
		l.CheckpointCosignatures[0].CosignedAt != at.UTC().Format(time.RFC3339) {
		t.Fatalf("evidence's checkpoint signers = %+v; want checkpoints.example.com %s and witness-one.example.org %s at %s\n%s",
			l, keyHashOf(t, logPub), keyHashOf(t, wPub), at.UTC().Format(time.RFC3339), out)
	}
}
