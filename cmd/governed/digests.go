package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// sha256Hex is the form of one SHA-256 digest once lower-cased: 64 hex
// digits, as sha256sum prints it and the GOVERNED_*_SHA256 variables hold it.
var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// digestValue is one value of a flag that takes SHA-256 digests
// (--signers-sha256, --policy-sha256), read leniently enough to say what was
// meant when it is not in the flag's form.
type digestValue struct {
	// digests are the digests found, lower-case hex, in order.
	digests []string
	// files are the names sha256sum printed beside the digests, where the
	// value was its output ("DIGEST  NAME" or "DIGEST *NAME", a line each).
	files []string
	// spaced is true when digests were separated by white space rather
	// than commas.
	spaced bool
	// bad is the first part that is not a digest, trimmed, when hasBad.
	bad    string
	hasBad bool
}

// readDigests reads v as comma separated SHA-256 digests in hex, noting
// where it is instead sha256sum's output pasted whole, or digests separated
// by white space. Empty lines (a pasted trailing newline) are skipped; an
// empty part between commas is bad.
func readDigests(v string) digestValue {
	var d digestValue
	for _, line := range strings.Split(v, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		for _, part := range strings.Split(line, ",") {
			part = strings.TrimSpace(part)
			fields := strings.Fields(part)
			if len(fields) == 0 {
				d.setBad(part)
				continue
			}
			// sha256sum starts a line with a backslash when it escaped the
			// file's name.
			first := strings.ToLower(strings.TrimPrefix(fields[0], `\`))
			if !sha256Hex.MatchString(first) {
				d.setBad(part)
				continue
			}
			if len(fields) == 1 {
				d.digests = append(d.digests, first)
				continue
			}
			if allDigests(fields) {
				d.spaced = true
				for _, f := range fields {
					d.digests = append(d.digests, strings.ToLower(f))
				}
				continue
			}
			d.digests = append(d.digests, first)
			name := strings.TrimSpace(strings.TrimPrefix(part, fields[0]))
			d.files = append(d.files, strings.TrimPrefix(name, "*"))
		}
	}
	return d
}

func (d *digestValue) setBad(part string) {
	if !d.hasBad {
		d.bad, d.hasBad = part, true
	}
}

func allDigests(fields []string) bool {
	for _, f := range fields {
		if !sha256Hex.MatchString(strings.ToLower(f)) {
			return false
		}
	}
	return true
}

// misread says, for a value that holds digests but not in the flag's form,
// what the value was and the exact value to pass instead, each digest once;
// "" when the value is in the flag's form.
func (d digestValue) misread(flagName string) string {
	pass := "pass " + flagName + " " + strings.Join(d.digests, ",")
	switch {
	case len(d.files) > 0:
		alone := "the digest alone"
		if len(d.digests) > 1 {
			alone = "the digests alone"
		}
		return fmt.Sprintf("that is sha256sum's output for %s, not %s: %s", fileList(d.files), alone, pass)
	case d.spaced:
		return "digests separated by white space: " + pass
	}
	return ""
}

// fileList is names for a message: "a", "a and b", "a, b and c"; a name with
// spaces or characters a terminal would not show is quoted.
func fileList(names []string) string {
	shown := make([]string, len(names))
	for i, n := range names {
		shown[i] = showName(n)
	}
	if len(shown) == 1 {
		return shown[0]
	}
	return strings.Join(shown[:len(shown)-1], ", ") + " and " + shown[len(shown)-1]
}

func showName(n string) string {
	if n == "" || strings.ContainsFunc(n, func(r rune) bool { return !unicode.IsGraphic(r) || unicode.IsSpace(r) }) {
		return strconv.Quote(n)
	}
	return n
}
