package policy

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"

	"github.com/hashicorp/hcl/v2"
)

// The limits on what governed reads and records. A value past one is refused
// where it is first seen (a policy document when it is parsed, a grant's or an
// approval's values at plan), never copied into the ledger, and the same
// whatever store holds the ledger: what one store could not keep (PostgreSQL
// keeps no NUL, and no UTC offset past ±15:59) is refused for all, so that a
// ledger can move between stores.
const (
	// MaxDocumentBytes bounds a policy document (HCL or JSON), in bytes.
	MaxDocumentBytes = 1 << 20
	// MaxDocumentNesting bounds how deeply brackets, braces, parentheses and
	// unary operators nest in a policy document: the parser recurses on each
	// level.
	MaxDocumentNesting = 32
	// MaxIdentityBytes bounds a principal, an approver and a requester, in
	// bytes of UTF-8.
	MaxIdentityBytes = 256
	// MaxTicketBytes bounds a ticket id and an approval id, in bytes.
	MaxTicketBytes = 256
	// MaxJustificationBytes bounds a justification, which every event of its
	// grant or approval carries, in bytes.
	MaxJustificationBytes = 4096
	// MaxApprovers bounds how many approvers a grant or approval lists.
	MaxApprovers = 64
	// MaxOffsetHours bounds the hours of a timestamp's UTC offset: PostgreSQL
	// refuses offsets past ±15:59.
	MaxOffsetHours = 15
)

// Limit is one limit as the policy guide lists it.
type Limit struct {
	// What the limit applies to, such as "justification".
	What string
	// Max is the limit, with its unit.
	Max string
}

// Limits lists the limits in guide order; the policy guide's table is
// generated from it.
var Limits = []Limit{
	{"policy document", fmt.Sprintf("%d bytes (1 MiB)", MaxDocumentBytes)},
	{"nesting in a policy document (brackets, braces, parentheses, unary operators)", fmt.Sprintf("%d levels", MaxDocumentNesting)},
	{"principal, each approver, requester", fmt.Sprintf("%d bytes, no control characters", MaxIdentityBytes)},
	{"ticket_id, approval_id", fmt.Sprintf("%d bytes, no control characters", MaxTicketBytes)},
	{"justification", fmt.Sprintf("%d bytes, no control characters but tab and newline", MaxJustificationBytes)},
	{"approvers", fmt.Sprintf("%d entries", MaxApprovers)},
	{"UTC offset of expires_at", fmt.Sprintf("±%02d:59", MaxOffsetHours)},
}

// The rules of the limits on values.
var (
	RuleValueTooLong = Rule{"value.too_long", "A value stays within its limit in the policy guide's table of limits: every event of a grant or approval carries its values.", "Shorten the value: link to a longer text from the ticket instead of copying it."}
	RuleValueControl = Rule{"value.control_character", "Identities, tickets and ids hold no control characters (NUL, escape, newline and the like); a justification holds none but tab and newline. A terminal would act on them when the value is shown, and PostgreSQL cannot store NUL.", "Remove the control characters from the value."}
)

// textKind says which characters a value may hold.
type textKind int

const (
	kindName  textKind = iota // identities, tickets, ids: no control characters
	kindProse                 // justification: tab and newline allowed
)

// controlProblem says which control character s holds, if any it may not.
// Spaces around a name, which identities are compared without, are not
// looked at.
func controlProblem(s string, kind textKind) string {
	if kind == kindName {
		s = strings.TrimSpace(s)
	}
	for i, r := range s {
		if kind == kindProse && (r == '\t' || r == '\n' || r == '\r') {
			continue
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return fmt.Sprintf("holds the control character %U at byte %d", r, i)
		}
	}
	return ""
}

// CheckProse checks free text that every event of a record carries, such as
// a justification or the reason given for a revocation: at most
// MaxJustificationBytes bytes, no control characters but tab and newline. The
// error says what is wrong and where, without repeating the text.
func CheckProse(value string) error {
	if len(value) > MaxJustificationBytes {
		return fmt.Errorf("is %d bytes long, past its limit of %d (%s). %s", len(value), MaxJustificationBytes, RuleValueTooLong.Name, RuleValueTooLong.Fix)
	}
	if problem := controlProblem(value, kindProse); problem != "" {
		return fmt.Errorf("%s (%s). %s", problem, RuleValueControl.Name, RuleValueControl.Fix)
	}
	return nil
}

// checkValue refuses a known value past its limit or holding control
// characters, under attr; the attribute is then left out of the other checks,
// so that one mistake gives one error.
func (ev *evaluation) checkValue(attr, value string, limit int, kind textKind) {
	if !ev.known(attr) {
		return
	}
	switch {
	case len(value) > limit:
		ev.add(RuleValueTooLong, attr, "%s is %d bytes long, past its limit of %d", attr, len(value), limit)
	default:
		problem := controlProblem(value, kind)
		if problem == "" {
			return
		}
		ev.add(RuleValueControl, attr, "%s %s", attr, problem)
	}
	ev.setAside(attr)
}

