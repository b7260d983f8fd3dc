package checkpoint

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

func keyPair(t *testing.T, name string) (string, note.Verifier) {
	t.Helper()
	signer, verifier, err := GenerateKey(name)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ParseVerifierKey(verifier)
	if err != nil {
		t.Fatal(err)
	}
	return signer, v
}

// Cosigning keeps the log's signature and earlier cosignatures; a threshold
// counts only cosignatures that verify, and names the witnesses missing.
func TestCosignAndCount(t *testing.T) {
	t.Parallel()
	logSigner, logKey := keyPair(t, "checkpoints.example.com")
	w1Signer, w1 := keyPair(t, "witness-one.example.org")
	w2Signer, w2 := keyPair(t, "witness-two.example.net")
	c := Checkpoint{LedgerID: strings.Repeat("a", 32), Size: 3, Hash: strings.Repeat("d", 64)}
	msg, err := Sign(c, logSigner)
	if err != nil {
		t.Fatal(err)
	}
	one, got, err := Cosign(msg, logKey, w1Signer)
	if err != nil || got != c {
		t.Fatalf("Cosign = %+v, %v", got, err)
	}
	two, _, err := Cosign(one, logKey, w2Signer)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(two), "\n— "); n != 3 {
		t.Fatalf("a checkpoint cosigned twice carries %d signature lines, want 3:\n%s", n, two)
	}
	if _, err := Open(two, logKey); err != nil {
		t.Errorf("the log's signature no longer verifies after cosigning: %v", err)
	}
	w := Witnesses{Keys: []note.Verifier{w1, w2}, Threshold: 2}
	for _, tc := range []struct {
		name      string
		msg       []byte
		threshold int
		short     []string // "" when the threshold is met
	}{
		{"none of 2", msg, 2, []string{"from 0 of 2 witnesses and needs 2", "not cosigned by witness-one.example.org, witness-two.example.net"}},
		{"1 of 2, needs 2", one, 2, []string{"from 1 of 2 witnesses and needs 2", "not cosigned by witness-two.example.net"}},
		{"1 of 2, needs 1", one, 1, nil},
		{"2 of 2", two, 2, nil},
	} {
		s := w.Cosigners(tc.msg).Short(tc.threshold)
		if (s == "") != (tc.short == nil) {
			t.Errorf("%s: Short = %q", tc.name, s)
		}
		for _, want := range tc.short {
			if !strings.Contains(s, want) {
				t.Errorf("%s: Short = %q, want it to say %q", tc.name, s, want)
			}
		}
	}
	// A cosignature line moved onto other text does not count.
	var lines []string
	for _, line := range strings.Split(string(two), "\n") {
		if strings.HasPrefix(line, "— witness-two.example.net ") {
			lines = append(lines, line)
		}
	}
	other, err := Sign(Checkpoint{LedgerID: c.LedgerID, Size: 4, Hash: strings.Repeat("e", 64)}, logSigner)
	if err != nil {
		t.Fatal(err)
	}
	grafted := []byte(string(other) + lines[0] + "\n")
	r := w.Cosigners(grafted)
	if len(r.Cosigned) != 0 || len(r.Invalid) != 1 || !strings.Contains(r.Short(1), "does not verify") {
		t.Errorf("a cosignature grafted onto another checkpoint: %+v, %q", r, r.Short(1))
	}
	if _, _, err := Cosign(msg, logKey, logSigner); err == nil {
		t.Error("a witness cosigned with the log's own key")
	}
	if err := (Witnesses{Keys: []note.Verifier{w1, w1}, Threshold: 1}).CheckKeys(logKey); err == nil {
		t.Error("a witness key given twice was accepted")
	}
	if err := (Witnesses{Keys: []note.Verifier{logKey}, Threshold: 1}).CheckKeys(logKey); err == nil {
		t.Error("the log's own key was accepted as a witness key")
	}
	if err := (Witnesses{Keys: []note.Verifier{w1, w2}, Threshold: 3}).CheckKeys(logKey); err == nil {
		t.Error("a threshold above the number of witness keys was accepted")
	}
	own, err := VerifierOf(w1Signer)
	if err != nil || own.Name() != w1.Name() || own.KeyHash() != w1.KeyHash() {
		t.Fatalf("VerifierOf = %v, %v", own, err)
	}
	if r := (Witnesses{Keys: []note.Verifier{own}, Threshold: 1}).Cosigners(one); len(r.Cosigned) != 1 {
		t.Errorf("the verifier derived from the witness's signer key does not verify its cosignature: %+v", r)
	}
}

// A witness never follows a checkpoint it cosigned with one of another
// ledger, a smaller one, or one the ledger does not extend.
func TestExtends(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	l := openLedger(t, filepath.Join(dir, "governed.db"))
	issue(t, l, "grt_1")
	issue(t, l, "grt_2")
	prev, err := Of(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	issue(t, l, "grt_3")
	next, err := Of(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ prev, next Checkpoint }{{prev, next}, {prev, prev}, {next, next}} {
		if problem, err := Extends(ctx, l, tc.prev, tc.next); err != nil || problem != "" {
			t.Errorf("Extends(%d, %d) = %q, %v", tc.prev.Size, tc.next.Size, problem, err)
		}
	}
	forkedPrev := prev
	forkedPrev.Hash = strings.Repeat("e", 64)
	sameSize := prev
	sameSize.Hash = strings.Repeat("f", 64)
	otherID := next
	otherID.LedgerID = strings.Repeat("b", 32)
	for name, tc := range map[string]struct {
		prev, next Checkpoint
		want       string
	}{
		"rollback":              {next, prev, "smaller than 3"},
		"fork at the old size":  {forkedPrev, next, "does not extend the checkpoint cosigned last"},
		"fork at the same size": {prev, sameSize, "forked"},
		"another ledger":        {prev, otherID, "another ledger"},
	} {
		problem, err := Extends(ctx, l, tc.prev, tc.next)
		if err != nil || !strings.Contains(problem, tc.want) {
			t.Errorf("%s: Extends = %q, %v; want %q", name, problem, err, tc.want)
		}
	}
}
