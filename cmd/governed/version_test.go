package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	for _, v := range []string{"dev", "1.4.0"} {
		t.Run(v, func(t *testing.T) {
			saved := version
			version = v // as -X main.version=... sets it
			t.Cleanup(func() { version = saved })
			var stdout, stderr bytes.Buffer
			if code := run([]string{"version"}, &stdout, &stderr); code != exitOK {
				t.Fatalf("exit code %d, want %d; stderr: %s", code, exitOK, stderr.String())
			}
			if got, want := stdout.String(), "governed "+v+"\n"; got != want {
				t.Errorf("stdout = %q, want %q", got, want)
			}
			if stderr.Len() != 0 {
				t.Errorf("stderr = %q, want nothing", stderr.String())
			}
		})
	}
}

func TestVersionIsInTheUsageText(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"help"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit code %d, want %d", code, exitOK)
	}
	if !strings.Contains(stdout.String(), "\n  version ") {
		t.Errorf("the usage text does not list the version command:\n%s", stdout.String())
	}
}
