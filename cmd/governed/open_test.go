package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// A ledger that is not there gets a message that says where governed looked
// and how to point it at the right one, and the flag help names the default
// once.
func TestMissingLedgerSaysWhatToDo(t *testing.T) {
	t.Setenv("GOVERNED_LEDGER", "")
	missing := filepath.Join(t.TempDir(), "governed.db")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"grants", "--ledger", missing}, &stdout, &stderr); code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
	if msg := stderr.String(); !strings.Contains(msg, "does not exist") || !strings.Contains(msg, "--ledger") ||
		!strings.Contains(msg, "terraform apply ran") {
		t.Fatalf("stderr = %q", msg)
	}
	stderr.Reset()
	run([]string{"grants", "-h"}, &stdout, &stderr)
	if help := stderr.String(); strings.Count(help, "governed.db") != 1 {
		t.Fatalf("flag help names the default ledger %d times:\n%s", strings.Count(help, "governed.db"), help)
	}
}
