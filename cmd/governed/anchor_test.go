package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/governed-entitlements/terraform-provider-governed/internal/checkpoint"
	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
)

// checkpoint witness writes a timestamped cosignature (cosignature/v1);
// verify and evidence read its time and hold the ledger's recording times to
// it; a witness refuses a checkpoint the ledger has moved past, which its
// timestamp would misdate.
func TestWitnessTimestampsAnchorTheLedger(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logKey, logPub := keygenNamed(t, dir, "checkpoints.example.com")
	wKey, wPub := keygenNamed(t, dir, "witness.example.org")
	path := fixture(t)
	cp := filepath.Join(dir, "cp")
	sign(t, logKey, path, cp)
	cosigned := filepath.Join(dir, "cosigned")
	before := time.Now().UTC().Truncate(time.Second)
	if code, out, errOut := runCLI("checkpoint", "witness", "--key", wKey, "--checkpoint", cp, "--checkpoint-key", logPub,
		"--ledger", path, "--out", cosigned); code != 0 {
		t.Fatalf("checkpoint witness = %d, %q, %q", code, out, errOut)
	}
	msg, err := os.ReadFile(cosigned)
	if err != nil {
		t.Fatal(err)
	}
	w, err := checkpoint.ParseVerifierKey(wPub)
	if err != nil {
		t.Fatal(err)
	}
	r := checkpoint.Witnesses{Keys: []note.Verifier{w}, Threshold: 1}.Cosigners(msg)
	at := r.Times["witness.example.org"]
	if len(r.Cosigned) != 1 || at.Before(before) || at.After(time.Now()) {
		t.Fatalf("the cosignature = %+v, want one dated between %s and now", r, before)
	}

	code, out, errOut := runCLI("verify", "--ledger", path, "--checkpoint", cosigned, "--checkpoint-key", logPub, "--witness-key", wPub)
	if code != 0 || !strings.Contains(out, "witness witness.example.org key hash "+keyHashOf(t, wPub)+" cosigned at "+at.Format(time.RFC3339)+
		": the ledger's recording times keep to it") {
		t.Fatalf("verify = %d, %q, %q", code, out, errOut)
	}
	code, out, errOut = runCLI("evidence", "--ledger", path, "--format", "json", "--checkpoint", cosigned,
		"--checkpoint-key", logPub, "--witness-key", wPub)
	if code > 1 || !strings.Contains(out, "cosigned by witness.example.org key hash "+keyHashOf(t, wPub)+"; witness witness.example.org saw it at "+at.Format(time.RFC3339)) {
		t.Fatalf("evidence = %d, %q, %q", code, out, errOut)
	}

	// The ledger moves on: the old checkpoint is no longer its head.
	l, err := ledger.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.RevokeGrant(context.Background(), "grt_a", time.Now(), ledger.ReasonOutOfBand, "incident", nil); err != nil {
		t.Fatal(err)
	}
	l.Close()
	code, out, errOut = runCLI("checkpoint", "witness", "--key", wKey, "--checkpoint", cp, "--checkpoint-key", logPub,
		"--ledger", path, "--out", filepath.Join(dir, "late"))
	if code != 1 || !strings.Contains(errOut, "the ledger's head is at sequence number 5, past the checkpoint's size 4") {
		t.Fatalf("cosigning a checkpoint the ledger moved past = %d, %q, %q", code, out, errOut)
	}
	// The event appended since was recorded after the witness saw size 4.
	if code, out, errOut := runCLI("verify", "--ledger", path, "--checkpoint", cosigned, "--checkpoint-key", logPub,
		"--witness-key", wPub); code != 0 {
		t.Fatalf("verify after an honest append = %d, %q, %q", code, out, errOut)
	}
}
