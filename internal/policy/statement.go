package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode"
)

// statementHeader opens every statement and names its format version. Any change
// to the layout below must change the version, because digests already recorded
// in the ledger were computed over the old layout. Version 1 lacked the
// target, the role and the ledger; records made with it keep their statement
// and digest, which stay the SHA-256 of the text the ledger holds.
const statementHeader = "governed approval v2"

// Statement returns the canonical text of an approval: what its approvers sign,
// and what the ledger keeps. It is line-oriented, one "key: value" per line:
//
//	governed approval v2
//	ticket: SEC-1234
//	entitlement: payments-db-read
//	target: postgres.payments
//	role: payments_read
//	principal: svc-payments-api
//	approvers: alice@example.com, carol@example.com
//	requester: dev@example.com
//	expires_at: 2026-12-01T17:00:00Z
//	justification: Quarterly reconciliation
//	ledger: 9f3c…
//
// The target and role are the entitlement's in this policy (empty for an
// entitlement it does not define), and the ledger is the id of the ledger the
// approval is recorded in, so that a signature cannot be replayed for another
// access or in another ledger.
//
// Identities (principal, approvers, requester) appear normalised, and approvers
// distinct and sorted, so the statement does not depend on their order, case,
// surrounding spaces or Unicode form. The requester is the resource's, else the
// first of the requesters named outside it (the provider's). expires_at is the instant in UTC when it parses, else the text as
// given. Ticket, entitlement and justification appear exactly as written.
// Backslashes, control characters (such as line breaks) and, within the approver
// list, commas are escaped, so no value can forge another line or approver.
func (p *Policy) Statement(req ApprovalRequest) string {
	var target, role string
	if e := p.Entitlements[req.Entitlement]; e != nil {
		target, role = e.Target, e.Role
	}
	approvers := normalizedSet(req.Approvers)
	escaped := make([]string, len(approvers))
	for i, a := range approvers {
		escaped[i] = strings.ReplaceAll(escapeValue(a), ",", `\,`)
	}
	requester := NormalizeIdentity(req.Requester)
	for _, r := range req.Requesters {
		if requester != "" {
			break
		}
		requester = NormalizeIdentity(r.Identity)
	}
	expires := req.ExpiresAt
	if t, err := ParseTimestamp(req.ExpiresAt); err == nil {
		expires = stamp(t)
	}

	var b strings.Builder
	line := func(key, value string) {
		b.WriteString(key)
		b.WriteString(": ")
		b.WriteString(value)
		b.WriteByte('\n')
	}
	b.WriteString(statementHeader)
	b.WriteByte('\n')
	line("ticket", escapeValue(req.TicketID))
	line("entitlement", escapeValue(req.Entitlement))
	line("target", escapeValue(target))
	line("role", escapeValue(role))
	line("principal", escapeValue(NormalizeIdentity(req.Principal)))
	line("approvers", strings.Join(escaped, ", "))
	line("requester", escapeValue(requester))
	line("expires_at", escapeValue(expires))
	line("justification", escapeValue(req.Justification))
	line("ledger", escapeValue(req.LedgerID))
	return b.String()
}

// Digest returns the lowercase hexadecimal SHA-256 of a statement.
func Digest(statement string) string {
	sum := sha256.Sum256([]byte(statement))
	return hex.EncodeToString(sum[:])
}

// escapeValue writes a value on one line: a backslash as `\\`, line breaks and
// tabs as `\n`, `\r` and `\t`, and any other control character or Unicode line
// or paragraph separator as `\uXXXX`.
func escapeValue(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r == '\\' || needsEscape(r) }) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case needsEscape(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func needsEscape(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

// statementMismatch says how a recorded approval's statement contradicts the
// record it is kept with, or "". A statement of version 2 must name the
// record's ticket, entitlement and principal and the ledger it is recorded in
// (ledgerID, when known): a record whose fields were changed after it was
// signed, or that was copied from another ledger, keeps signatures over a
// statement about something else. Statements of version 1 name no ledger and
// are checked for the rest.
func statementMismatch(a *Approval, ledgerID string) string {
	fields := map[string]string{}
	lines := strings.Split(a.Statement, "\n")
	for _, line := range lines[1:] {
		if k, v, ok := strings.Cut(line, ": "); ok {
			fields[k] = v
		} else if k, ok := strings.CutSuffix(line, ":"); ok {
			fields[k] = ""
		}
	}
	want := []struct{ key, value string }{
		{"ticket", escapeValue(a.TicketID)},
		{"entitlement", escapeValue(a.Entitlement)},
		{"principal", escapeValue(NormalizeIdentity(a.Principal))},
	}
	switch lines[0] {
	case statementHeader:
		if ledgerID != "" {
			want = append(want, struct{ key, value string }{"ledger", escapeValue(ledgerID)})
		}
	case "governed approval v1":
	default:
		return "has no statement governed can read"
	}
	for _, w := range want {
		if got, ok := fields[w.key]; !ok || got != w.value {
			return fmt.Sprintf("is kept with a statement whose %s is %q, not %q", w.key, got, w.value)
		}
	}
	return ""
}

// RecordedStatementMismatch says how the statement an approval record keeps
// contradicts the record's own scope, or "": its ticket, entitlement and
// principal (as statementMismatch checks them for a grant), its ledger where
// ledgerID is given, and its expiry, which bounds the grants the record
// authorises. expiresAt is the record's expiry as the ledger keeps it (RFC
// 3339 text); the statement's must be the same instant, or, where either
// cannot be read as a time, the same text. Verification holds every recorded
// approval to it: without it, someone who can append to the ledger could copy
// a legitimate record's statement and signatures into a record for another
// principal or a later expiry, and every signature would still verify.
func RecordedStatementMismatch(ticketID, entitlement, principal, expiresAt, statement, ledgerID string) string {
	a := &Approval{TicketID: ticketID, Entitlement: entitlement, Principal: principal, Statement: statement}
	if problem := statementMismatch(a, ledgerID); problem != "" {
		return problem
	}
	var got string
	found := false
	for _, line := range strings.Split(statement, "\n")[1:] {
		if v, ok := strings.CutPrefix(line, "expires_at: "); ok {
			got, found = v, true
			break
		}
	}
	if !found {
		return "is kept with a statement that names no expires_at"
	}
	want := escapeValue(expiresAt)
	stated, err1 := ParseTimestamp(got)
	recorded, err2 := ParseTimestamp(expiresAt)
	if err1 == nil && err2 == nil {
		if !stated.Equal(recorded) {
			return fmt.Sprintf("is kept with a statement whose expires_at is %q, not %q", got, stamp(recorded))
		}
		return ""
	}
	if got != want {
		return fmt.Sprintf("is kept with a statement whose expires_at is %q, not %q", got, want)
	}
	return ""
}