// checkLimits applies the value limits to a grant's or approval's values
// (approvalID is empty for an approval).
func (ev *evaluation) checkLimits(s subject, approvalID, justification string) {
	ev.checkValue(AttrPrincipal, s.principal, MaxIdentityBytes, kindName)
	ev.checkValue(AttrRequester, s.requester, MaxIdentityBytes, kindName)
	ev.checkValues(AttrApprovers, s.approvers, MaxIdentityBytes)
	ev.checkValue(AttrTicketID, s.ticket, MaxTicketBytes, kindName)
	ev.checkValue(AttrApprovalID, approvalID, MaxTicketBytes, kindName)
	ev.checkValue(AttrJustification, justification, MaxJustificationBytes, kindProse)
}

// checkValues applies checkValue to each of values, under attr, and bounds
// their number.
func (ev *evaluation) checkValues(attr string, values []string, limit int) {
	if !ev.known(attr) {
		return
	}
	if len(values) > MaxApprovers {
		ev.add(RuleValueTooLong, attr, "%s lists %d entries, past its limit of %d", attr, len(values), MaxApprovers)
		ev.setAside(attr)
		return
	}
	for i, v := range values {
		if len(v) > limit {
			ev.add(RuleValueTooLong, attr, "%s entry %d is %d bytes long, past its limit of %d", attr, i+1, len(v), limit)
		} else if problem := controlProblem(v, kindName); problem != "" {
			ev.add(RuleValueControl, attr, "%s entry %d %s", attr, i+1, problem)
		} else {
			continue
		}
		ev.setAside(attr)
		return
	}
}

// setAside leaves attr out of the evaluation's other checks, as if unknown,
// once a limit refused it.
func (ev *evaluation) setAside(attr string) {
	if ev.unknown == nil {
		ev.unknown = map[string]bool{}
	}
	ev.unknown[attr] = true
}

// offsetProblem says why a timestamp's UTC offset (valid RFC 3339) is past
// MaxOffsetHours, or "".
func offsetProblem(s string) string {
	if n := len(s); n >= 6 && (s[n-6] == '+' || s[n-6] == '-') && s[n-3] == ':' {
		if h, ok := digits(s[n-5 : n-3]); ok && h > MaxOffsetHours {
			return fmt.Sprintf("has offset %s, past ±%02d:59, the widest a ledger keeps", s[n-6:], MaxOffsetHours)
		}
	}
	return ""
}

// checkDocumentSize refuses a policy document past MaxDocumentBytes or
// nested past MaxDocumentNesting before the parser sees it: the parser
// recurses on each level of nesting, and a document nested deeply enough
// would exhaust the stack.
func checkDocumentSize(name string, src []byte) hcl.Diagnostics {
	if len(src) > MaxDocumentBytes {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Policy document too large",
			Detail: fmt.Sprintf("The document is %d bytes, past the limit of %d (1 MiB). A policy lists entitlements, "+
				"groups and identities; split off what is not policy.", len(src), MaxDocumentBytes),
			Subject: &hcl.Range{Filename: name, Start: hcl.InitialPos, End: hcl.InitialPos},
		}}
	}
	if pos, ok := nestingPast(src, MaxDocumentNesting); ok {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Policy document nested too deeply",
			Detail: fmt.Sprintf("Brackets, braces, parentheses or unary operators nest past %d levels here. No policy "+
				"needs that many; flatten the expression.", MaxDocumentNesting),
			Subject: &hcl.Range{Filename: name, Start: pos, End: pos},
		}}
	}
	return nil
}

// nestingPast reports where src first nests past limit levels: opening
// brackets, braces and parentheses (also inside quoted strings, whose
// interpolations the parser reads as expressions) and runs of the unary
// operators ! and - outside strings and comments.
func nestingPast(src []byte, limit int) (hcl.Pos, bool) {
	depth, unary := 0, 0
	inString, inLineComment, inBlockComment := false, false, false
	line, col := 1, 1
	for i := 0; i < len(src); i++ {
		c := src[i]
		pos := hcl.Pos{Line: line, Column: col, Byte: i}
		if c == '\n' {
			line, col = line+1, 1
			inLineComment = false
		} else {
			col++
		}
		switch {
		case inLineComment:
			continue
		case inBlockComment:
			if c == '*' && i+1 < len(src) && src[i+1] == '/' {
				inBlockComment = false
			}
			continue
		}
		switch c {
		case '"':
			if !inString || !escaped(src, i) {
				inString = !inString
			}
		case '[', '{', '(':
			depth++
			if depth > limit {
				return pos, true
			}
		case ']', '}', ')':
			if depth > 0 {
				depth--
			}
		case '#':
			if !inString {
				inLineComment = true
			}
		case '/':
			if !inString && i+1 < len(src) && (src[i+1] == '/' || src[i+1] == '*') {
				inLineComment, inBlockComment = src[i+1] == '/', src[i+1] == '*'
			}
		case '!', '-':
			if !inString {
				if unary++; unary > limit {
					return pos, true
				}
			}
			continue
		case ' ', '\t', '\r', '\n':
			continue
		}
		unary = 0
	}
	return hcl.Pos{}, false
}

// escaped reports whether the quote at src[i] is escaped by an odd number of
// backslashes.
func escaped(src []byte, i int) bool {
	n := len(src[:i]) - len(bytes.TrimRight(src[:i], `\`))
	return n%2 == 1
}
