package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/governed-entitlements/terraform-provider-governed/internal/review"
)

// The plans under internal/review/testdata/plans were made with the real
// Terraform CLI and the provider (internal/provider's TestAccReview_goldens).
const reviewPlans = "../../internal/review/testdata/plans"

func TestReviewExitCodes(t *testing.T) {
	t.Parallel()
	plan := func(name, file string) string { return filepath.Join(reviewPlans, name, file) }
	notJSON := filepath.Join(t.TempDir(), "plan.txt")
	if err := os.WriteFile(notJSON, []byte("Terraform will perform the following actions:\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"new access, plain", []string{"--plan", plan("new", "plan.json")}, exitOK},
		{"new access, detailed", []string{"--plan", plan("new", "plan.json"), "--detailed-exitcode"}, exitAddsAccess},
		{"expiry only, detailed", []string{"--plan", plan("expiry", "plan.json"), "--detailed-exitcode"}, exitOK},
		{"refused, log only", []string{"--plan-log", plan("refused", "plan.jsonl")}, exitProblem},
		{"refused, errored plan without its log", []string{"--plan", plan("refused", "plan.json")}, exitProblem},
		{"unsigned record", []string{"--plan", plan("unsigned", "plan.json"), "--plan-log", plan("unsigned", "plan.jsonl")}, exitProblem},
		{"no input", nil, exitUsage},
		{"missing file", []string{"--plan", filepath.Join(t.TempDir(), "absent.json")}, exitUsage},
		{"not a plan", []string{"--plan", notJSON}, exitUsage},
		{"a log given as the plan", []string{"--plan", plan("new", "plan.jsonl")}, exitUsage},
		{"bad format", []string{"--plan", plan("new", "plan.json"), "--format", "html"}, exitUsage},
		{"bad duration", []string{"--plan", plan("new", "plan.json"), "--expiring-within", "soon"}, exitUsage},
	} {
		code, out, errOut := runCLI(append([]string{"review"}, tc.args...)...)
		if code != tc.want {
			t.Errorf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", tc.name, code, tc.want, out, errOut)
		}
		if code == exitUsage && errOut == "" {
			t.Errorf("%s: exit 2 without saying why", tc.name)
		}
		if code != exitUsage && !strings.HasPrefix(out, review.Marker) {
			t.Errorf("%s: the Markdown review does not start with its marker:\n%s", tc.name, out)
		}
	}
}
