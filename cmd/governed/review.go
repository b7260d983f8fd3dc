package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
	"github.com/governed-entitlements/terraform-provider-governed/internal/review"
)

// exitAddsAccess is review's exit code, with --detailed-exitcode, when
// nothing blocks and the change adds or extends access.
const exitAddsAccess = 3

const reviewSynopsis = "--plan plan.json [--plan-log plan.jsonl] [--format md|json|github|sarif] [--expiring-within D] [--detailed-exitcode]"

// reviewFormats are the output formats of review, with what each is for.
var reviewFormats = []string{"md", "json", "github", "sarif"}

// review prints a pull request's grant diff from a saved plan's JSON and the
// plan's log. It reads those files only: no ledger, no policy, no network.
func (c *command) review(args []string) int {
	var planFile, logFile, format, expiring string
	var detailed bool
	fs := c.newFlags("review", reviewSynopsis) // no --ledger: a review reads the plan files only
	c.helpNote = "Exit codes: 0 nothing blocks; 1 something blocks (a refusal, an errored or incomplete\n" +
		"plan, a missing signature, a governed value unknown at plan); 2 bad usage or unreadable input;\n" +
		"3 with --detailed-exitcode, nothing blocks and access is added or extended."
	fs.StringVar(&planFile, "plan", "", "the JSON of a saved plan: terraform show -json PLANFILE > plan.json")
	fs.StringVar(&logFile, "plan-log", "", "the log of terraform plan -json (JSON lines); refusals come from it when the plan was refused\n"+
		"and no plan file was written")
	fs.StringVar(&format, "format", "md", "md (a pull-request comment, step summary or merge-request note, at most 65,536 characters),\n"+
		"json, github (workflow annotations) or sarif (2.1.0, for code scanning)")
	fs.StringVar(&expiring, "expiring-within", "", "also list unchanged grants that expire within this duration of the plan (e.g. 72h, 7d)")
	fs.BoolVar(&detailed, "detailed-exitcode", false, "exit 3 when nothing blocks and the change adds or extends access")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if !isOneOf(format, reviewFormats) {
		return c.usageError(fs, "--format %q: use one of %s", format, strings.Join(reviewFormats, ", "))
	}
	if planFile == "" && logFile == "" {
		return c.usageError(fs, "give --plan (terraform show -json PLANFILE), --plan-log (terraform plan -json), or both")
	}
	opts := review.Options{Now: c.now}
	if expiring != "" {
		d, err := policy.ParseDuration(expiring)
		if err != nil || d <= 0 {
			return c.usageError(fs, "--expiring-within %q: use a positive duration such as 72h or 7d", expiring)
		}
		opts.ExpiringWithin = d
	}
	var in review.Input
	if planFile != "" {
		if err := readInto(planFile, in.ReadPlan); err != nil {
			return c.fail(exitUsage, "--plan %s: %v", planFile, err)
		}
	}
	if logFile != "" {
		if err := readInto(logFile, in.ReadPlanLog); err != nil {
			return c.fail(exitUsage, "--plan-log %s: %v", logFile, err)
		}
	}
	r := review.Review(in, opts)
	var err error
	switch format {
	case "md":
		_, err = io.WriteString(c.stdout, r.Markdown(review.CommentLimit))
	case "json":
		err = r.WriteJSON(c.stdout)
	case "github":
		err = r.WriteGitHub(c.stdout)
	case "sarif":
		err = r.WriteSARIF(c.stdout)
	}
	if err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	switch {
	case r.IsBlocking():
		return exitProblem
	case detailed && r.AddsAccess:
		return exitAddsAccess
	}
	return exitOK
}

func readInto(name string, read func(io.Reader) error) error {
	f, err := os.Open(name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no such file")
		}
		return err
	}
	defer f.Close()
	return read(f)
}

func isOneOf(s string, list []string) bool {
	for _, x := range list {
		if s == x {
			return true
		}
	}
	return false
}
