package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDigestFlagsGivenSha256sumOutput: --signers-sha256 and --policy-sha256
// given what sha256sum prints (the digest, two spaces and the file's name;
// a line per file) are usage errors of one line that print each digest once
// and say the exact value to pass instead, before the ledger is read. The
// lines come from the real sha256sum, as an auditor pastes them.
func TestDigestFlagsGivenSha256sumOutput(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("sha256sum"); err != nil {
		t.Fatal("sha256sum is not installed")
	}
	dir := t.TempDir()
	files := map[string]string{
		"allowed_signers":   "alice@example.com ssh-ed25519 AAAA\n",
		"revoked_keys":      "ssh-ed25519 BBBB\n",
		"access-policy.hcl": "# policy\n",
		"old-policy.hcl":    "# older policy\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sha256sum := func(args ...string) (out string, digests []string) {
		t.Helper()
		cmd := exec.Command("sha256sum", args...)
		cmd.Dir = dir
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("sha256sum %v: %v", args, err)
		}
		// As the shell's "$(sha256sum ...)" gives it: without the last newline.
		out = strings.TrimRight(string(b), "\n")
		for _, line := range strings.Split(out, "\n") {
			digests = append(digests, line[:64])
		}
		return out, digests
	}
	allowed, a := sha256sum("allowed_signers")
	both, ar := sha256sum("allowed_signers", "revoked_keys")
	binary, _ := sha256sum("--binary", "allowed_signers")
	policyLine, p := sha256sum("access-policy.hcl")
	policies, pp := sha256sum("access-policy.hcl", "old-policy.hcl")
	location := filepath.Join(dir, "governed.db")

	for _, cmd := range []string{"verify", "evidence"} {
		for _, tc := range []struct {
			flag, value string
			digests     []string
			want        string
		}{
			{"--signers-sha256", allowed, a, "--signers-sha256: that is sha256sum's output for allowed_signers, not the digest alone: " +
				"pass --signers-sha256 " + a[0] + ", or the file with --allowed-signers allowed_signers"},
			{"--signers-sha256", binary, a, "--signers-sha256: that is sha256sum's output for allowed_signers, not the digest alone: " +
				"pass --signers-sha256 " + a[0] + ", or the file with --allowed-signers allowed_signers"},
			{"--signers-sha256", both, ar, "--signers-sha256: that is sha256sum's output for allowed_signers and revoked_keys, " +
				"not the digests alone: pass --signers-sha256 " + ar[0] + "," + ar[1] +
				", or the files with --allowed-signers allowed_signers --revoked-keys revoked_keys"},
			{"--signers-sha256", ar[0] + " " + ar[1], ar, "--signers-sha256: digests separated by white space: " +
				"pass --signers-sha256 " + ar[0] + "," + ar[1]},
			{"--signers-sha256", strings.Join([]string{ar[0], ar[1], a[0]}, ","), nil, "--signers-sha256: 3 digests: " +
				"give the allowed_signers file's SHA-256, then optionally a comma and the revoked keys list's " +
				"(repeat the flag for another version of the files)"},
			{"--signers-sha256", "abc", nil, `--signers-sha256: "abc" is not a SHA-256 in hex: give the allowed_signers file's ` +
				"SHA-256 (sha256sum FILE | cut -c1-64), then optionally a comma and the revoked keys list's, as GOVERNED_SIGNERS_SHA256 holds them"},
			{"--policy-sha256", policyLine, p, "--policy-sha256: that is sha256sum's output for access-policy.hcl, not the digest alone: " +
				"pass --policy-sha256 " + p[0] + ", or the file with --policy access-policy.hcl"},
			{"--policy-sha256", policies, pp, "--policy-sha256: that is sha256sum's output for access-policy.hcl and old-policy.hcl, " +
				"not the digests alone: pass --policy-sha256 " + pp[0] + "," + pp[1] + ", or the files with --policy access-policy.hcl --policy old-policy.hcl"},
			{"--policy-sha256", pp[0] + " " + pp[1], pp, "--policy-sha256: digests separated by white space: " +
				"pass --policy-sha256 " + pp[0] + "," + pp[1]},
		} {
			code, out, errOut := runCLI(cmd, "--ledger", location, tc.flag, tc.value)
			want := "governed " + cmd + ": " + tc.want + "\n"
			if code != 2 || out != "" || errOut != want {
				t.Errorf("%s %s %q = %d, %q,\n%q;\nwant exit 2 and\n%q", cmd, tc.flag, tc.value, code, out, errOut, want)
			}
			for _, d := range tc.digests {
				if n := strings.Count(errOut, d); n != 1 {
					t.Errorf("%s %s %q prints digest %s %d times, want once:\n%s", cmd, tc.flag, tc.value, d, n, errOut)
				}
			}
		}
	}
	if _, err := os.Stat(location); !os.IsNotExist(err) {
		t.Errorf("a usage error left a ledger at %s (%v)", location, err)
	}
}

// TestDigestFlagsGivenUnquotedSha256sumOutput: sha256sum's output passed
// without quotes ($(sha256sum FILE)) leaves the file's name over as an
// argument; the usage error says so in one line and names the exact value to
// pass, before the ledger is read. Other leftover arguments keep the plain
// message.
func TestDigestFlagsGivenUnquotedSha256sumOutput(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("sha256sum"); err != nil {
		t.Fatal("sha256sum is not installed")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "access-policy.hcl"), []byte("# policy\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sha256sum", "access-policy.hcl")
	cmd.Dir = dir
	b, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	split := strings.Fields(string(b)) // as the shell splits an unquoted $(sha256sum access-policy.hcl)
	digest := split[0]
	location := filepath.Join(dir, "governed.db")
	for _, cmdName := range []string{"verify", "evidence"} {
		for _, tc := range []struct {
			args []string
			flag string
		}{
			{append([]string{"--policy-sha256"}, split...), "--policy-sha256"},
			{append([]string{"-signers-sha256=" + digest}, split[1:]...), "--signers-sha256"},
		} {
			code, out, errOut := runCLI(append([]string{cmdName, "--ledger", location}, tc.args...)...)
			want := "governed " + cmdName + `: unexpected argument "access-policy.hcl" after ` + tc.flag +
				"'s digest: that is sha256sum's output passed without quotes, which the shell split into the digest " +
				"and the file's name: pass the digest alone, " +
				tc.flag + " " + digest + "\n"
			if code != 2 || out != "" || errOut != want {
				t.Errorf("%s %q = %d, %q,\n%q;\nwant exit 2 and\n%q", cmdName, tc.args, code, out, errOut, want)
			}
		}
		// A leftover argument after anything else is the plain usage error.
		code, _, errOut := runCLI(cmdName, "--ledger", location, "extra")
		if code != 2 || !strings.HasPrefix(errOut, "governed "+cmdName+": unexpected argument \"extra\"\nUsage: ") {
			t.Errorf("%s extra = %d, %q; want the plain usage error", cmdName, code, errOut)
		}
	}
	if _, err := os.Stat(location); !os.IsNotExist(err) {
		t.Errorf("a usage error left a ledger at %s (%v)", location, err)
	}
}
