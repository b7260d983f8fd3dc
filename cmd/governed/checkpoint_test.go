package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
)

// keygen makes a key pair in dir and returns the files of the signer and
// verifier keys.
func keygen(t *testing.T, dir string) (signer, verifier string) {
	t.Helper()
	signer, verifier = filepath.Join(dir, "checkpoint.key"), filepath.Join(dir, "checkpoint.pub")
	code, out, errOut := runCLI("checkpoint", "keygen", "--name", "checkpoints.example.com",
		"--signer-key", signer, "--verifier-key", verifier)
	if code != 0 || errOut != "" || !strings.Contains(out, "checkpoints.example.com+") ||
		!strings.Contains(out, "keep it secret, only where it signs (the apply job, or the witness that owns it)") {
		t.Fatalf("checkpoint keygen = %d, %q, %q", code, out, errOut)
	}
	return signer, verifier
}

// appendGrant records one more grant in the ledger at path.
func appendGrant(t *testing.T, path, id string) {
	t.Helper()
	ctx := context.Background()
	l, err := ledger.OpenExisting(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	now := time.Now().UTC()
	g := ledger.Grant{ID: id, Principal: "svc-payments", Entitlement: "payments-db-read", TicketID: "SEC-9",
		Target: "ledger", ExpiresAt: now.Add(time.Hour).Format(time.RFC3339)}
	if _, err := l.IssueGrant(ctx, g, now); err != nil {
		t.Fatal(err)
	}
}

// copyFile copies a closed SQLite ledger, as a backup would.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCheckpointKeygenKeepsAnExistingKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	signer, _ := keygen(t, dir)
	before, err := os.ReadFile(signer)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(signer); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("signer key file mode = %v, %v; want 0600", info.Mode().Perm(), err)
	}
	code, _, errOut := runCLI("checkpoint", "keygen", "--name", "other.example.com", "--signer-key", signer,
		"--verifier-key", filepath.Join(dir, "other.pub"))
	if code != 2 || !strings.Contains(errOut, "exists") {
		t.Errorf("keygen over an existing key = %d, %q", code, errOut)
	}
	if after, _ := os.ReadFile(signer); string(after) != string(before) {
		t.Error("keygen overwrote an existing signer key")
	}
	if code, _, errOut := runCLI("checkpoint", "keygen", "--name", "bad name",
		"--signer-key", filepath.Join(dir, "bad.key"), "--verifier-key", filepath.Join(dir, "bad.pub")); code != 2 || !strings.Contains(errOut, "key name") {
		t.Errorf("keygen with a bad name = %d, %q", code, errOut)
	}
}

