package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// newFlags returns the flag set of subcommand name (such as "revoke") whose
// help shows synopsis. Its flags are shown as --name, as the usage lines
// write them, each default once; parse reports errors itself.
func (c *command) newFlags(name, synopsis string) *flag.FlagSet {
	c.name, c.synopsis = "governed "+name, synopsis
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// printHelp writes the subcommand's synopsis, its note (c.helpNote, where it
// has one) and its flags to stderr (-h).
func (c *command) printHelp(fs *flag.FlagSet) {
	fmt.Fprintf(c.stderr, "Usage: %s %s\n\n", c.name, c.synopsis)
	if c.helpNote != "" {
		fmt.Fprintf(c.stderr, "%s\n\n", c.helpNote)
	}
	fmt.Fprint(c.stderr, "Flags:\n")
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if typ != "" {
			line += " " + typ
		}
		// A default the text does not already give, given once.
		if def := f.DefValue; def != "" && def != "false" && !strings.Contains(usage, "default") {
			usage += " (default " + def + ")"
		}
		fmt.Fprintf(c.stderr, "%s\n    \t%s\n", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
	})
}

// singleDash matches a flag named with one dash in the flag package's
// errors ("invalid value … for flag -status").
var singleDash = regexp.MustCompile(`(^|\s)-([A-Za-z][A-Za-z0-9-]*)`)

// parse parses the subcommand's flags. It returns an exit code and false when
// the command should stop: -h (exit 0) or bad flags (exit 2).
func (c *command) parse(fs *flag.FlagSet, args []string) (int, bool) {
	if code, ok := c.parseFlags(fs, args); !ok {
		return code, false
	}
	if fs.NArg() > 0 {
		if hint := unquotedSha256sum(args, fs.NArg()); hint != "" {
			fmt.Fprintf(c.stderr, "%s: unexpected argument %q %s\n", c.name, fs.Arg(0), hint)
			return exitUsage, false
		}
		return c.usageError(fs, "unexpected argument %q", fs.Arg(0)), false
	}
	return 0, true
}

// unquotedSha256sum says, when the first argument left over (of nargs, at
// the end of args) follows the value of a digest flag (--policy-sha256,
// --signers-sha256: one SHA-256 in hex), that sha256sum's output was passed
// without quotes, so the shell split the file's name off, and what to pass;
// "" otherwise.
func unquotedSha256sum(args []string, nargs int) string {
	i := len(args) - nargs
	if i < 1 {
		return ""
	}
	name, value := "", strings.ToLower(args[i-1])
	if n, v, ok := strings.Cut(value, "="); ok && strings.HasPrefix(n, "-") {
		name, value = n, v
	} else if i >= 2 {
		name = args[i-2]
	}
	name = "--" + strings.TrimLeft(name, "-")
	if !strings.HasSuffix(name, "-sha256") || !sha256Hex.MatchString(value) {
		return ""
	}
	return fmt.Sprintf("after %s's digest: that is sha256sum's output passed without quotes, "+
		"which the shell split into the digest and the file's name: pass the digest alone, %s %s", name, name, value)
}

// parseFlags parses the subcommand's flags and leaves its arguments to the
// caller: -h prints the help (exit 0), a bad flag its message (exit 2).
func (c *command) parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.printHelp(fs)
			return exitOK, false
		}
		return c.usageError(fs, "%s", singleDash.ReplaceAllString(err.Error(), "$1--$2")), false
	}
	return 0, true
}

// usageError reports one bad argument: the message, the synopsis, and where
// the flags are described; not the whole help.
func (c *command) usageError(_ *flag.FlagSet, format string, a ...any) int {
	fmt.Fprintf(c.stderr, "%s: %s\nUsage: %s %s\nRun \"%s -h\" for its flags.\n", c.name, fmt.Sprintf(format, a...),
		c.name, c.synopsis, c.name)
	return exitUsage
}
