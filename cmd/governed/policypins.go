package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/governed-entitlements/terraform-provider-governed/internal/evidence"
	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// policyPinFlags are --policy-sha256 and --policy (each repeatable), of
// verify and evidence: the policy documents the auditor trusts, from outside
// the ledger. Every decision must name one of them, so that a policy
// document an insider kept in the ledger does not vouch for their decisions.
type policyPinFlags struct {
	// digests are the --policy-sha256 values as given, each a comma
	// separated list; files the --policy paths. Both are checked after
	// parsing, so that a bad value is one line.
	digests, files []string
	// pins are the accepted digests, lowercase hex, in the order given,
	// once each.
	pins []string
}

// policyPinSynopsis is the flags' part of a synopsis.
const policyPinSynopsis = "[--policy-sha256 HEX[,HEX...]]... [--policy F]..."

func (c *command) policyPinFlags(fs *flag.FlagSet) *policyPinFlags {
	f := &policyPinFlags{}
	fs.Func("policy-sha256", "accept only decisions judged by policy documents with these SHA-256 digests, in hex, as\n"+
		"GOVERNED_POLICY_SHA256 pinned them over time (comma separated, repeatable): every approval and grant\n"+
		"must name one", func(v string) error {
		f.digests = append(f.digests, v)
		return nil
	})
	fs.Func("policy", "a policy file you trust, from a place outside the ledger (repeatable): its SHA-256 is pinned as\n"+
		"with --policy-sha256", func(v string) error {
		f.files = append(f.files, v)
		return nil
	})
	return f
}

// pin checks the flags' values and adds the digests they pin to t. A value
// that is not a SHA-256, or a file that cannot be read or is not a policy
// document, is a usage error of one line.
func (f *policyPinFlags) pin(c *command, t *evidence.Trust) (int, bool) {
	add := func(d string) {
		if !slices.Contains(f.pins, d) {
			f.pins = append(f.pins, d)
		}
	}
	for _, v := range f.digests {
		d := readDigests(v)
		if d.hasBad {
			return c.fail(exitUsage, "--policy-sha256: %q is not a SHA-256 in hex, as GOVERNED_POLICY_SHA256 holds it "+
				"(what sha256sum prints for the policy file)", d.bad), false
		}
		if m := d.misread("--policy-sha256"); m != "" {
			if len(d.files) > 0 {
				files := "the file with"
				if len(d.files) > 1 {
					files = "the files with"
				}
				for _, name := range d.files {
					files += " --policy " + showName(name)
				}
				m += ", or " + files
			}
			return c.fail(exitUsage, "--policy-sha256: %s", m), false
		}
		for _, digest := range d.digests {
			add(digest)
		}
	}
	for _, path := range f.files {
		src, err := os.ReadFile(path)
		if err != nil {
			return c.fail(exitUsage, "--policy: %v", err), false
		}
		if _, err := policy.ParseKept(src); err != nil {
			return c.fail(exitUsage, "--policy: %s is not a policy document: %s", path, firstProblem(err)), false
		}
		// The digest the provider compares GOVERNED_POLICY_SHA256 with, and
		// decisions name: the SHA-256 of the file's bytes.
		add(policy.DocumentDigest(src))
	}
	t.PolicyPins = f.pins
	return exitOK, true
}

// firstProblem is the first of a policy parse error's problems, with how
// many more there are, on one line.
func firstProblem(err error) string {
	var pe *policy.ParseError
	if !errors.As(err, &pe) {
		return err.Error()
	}
	msgs := pe.Messages()
	switch len(msgs) {
	case 0:
		return err.Error()
	case 1:
		return msgs[0]
	}
	return fmt.Sprintf("%s (and %d more)", msgs[0], len(msgs)-1)
}

// describe says what the flags held decisions to, for the success output;
// "" without them.
func (f *policyPinFlags) describe() string {
	if len(f.pins) == 0 {
		return ""
	}
	return "every decision names a pinned policy: " + strings.Join(f.pins, " or ")
}

// noteUnkept writes to standard error, one line each, the pinned digests
// under which the ledger keeps no policy document: no decision can name
// them, which is most often a digest mistyped or taken from another file.
// It decides nothing: verification still holds every decision to the pins.
// A ledger whose kept documents cannot be read gets no note.
func (f *policyPinFlags) noteUnkept(ctx context.Context, c *command, l *ledger.Ledger) {
	if len(f.pins) == 0 {
		return
	}
	kept := map[string]bool{}
	if err := l.Policies(ctx, func(digest string, _ []byte) error {
		kept[digest] = true
		return nil
	}); err != nil {
		return
	}
	for _, d := range f.pins {
		if !kept[d] {
			fmt.Fprintf(c.stderr, "note: the ledger keeps no policy with SHA-256 %s, so no decision names it: check the "+
				"pinned digest against sha256sum of the policy file, or pin the file with --policy\n", d)
		}
	}
}
