package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// keygenNamed makes a key pair named name in dir and returns the files of
// the signer and verifier keys.
func keygenNamed(t *testing.T, dir, name string) (signer, verifier string) {
	t.Helper()
	signer, verifier = filepath.Join(dir, name+".key"), filepath.Join(dir, name+".pub")
	if code, out, errOut := runCLI("checkpoint", "keygen", "--name", name, "--signer-key", signer,
		"--verifier-key", verifier); code != 0 || errOut != "" {
		t.Fatalf("checkpoint keygen %s = %d, %q, %q", name, code, out, errOut)
	}
	return signer, verifier
}

// sign signs a checkpoint of the ledger at path with the log's key.
func sign(t *testing.T, key, path, out string) {
	t.Helper()
	if code, o, errOut := runCLI("checkpoint", "sign", "--key", key, "--ledger", path, "--out", out); code != 0 {
		t.Fatalf("checkpoint sign = %d, %q, %q", code, o, errOut)
	}
}

// A witness cosigns a checkpoint that extends the one it cosigned last, and
// refuses a rollback, a fork and another ledger, all signed with the log's
// real key as an insider holding it could; verify counts 0, 1 and 2 of 2
// witnesses and names those missing.
func TestCheckpointWitness(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logKey, logPub := keygenNamed(t, dir, "checkpoints.example.com")
	w1Key, w1Pub := keygenNamed(t, dir, "witness-one.example.org")
	w2Key, w2Pub := keygenNamed(t, dir, "witness-two.example.net")
	path := fixture(t) // four events
	old := filepath.Join(dir, "old.db")
	copyFile(t, path, old)

	cp1 := filepath.Join(dir, "cp1")
	sign(t, logKey, path, cp1)
	w1Last := filepath.Join(dir, "witness-one", "last")
	code, out, errOut := runCLI("checkpoint", "witness", "--key", w1Key, "--checkpoint", cp1, "--checkpoint-key", logPub,
		"--ledger", path, "--out", w1Last)
	if code != 0 || errOut != "" || !strings.Contains(out, "checkpoint cosigned by witness-one.example.org") {
		t.Fatalf("first cosignature = %d, %q, %q", code, out, errOut)
	}
	both := filepath.Join(dir, "both")
	if code, out, errOut := runCLI("checkpoint", "witness", "--key", w2Key, "--checkpoint", w1Last, "--checkpoint-key", logPub,
		"--ledger", path, "--out", both); code != 0 {
		t.Fatalf("second witness = %d, %q, %q", code, out, errOut)
	}
	if b, _ := os.ReadFile(both); strings.Count(string(b), "\n— ") != 3 {
		t.Fatalf("a checkpoint cosigned by two witnesses = %q, want three signature lines", b)
	}

	verify := func(cp string, extra ...string) (int, string, string) {
		return runCLI(append([]string{"verify", "--ledger", path, "--checkpoint", cp, "--checkpoint-key", logPub,
			"--witness-key", w1Pub, "--witness-key", w2Pub}, extra...)...)
	}
	for _, tc := range []struct {
		name, cp string
		extra    []string
		code     int
		want     string
	}{
		{"0 of 2", cp1, nil, 1, "cosignatures from 0 of 2 witnesses and needs 2; not cosigned by witness-one.example.org, witness-two.example.net"},
		{"1 of 2", w1Last, nil, 1, "cosignatures from 1 of 2 witnesses and needs 2; not cosigned by witness-two.example.net"},
		{"1 of 2, 1 needed", w1Last, []string{"--witnesses", "1"}, 0, "checkpoint cosigned by 1 of 2 witnesses (needs 1): witness-one.example.org"},
		{"2 of 2", both, nil, 0, "checkpoint cosigned by 2 of 2 witnesses (needs 2): witness-one.example.org, witness-two.example.net"},
	} {
		code, out, errOut := verify(tc.cp, tc.extra...)
		if code != tc.code || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("verify, %s = %d, %q, %q; want exit %d and %q", tc.name, code, out, errOut, tc.code, tc.want)
		}
		if tc.code == 1 && !strings.HasPrefix(errOut, "checkpoint is NOT witnessed: "+tc.cp) {
			t.Errorf("verify, %s: %q, want it to say the checkpoint is not witnessed", tc.name, errOut)
		}
	}

	// The ledger goes on: the witness cosigns the next checkpoint.
	appendGrant(t, path, "grt_d")
	cp2 := filepath.Join(dir, "cp2")
	sign(t, logKey, path, cp2)
	if code, out, errOut := runCLI("checkpoint", "witness", "--key", w1Key, "--checkpoint", cp2, "--checkpoint-key", logPub,
		"--previous", w1Last, "--ledger", path, "--out", w1Last); code != 0 || !strings.Contains(out, "size 5") {
		t.Fatalf("cosigning a checkpoint that extends the last = %d, %q, %q", code, out, errOut)
	}

	// An insider with the log's key signs what the witness must refuse.
	forked := filepath.Join(dir, "forked.db")
	copyFile(t, old, forked)
	appendGrant(t, forked, "grt_x")
	appendGrant(t, forked, "grt_y")
	other := fixture(t)
	for _, tc := range []struct{ name, ledger, previous, want string }{
		{"rollback", old, w1Last, "the checkpoint's size 4 is smaller than 5, the size of the one cosigned last: the ledger went backwards"},
		{"fork", forked, w1Last, "the ledger does not extend the checkpoint cosigned last: at sequence number 5"},
		{"another ledger", other, w1Last, "it is another ledger"},
		{"previous not cosigned by this witness", path, cp2, "carries no valid cosignature by this witness (witness-one.example.org)"},
	} {
		cp := filepath.Join(dir, "insider-"+strings.ReplaceAll(tc.name, " ", "-"))
		sign(t, logKey, tc.ledger, cp)
		dst := filepath.Join(dir, "refused", strings.ReplaceAll(tc.name, " ", "-"))
		code, out, errOut := runCLI("checkpoint", "witness", "--key", w1Key, "--checkpoint", cp, "--checkpoint-key", logPub,
			"--previous", tc.previous, "--ledger", tc.ledger, "--out", dst)
		if code != 1 || out != "" || !strings.HasPrefix(errOut, "checkpoint NOT cosigned: ") || !strings.Contains(errOut, tc.want) {
			t.Errorf("witness, %s = %d, %q, %q; want exit 1 and %q", tc.name, code, out, errOut, tc.want)
		}
		if _, err := os.Stat(dst); !os.IsNotExist(err) {
			t.Errorf("witness, %s: a cosigned checkpoint was written: %v", tc.name, err)
		}
	}
	// A checkpoint the ledger does not extend, even as the first cosignature.
	if code, _, errOut := runCLI("checkpoint", "witness", "--key", w2Key, "--checkpoint", cp2, "--checkpoint-key", logPub,
		"--ledger", old); code != 1 || !strings.Contains(errOut, "behind the checkpoint's size 5") {
		t.Errorf("witness over a ledger behind the checkpoint = %d, %q", code, errOut)
	}
	// A checkpoint signed with another key than the log's.
	if code, _, errOut := runCLI("checkpoint", "witness", "--key", w1Key, "--checkpoint", cp2, "--checkpoint-key", w2Pub,
		"--ledger", path); code != 1 || !strings.Contains(errOut, "is not valid") {
		t.Errorf("witness of a checkpoint with the wrong log key = %d, %q", code, errOut)
	}
}

func TestCheckpointWitnessUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, logPub := keygenNamed(t, dir, "checkpoints.example.com")
	wKey, wPub := keygenNamed(t, dir, "witness.example.org")
	for _, args := range [][]string{
		{"checkpoint", "witness", "--checkpoint", "x", "--checkpoint-key", logPub},
		{"checkpoint", "witness", "--key", wKey},
		{"checkpoint", "witness", "--key", wKey, "--checkpoint", "x", "--checkpoint-key", logPub},
		{"checkpoint", "witness", "--key", logPub, "--checkpoint", "x", "--checkpoint-key", logPub},
		{"verify", "--witness-key", wPub},
		{"verify", "--checkpoint", "x", "--checkpoint-key", logPub, "--witnesses", "1"},
		{"verify", "--checkpoint", "x", "--checkpoint-key", logPub, "--witness-key", wPub, "--witnesses", "2"},
		{"verify", "--checkpoint", "x", "--checkpoint-key", logPub, "--witness-key", wPub, "--witnesses", "0"},
		{"verify", "--checkpoint", "x", "--checkpoint-key", logPub, "--witness-key", wPub, "--witness-key", wPub},
		{"verify", "--checkpoint", "x", "--checkpoint-key", logPub, "--witness-key", logPub},
	} {
		if code, _, errOut := runCLI(args...); code != 2 {
			t.Errorf("%v: exit %d (%q), want 2", args, code, errOut)
		}
	}
}
