package checkpoint

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"golang.org/x/mod/sumdb/note"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func openLedger(t *testing.T, path string) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func issue(t *testing.T, l *ledger.Ledger, id string) {
	t.Helper()
	_, err := l.IssueGrant(context.Background(), ledger.Grant{
		ID: id, Principal: "svc-payments-api", Entitlement: "payments-db-read", TicketID: "SEC-101",
		Approvers: []string{"alice@example.com"}, Requester: "dev@example.com", Target: "ledger",
		Role: "payments_read", ExpiresAt: t0.Add(24 * time.Hour).Format(time.RFC3339),
	}, t0)
	if err != nil {
		t.Fatal(err)
	}
}

func TestTextRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []Checkpoint{
		{LedgerID: strings.Repeat("a", 32), Size: 0, Hash: emptyHash},
		{LedgerID: strings.Repeat("b", 32), Size: 42, Hash: strings.Repeat("c", 64)},
	} {
		got, err := Parse(c.Text())
		if err != nil || got != c {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", c.Text(), got, err, c)
		}
	}
	for _, bad := range []string{
		"",
		"governed ledger x\n1\n" + strings.Repeat("c", 64) + "\n",
		"governed ledger " + strings.Repeat("a", 32) + "\n01\n" + strings.Repeat("c", 64) + "\n",
		"governed ledger " + strings.Repeat("a", 32) + "\n0\n" + strings.Repeat("c", 64) + "\n",
		"governed ledger " + strings.Repeat("a", 32) + "\n1\n" + strings.Repeat("c", 64),
	} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

func TestSignOpen(t *testing.T) {
	t.Parallel()
	signer, verifier, err := GenerateKey("checkpoints.example.com")
	if err != nil {
		t.Fatal(err)
	}
	_, otherVerifier, err := GenerateKey("checkpoints.example.com")
	if err != nil {
		t.Fatal(err)
	}
	c := Checkpoint{LedgerID: strings.Repeat("a", 32), Size: 3, Hash: strings.Repeat("d", 64)}
	msg, err := Sign(c, signer)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ParseVerifierKey(verifier)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Open(msg, v); err != nil || got != c {
		t.Fatalf("Open = %+v, %v; want %+v", got, err, c)
	}
	keyFile := filepath.Join(t.TempDir(), "checkpoint.pub")
	if err := os.WriteFile(keyFile, []byte(verifier+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseVerifierKey(keyFile); err != nil {
		t.Errorf("verifier key from a file: %v", err)
	}
	other, err := ParseVerifierKey(otherVerifier)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(msg, other); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("Open with another key of the same name: err = %v, want a signature that does not verify", err)
	}
	altered := []byte(strings.Replace(string(msg), "\n3\n", "\n2\n", 1))
	if _, err := Open(altered, v); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("Open of an altered checkpoint: err = %v, want a signature that does not verify", err)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	l := openLedger(t, filepath.Join(dir, "governed.db"))
	empty, err := Of(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	issue(t, l, "grt_1")
	issue(t, l, "grt_2")
	c, err := Of(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	issue(t, l, "grt_3")
	for _, cp := range []Checkpoint{empty, c} {
		if problem, err := Check(ctx, l, cp); err != nil || problem != "" {
			t.Errorf("Check of a ledger that extends %+v = %q, %v", cp, problem, err)
		}
	}
	other := openLedger(t, filepath.Join(dir, "other.db"))
	for name, tc := range map[string]struct {
		l    *ledger.Ledger
		c    Checkpoint
		want string
	}{
		"another ledger": {other, c, "another ledger"},
		"behind":         {l, Checkpoint{LedgerID: c.LedgerID, Size: c.Size + 5, Hash: c.Hash}, "behind the checkpoint's size"},
		"rewritten":      {l, Checkpoint{LedgerID: c.LedgerID, Size: c.Size, Hash: strings.Repeat("e", 64)}, "rewritten or forked"},
	} {
		problem, err := Check(ctx, tc.l, tc.c)
		if err != nil || !strings.Contains(problem, tc.want) {
			t.Errorf("%s: Check = %q, %v; want a problem naming %q", name, problem, err, tc.want)
		}
	}
}

// TestKeyMixUps: each key given where the other kind belongs, and a witness's
// key given as the log's, is refused with a sentence that names the key file
// to give instead, never with the encoding library's words alone, and a
// secret signer key is never repeated.
func TestKeyMixUps(t *testing.T) {
	t.Parallel()
	signer, verifier, err := GenerateKey("checkpoints.example.com")
	if err != nil {
		t.Fatal(err)
	}
	witnessSigner, witnessVerifier, err := GenerateKey("witness.audit.example.com")
	if err != nil {
		t.Fatal(err)
	}
	c := Checkpoint{LedgerID: strings.Repeat("a", 32), Size: 3, Hash: strings.Repeat("d", 64)}

	if _, err := Sign(c, verifier); err == nil || !strings.Contains(err.Error(), "holds a verifier key") ||
		!strings.Contains(err.Error(), "--signer-key") {
		t.Errorf("Sign with the verifier key: err = %v, want it named a verifier key, with --signer-key", err)
	}
	logKey, err := ParseVerifierKey(verifier)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := Sign(c, signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Cosign(msg, logKey, witnessVerifier); err == nil || !strings.Contains(err.Error(), "holds a verifier key") {
		t.Errorf("Cosign with the witness's verifier key: err = %v, want it named a verifier key", err)
	}

	// The signer key as text (an environment variable) and in a file.
	for _, value := range []string{signer, writeFile(t, "checkpoint.key", signer+"\n")} {
		_, err := ParseVerifierKey(value)
		if err == nil || !strings.Contains(err.Error(), "holds a signer key") || !strings.Contains(err.Error(), "--verifier-key") {
			t.Errorf("ParseVerifierKey(signer key): err = %v, want it named a signer key, with --verifier-key", err)
		}
		if err != nil && strings.Contains(err.Error(), strings.Split(signer, "+")[4]) {
			t.Errorf("ParseVerifierKey repeats the secret key: %v", err)
		}
	}

	// A witness's cosignature is not the log's signature, even to the
	// witness's own key.
	cosigned, _, err := Cosign(msg, logKey, witnessSigner)
	if err != nil {
		t.Fatal(err)
	}
	wk, err := ParseVerifierKey(witnessVerifier)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(cosigned, wk); err == nil || !strings.Contains(err.Error(), "only cosigned it as a witness") {
		t.Errorf("Open with the witness's key: err = %v, want the cosignature refused as the log's signature", err)
	}
	if got, err := Open(cosigned, logKey); err != nil || got != c {
		t.Errorf("Open of the cosigned checkpoint with the log's key = %+v, %v; want %+v", got, err, c)
	}
	if r := (Witnesses{Keys: []note.Verifier{wk}, Threshold: 1}).Cosigners(cosigned); len(r.Cosigned) != 1 {
		t.Errorf("Cosigners = %+v, want the witness's cosignature counted", r)
	}
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