// A ledger that extends its checkpoint verifies; one that does not (rolled
// back to an older copy, forked, another ledger) fails with exit 1 and says
// what differs and where, as does a checkpoint whose signature does not verify.
func TestVerifyCheckpoint(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	signer, verifier := keygen(t, dir)
	verifierText, err := os.ReadFile(verifier)
	if err != nil {
		t.Fatal(err)
	}
	path := fixture(t)
	old := filepath.Join(dir, "old.db")
	copyFile(t, path, old) // four events
	appendGrant(t, path, "grt_d")
	cp := filepath.Join(dir, "checkpoints", "ledger.checkpoint")
	code, out, errOut := runCLI("checkpoint", "sign", "--key", signer, "--ledger", path, "--out", cp)
	if code != 0 || errOut != "" || !strings.Contains(out, "size 5") {
		t.Fatalf("checkpoint sign = %d, %q, %q", code, out, errOut)
	}
	note, err := os.ReadFile(cp)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(note), "governed ledger ") || !strings.Contains(string(note), "\n5\n") ||
		!strings.Contains(string(note), "\n\n— checkpoints.example.com ") {
		t.Fatalf("checkpoint = %q, want a signed note naming the ledger and its size", note)
	}
	appendGrant(t, path, "grt_e") // the ledger goes on: it still extends the checkpoint
	for _, key := range []string{verifier, strings.TrimSpace(string(verifierText))} {
		code, out, errOut := runCLI("verify", "--ledger", path, "--checkpoint", cp, "--checkpoint-key", key)
		if code != 0 || errOut != "" || !strings.Contains(out, "ledger extends the checkpoint") {
			t.Errorf("verify of an extended ledger (key %s) = %d, %q, %q", key, code, out, errOut)
		}
	}

	forked := filepath.Join(dir, "forked.db")
	copyFile(t, old, forked)
	appendGrant(t, forked, "grt_x")
	appendGrant(t, forked, "grt_y")
	altered := filepath.Join(dir, "altered.checkpoint")
	if err := os.WriteFile(altered, []byte(strings.Replace(string(note), "\n5\n", "\n4\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, otherVerifier := keygen(t, t.TempDir())
	for _, tt := range []struct {
		name, ledger, checkpoint, key, want string
	}{
		{"rolled back", old, cp, verifier, "the ledger's head is at sequence number 4, behind the checkpoint's size 5: it went backwards"},
		{"forked", forked, cp, verifier, "at sequence number 5, the checkpoint's size, the ledger's event has hash "},
		{"another ledger", fixture(t), cp, verifier, "it is another ledger"},
		{"altered checkpoint", path, altered, verifier, "checkpoint does NOT verify: the checkpoint " + altered +
			" is not valid: its signature by key checkpoints.example.com does not verify"},
		{"another key", path, cp, otherVerifier, "checkpoint does NOT verify: the checkpoint " + cp +
			" is not valid: its signature does not verify with key checkpoints.example.com"},
	} {
		code, out, errOut := runCLI("verify", "--ledger", tt.ledger, "--checkpoint", tt.checkpoint, "--checkpoint-key", tt.key)
		if code != 1 || out != "" || !strings.Contains(errOut, tt.want) {
			t.Errorf("%s: verify = %d, %q, %q; want exit 1 and %q", tt.name, code, out, errOut, tt.want)
		}
		if tt.name != "altered checkpoint" && tt.name != "another key" && !strings.HasPrefix(errOut, "ledger does NOT extend the checkpoint") {
			t.Errorf("%s: verify says %q, want it to say the ledger does not extend the checkpoint", tt.name, errOut)
		}
	}

	// A checkpoint is signed only over a ledger that extends the previous one.
	code, _, errOut = runCLI("checkpoint", "sign", "--key", signer, "--ledger", old, "--out", filepath.Join(dir, "next.checkpoint"),
		"--checkpoint", cp, "--checkpoint-key", verifier)
	if code != 1 || !strings.Contains(errOut, "went backwards") {
		t.Errorf("sign over a rolled-back ledger = %d, %q", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "next.checkpoint")); !os.IsNotExist(err) {
		t.Errorf("a checkpoint was written over a rolled-back ledger: %v", err)
	}
}

// The first checkpoint has no previous one: sign says to leave the flags out,
// and writes nothing.
func TestCheckpointSignFirstWithAMissingPrevious(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	signer, verifier := keygen(t, dir)
	latest := filepath.Join(dir, "checkpoints", "latest")
	code, out, errOut := runCLI("checkpoint", "sign", "--key", signer, "--ledger", fixture(t),
		"--checkpoint", latest, "--checkpoint-key", verifier, "--out", latest)
	if code != 2 || out != "" || !strings.Contains(errOut, "the previous checkpoint "+latest+" does not exist") ||
		!strings.Contains(errOut, "leave out --checkpoint and --checkpoint-key") {
		t.Errorf("sign with a missing previous checkpoint = %d, %q, %q; want exit 2 and how to sign the first", code, out, errOut)
	}
	if _, err := os.Stat(latest); !os.IsNotExist(err) {
		t.Errorf("a checkpoint was written: %v", err)
	}
}

// TestCheckpointSignKeyMixUps: the verifier key given as --key is refused
// before the ledger is read, naming the file to give; a checkpoint signed
// with a key other than the previous checkpoint's is written, with one line
// saying that plans pinned to the old key will refuse it.
func TestCheckpointSignKeyMixUps(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	signer, verifier := keygen(t, dir)
	other, otherPub := filepath.Join(dir, "witness.key"), filepath.Join(dir, "witness.pub")
	if code, out, errOut := runCLI("checkpoint", "keygen", "--name", "witness.example.org", "--signer-key", other,
		"--verifier-key", otherPub); code != 0 {
		t.Fatalf("keygen = %d, %q, %q", code, out, errOut)
	}
	location := fixture(t)
	latest := filepath.Join(dir, "latest")

	missing := filepath.Join(dir, "no-ledger.db")
	code, out, errOut := runCLI("checkpoint", "sign", "--key", verifier, "--ledger", missing, "--out", latest)
	if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "holds a verifier key") ||
		!strings.Contains(errOut, "--signer-key") {
		t.Errorf("sign --key VERIFIER = %d, %q, %q; want exit 2 and one line naming --signer-key", code, out, errOut)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("sign with the wrong key opened the ledger: %v", err)
	}

	if code, out, errOut := runCLI("checkpoint", "sign", "--key", signer, "--ledger", location, "--out", latest); code != 0 {
		t.Fatalf("first sign = %d, %q, %q", code, out, errOut)
	}
	code, out, errOut = runCLI("checkpoint", "sign", "--key", signer, "--ledger", location,
		"--checkpoint", latest, "--checkpoint-key", verifier, "--out", latest)
	if code != 0 || errOut != "" {
		t.Errorf("sign with the previous checkpoint's key = %d, %q, %q; want no note", code, out, errOut)
	}
	code, _, errOut = runCLI("checkpoint", "sign", "--key", other, "--ledger", location,
		"--checkpoint", latest, "--checkpoint-key", verifier, "--out", filepath.Join(dir, "next"))
	if code != 0 || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "note: signed with key witness.example.org+") ||
		!strings.Contains(errOut, "not checkpoints.example.com+") || !strings.Contains(errOut, "GOVERNED_CHECKPOINT_KEY will refuse") {
		t.Errorf("sign with another key = %d, %q; want exit 0 and one note naming both keys", code, errOut)
	}
}

func TestCheckpointUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"checkpoint"},
		{"checkpoint", "nope"},
		{"checkpoint", "sign"},
		{"checkpoint", "keygen", "--signer-key", filepath.Join(t.TempDir(), "k")},
		{"verify", "--checkpoint", "x.checkpoint"},
		{"verify", "--checkpoint-key", "k"},
	} {
		if code, _, _ := runCLI(args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
