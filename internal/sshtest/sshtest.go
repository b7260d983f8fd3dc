// Package sshtest makes SSH keys and signatures with the installed OpenSSH
// ssh-keygen, for tests of signed approvals: the same program approvers use,
// so that the tests check what governed accepts against what OpenSSH writes.
package sshtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Key is a key pair that ssh-keygen made in a test's temporary directory.
type Key struct {
	// Private is the private key's file.
	Private string
	// Public is the public key as one authorized_keys line ("ssh-ed25519 AAAA… comment").
	Public string
	// Fingerprint is the key's SHA256 fingerprint ("SHA256:…").
	Fingerprint string
}

// EnvRequire makes a missing ssh-keygen fail the tests that need it instead
// of skipping them; `make test` sets it.
const EnvRequire = "GOVERNED_REQUIRE_SSH_KEYGEN"

// Require skips the test when ssh-keygen is not installed, or fails it where
// EnvRequire is set.
func Require(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("ssh-keygen"); err == nil {
		return
	}
	if os.Getenv(EnvRequire) != "" {
		t.Fatalf("ssh-keygen is not installed (%s is set, so this is a failure, not a skip); make ssh-keygen installs it", EnvRequire)
	}
	t.Skipf("skipped: ssh-keygen is not installed (make ssh-keygen installs it; set %s=1 to make this a failure)", EnvRequire)
}

// NewKey makes a key of type kind ("ed25519", "ecdsa" or "rsa") without a
// passphrase. Without ssh-keygen it skips the test (see Require).
func NewKey(t testing.TB, kind string) Key {
	t.Helper()
	Require(t)
	file := filepath.Join(t.TempDir(), "id_"+kind)
	args := []string{"-q", "-t", kind, "-N", "", "-C", "test-" + kind, "-f", file}
	if kind == "rsa" {
		args = append(args, "-b", "3072")
	}
	run(t, "", "ssh-keygen", args...)
	pub, err := os.ReadFile(file + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	fp := strings.Fields(run(t, "", "ssh-keygen", "-l", "-E", "sha256", "-f", file+".pub"))
	if len(fp) < 2 {
		t.Fatalf("ssh-keygen -l printed %q", fp)
	}
	return Key{Private: file, Public: strings.TrimSpace(string(pub)), Fingerprint: fp[1]}
}

// Sign signs message in namespace with ssh-keygen -Y sign and returns the
// armored signature (-----BEGIN SSH SIGNATURE-----).
func (k Key) Sign(t testing.TB, namespace, message string) string {
	t.Helper()
	return run(t, message, "ssh-keygen", "-q", "-Y", "sign", "-n", namespace, "-f", k.Private)
}

// Verify checks a signature with ssh-keygen -Y verify against an
// allowed_signers file, as the guide tells a reviewer to, and reports whether
// OpenSSH accepts it.
func Verify(t testing.TB, allowedSigners, identity, namespace, message, signature string) bool {
	t.Helper()
	dir := t.TempDir()
	as := filepath.Join(dir, "allowed_signers")
	sig := filepath.Join(dir, "msg.sig")
	if err := os.WriteFile(as, []byte(allowedSigners), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sig, []byte(signature), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ssh-keygen", "-Y", "verify", "-f", as, "-I", identity, "-n", namespace, "-s", sig)
	cmd.Stdin = strings.NewReader(message)
	return cmd.Run() == nil
}

func run(t testing.TB, stdin, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr)
	}
	return string(out)
}
