package main

import (
	"flag"
	"os"
	"strings"

	"github.com/governed-entitlements/terraform-provider-governed/internal/evidence"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// signersFlags are --allowed-signers, --revoked-keys and --signers-sha256
// (repeatable), of verify and evidence: what the auditor trusts about
// approvers' keys, from outside the ledger.
type signersFlags struct {
	allowed, revoked string
	// values are the --signers-sha256 values as given, checked after
	// parsing so that a bad one is one line; pins are the accepted ones,
	// lower-case, each the allowed_signers file's digest, then optionally a
	// comma and the revoked keys list's, as GOVERNED_SIGNERS_SHA256 holds them.
	values, pins []string
}

// signersSynopsis is the flags' part of a synopsis.
const signersSynopsis = "[--allowed-signers F [--revoked-keys R]] [--signers-sha256 A[,R]]..."

func (c *command) signersFlags(fs *flag.FlagSet) *signersFlags {
	f := &signersFlags{}
	fs.StringVar(&f.allowed, "allowed-signers", "", "your organisation's OpenSSH allowed_signers file, from a place you trust: every key an\n"+
		"approval record counted must be listed there for its approver, valid when it was recorded")
	fs.StringVar(&f.revoked, "revoked-keys", "", "public keys, one a line, that count for nobody (with --allowed-signers)")
	fs.Func("signers-sha256", "accept only signed approvals verified against kept key files with these digests: the\n"+
		"SHA-256 of the allowed_signers file, then a comma and that of the revoked keys list where the policy\n"+
		"names one, as GOVERNED_SIGNERS_SHA256 (repeatable, one per version of the files)", func(v string) error {
		f.values = append(f.values, v)
		return nil
	})
	return f
}

// trust reads the files the flags name into what verification holds signed
// approvals to. An unreadable or invalid file is a usage error.
func (f *signersFlags) trust(c *command, fs *flag.FlagSet) (evidence.Trust, int, bool) {
	var t evidence.Trust
	for _, v := range f.values {
		d := readDigests(v)
		switch {
		case d.hasBad:
			return t, c.fail(exitUsage, "--signers-sha256: %q is not a SHA-256 in hex: give the allowed_signers file's SHA-256 "+
				"(sha256sum FILE | cut -c1-64), then optionally a comma and the revoked keys list's, as "+
				"GOVERNED_SIGNERS_SHA256 holds them", d.bad), false
		case len(d.digests) > 2:
			return t, c.fail(exitUsage, "--signers-sha256: %d digests: give the allowed_signers file's SHA-256, then "+
				"optionally a comma and the revoked keys list's (repeat the flag for another version of the files)",
				len(d.digests)), false
		}
		if m := d.misread("--signers-sha256"); m != "" {
			// sha256sum names the allowed_signers file, then the revoked
			// keys list: the files themselves may be given instead.
			switch len(d.files) {
			case 1:
				m += ", or the file with --allowed-signers " + showName(d.files[0])
			case 2:
				m += ", or the files with --allowed-signers " + showName(d.files[0]) + " --revoked-keys " + showName(d.files[1])
			}
			return t, c.fail(exitUsage, "--signers-sha256: %s", m), false
		}
		f.pins = append(f.pins, strings.Join(d.digests, ","))
	}
	t.SignersPins = f.pins
	if f.allowed == "" {
		if f.revoked != "" {
			return t, c.usageError(fs, "--revoked-keys goes with --allowed-signers: name the allowed_signers file you trust"), false
		}
		return t, exitOK, true
	}
	allowed, err := os.ReadFile(f.allowed)
	if err != nil {
		return t, c.fail(exitUsage, "--allowed-signers: %v", err), false
	}
	var revoked []byte
	if f.revoked != "" {
		if revoked, err = os.ReadFile(f.revoked); err != nil {
			return t, c.fail(exitUsage, "--revoked-keys: %v", err), false
		}
	}
	s, err := policy.ParseSigners(f.allowed, allowed, f.revoked, revoked)
	if err != nil {
		return t, c.fail(exitUsage, "%v", err), false
	}
	if len(s.Allowed) == 0 {
		return t, c.fail(exitUsage, "--allowed-signers: %s lists no key", f.allowed), false
	}
	t.Signers = s
	return t, exitOK, true
}

// describe says what the flags held signed approvals to, for the success
// output; "" without them.
func (f *signersFlags) describe() string {
	var parts []string
	if f.allowed != "" {
		parts = append(parts, "the keys "+f.allowed+" lists for their approvers")
	}
	if len(f.pins) > 0 {
		parts = append(parts, "key files with SHA-256 "+strings.Join(f.pins, " or "))
	}
	if len(parts) == 0 {
		return ""
	}
	return "every signed approval holds against " + strings.Join(parts, ", and ")
}
