package main

import (
	"bytes"
	"errors"
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

// failingWriter refuses every write, as a closed pipe or a full disk does.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

func TestOutputThatCannotBeWrittenFails(t *testing.T) {
	var stderr bytes.Buffer
	if code := run([]string{"version"}, failingWriter{}, &stderr); code != exitUsage {
		t.Fatalf("exit code %d with an unwritable output, want %d", code, exitUsage)
	}
	if !strings.Contains(stderr.String(), "no space left on device") {
		t.Errorf("stderr = %q, want the write error", stderr.String())
	}
}
