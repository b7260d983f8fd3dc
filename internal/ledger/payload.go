package ledger

import (
	"bytes"
	"encoding/json"
	"time"
	"unicode/utf8"
)

// The payload members that verification of meaning reads, by index into a
// payloadFields.
const (
	fID = iota
	fStatus
	fApprovalID
	fPolicyDigest
	fPrincipal
	fEntitlement
	fTicketID
	fExpiresAt
	fBreakGlass
	fRevokePending
	fRetiredAt
	fReplaces
	fGrantID
	fPreviousGrantID
	fDigest
	fEvidence
	fAllowedSigners
	fRevokedKeys
	numFields
)

// fieldNames are the JSON names of the members payloadFields reads.
var fieldNames = [numFields]string{
	fID: "id", fStatus: "status", fApprovalID: "approval_id", fPolicyDigest: "policy_digest",
	fPrincipal: "principal", fEntitlement: "entitlement", fTicketID: "ticket_id", fExpiresAt: "expires_at",
	fBreakGlass: "break_glass", fRevokePending: "revoke_pending", fRetiredAt: "retired_at", fReplaces: "replaces",
	fGrantID: "grant_id", fPreviousGrantID: "previous_grant_id", fDigest: "digest", fEvidence: "approval_evidence",
	fAllowedSigners: "allowed_signers_sha256", fRevokedKeys: "revoked_keys_sha256",
}

// payloadFields holds the raw values of the members read from one payload:
// a string's bytes between its quotes (decoded only when it holds an escape
// or is not UTF-8),
// any other value as written; nil for a member the payload does not have or
// gives as null, which Go's decoder reads as the member's zero value.
type payloadFields [numFields][]byte

// member is what readPayload knows of the member named key: its index
// into a payloadFields (-1 for a member governed writes but verification
// does not read, -2 for a name governed never writes), its kind as Grant and
// Approval declare it, and, for a name governed never writes that Go's
// decoder, matching names regardless of case (foldName), would take for one
// verification reads, that member's index as alias (-1 for none).
func member(key []byte) (index, kind, alias int) {
	if i, k, ok := governedMember(key); ok {
		return i, k, -1
	}
	if folded, ok := foldName(key); ok {
		if i, k, ok := governedMember(folded); ok {
			return -2, k, i
		}
	}
	return -2, memberOther, -1
}

// governedMember is the index into a payloadFields (-1 for none) and the
// kind of the member governed writes under name, false for another name.
func governedMember(name []byte) (index, kind int, ok bool) {
	switch string(name) {
	case "id":
		return fID, memberString, true
	case "status":
		return fStatus, memberString, true
	case "approval_id":
		return fApprovalID, memberString, true
	case "policy_digest":
		return fPolicyDigest, memberString, true
	case "principal":
		return fPrincipal, memberString, true
	case "entitlement":
		return fEntitlement, memberString, true
	case "ticket_id":
		return fTicketID, memberString, true
	case "expires_at":
		return fExpiresAt, memberString, true
	case "break_glass":
		return fBreakGlass, memberBool, true
	case "revoke_pending":
		return fRevokePending, memberBool, true
	case "retired_at":
		return fRetiredAt, memberTime, true
	case "replaces":
		return fReplaces, memberString, true
	case "grant_id":
		return fGrantID, memberString, true
	case "previous_grant_id":
		return fPreviousGrantID, memberString, true
	case "digest":
		return fDigest, memberString, true
	case "approval_evidence":
		return fEvidence, memberString, true
	case "allowed_signers_sha256":
		return fAllowedSigners, memberString, true
	case "revoked_keys_sha256":
		return fRevokedKeys, memberString, true
	case "requester", "justification", "target", "role", "target_server", "ttl", "revocation_reason",
		"revocation_note", "revoke_error", "revoke_note", "statement":
		return -1, memberString, true
	case "granted_at", "revoked_at", "approved_at", "withdrawn_at":
		return -1, memberTime, true
	case "approvers":
		return -1, memberStrings, true
	case "signatures", "signer_keys":
		return -1, memberMap, true
	}
	return 0, memberOther, false
}

// readPayload reads the members of a payload's top-level JSON object that
// verification of meaning needs, in one pass and without allocating for the
// payloads governed writes. It returns a problem, in words, for a payload
// that is not one JSON object, or that could be read otherwise than as it
// reads it: a member twice, or a member named like one it reads but in
// other letter case (Go's decoder, which the rest of governed reads
// payloads with, matches names regardless of case and keeps the last of
// two).
func readPayload(data []byte, out *payloadFields) string {
	return readPayloadTyped(data, out, true)
}

// readPayloadTyped is readPayload, which also holds the members governed
// writes to their types when types is set (memberTypeProblem).
func readPayloadTyped(data []byte, out *payloadFields, types bool) string {
	*out = payloadFields{}
	var seen [numFields]bool
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return "its payload is not a JSON object"
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return trailing(data, i+1)
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return "its payload is not well-formed JSON"
		}
		key, escaped, end := scanString(data, i)
		if end < 0 {
			return "its payload is not well-formed JSON"
		}
		if escaped {
			var s string
			if json.Unmarshal(data[i:end], &s) != nil {
				return "its payload is not well-formed JSON"
			}
			key = []byte(s)
		}
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return "its payload is not well-formed JSON"
		}
		i = skipSpace(data, i+1)
		start := i
		var valEnd int
		var valEscaped bool
		if i < len(data) && data[i] == '"' {
			_, valEscaped, valEnd = scanString(data, i)
		} else {
			valEnd = skipValue(data, i)
		}
		if valEnd < 0 || valEnd == start {
			return "its payload is not well-formed JSON"
		}
		// A literal, number, array or object is held to JSON's grammar
		// whole, so that nothing verification takes is refused by the
		// decoder every other read of the record uses (a "tru", a "01", a
		// "[tru]" would make the record unreadable, and with it its
		// revocation).
		if !wellFormed(data[start:valEnd], valEscaped) {
			return "its payload is not well-formed JSON"
		}
		k, kind, alias := member(key)
		if types {
			if problem := memberTypeProblem(key, kind, data[start:valEnd]); problem != "" {
				return problem
			}
		}
		if alias >= 0 {
			return "its payload has a member " + quote(key) + ", which governed never writes and would read as " + quote([]byte(fieldNames[alias]))
		}
		if k >= 0 {
			if seen[k] {
				return "its payload has the member " + quote(key) + " twice"
			}
			seen[k] = true
			v := data[start:valEnd]
			switch {
			case string(v) == "null":
				v = nil // as Go's decoder reads it: the member's zero value
			case v[0] == '"':
				v = v[1 : len(v)-1]
				if valEscaped || !utf8.Valid(v) { // the decoder reads bad UTF-8 as U+FFFD
					var s string
					if json.Unmarshal(data[start:valEnd], &s) != nil {
						return "its payload is not well-formed JSON"
					}
					v = []byte(s)
				}
			}
			out[k] = v
		}
		i = skipSpace(data, valEnd)
		if i >= len(data) {
			return "its payload is not well-formed JSON"
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return trailing(data, i+1)
		default:
			return "its payload is not well-formed JSON"
		}
	}
}

// wellFormed reports whether v, a value scanned by readPayload (escaped
// when it is a string holding an escape), is well-formed JSON: a string's
// escapes must be JSON's, and a literal, number, array or object must
// follow JSON's grammar whole.
func wellFormed(v []byte, escaped bool) bool {
	switch {
	case v[0] == '"':
		return !escaped || json.Valid(v)
	case string(v) == "true", string(v) == "false", string(v) == "null":
		return true
	}
	return json.Valid(v)
}

func quote(b []byte) string {
	q, _ := json.Marshal(string(b))
	return string(q)
}

func trailing(data []byte, i int) string {
	if skipSpace(data, i) != len(data) {
		return "its payload is not well-formed JSON"
	}
	return ""
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString reads the JSON string that opens at data[i] ('"'): its bytes
// between the quotes, whether it holds an escape, and the index after its
// closing quote (-1 when it has none, or when it holds a control character,
// which JSON allows only escaped).
func scanString(data []byte, i int) (s []byte, escaped bool, end int) {
	j := i + 1
	for {
		for j < len(data) && !stringStop[data[j]] {
			j++
		}
		if j >= len(data) {
			return nil, false, -1
		}
		switch data[j] {
		case '"':
			return data[i+1 : j], escaped, j + 1
		case '\\':
			escaped = true
			j += 2
		default: // a control character
			return nil, false, -1
		}
	}
}

// stringStop holds the bytes at which scanString stops inside a string: a
// quote, a backslash and the control characters.
var stringStop = func() (stop [256]bool) {
	for c := range 0x20 {
		stop[c] = true
	}
	stop['"'], stop['\\'] = true, true
	return stop
}()

// maxValueDepth is how deeply a member's value may nest arrays and
// objects: Go's decoder refuses a document nested more than 10000 deep, and
// the payload's object is one level of it.
const maxValueDepth = 10000 - 1

// skipValue returns the index after the JSON value (not a string) that
// starts at data[i]: an object or array with everything in it, or a
// literal or number; -1 when it does not end, or nests deeper than
// maxValueDepth.
func skipValue(data []byte, i int) int {
	if i >= len(data) {
		return -1
	}
	if data[i] != '{' && data[i] != '[' {
		j := i
		for j < len(data) {
			switch data[j] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return j
			}
			j++
		}
		return j
	}
	depth := 0
	for i < len(data) {
		switch data[i] {
		case '"':
			_, _, end := scanString(data, i)
			if end < 0 {
				return -1
			}
			i = end
			continue
		case '{', '[':
			if depth++; depth > maxValueDepth {
				return -1
			}
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
		i++
	}
	return -1
}

// JSON kinds of the members governed writes, as Grant and Approval declare
// them.
const (
	memberOther   = iota // not a member governed reads: any value
	memberString         // string
	memberBool           // bool
	memberTime           // time.Time: an RFC 3339 string
	memberStrings        // []string
	memberMap            // map[string]string
)

// foldName is name as Go's decoder matches member names, regardless of
// case (bytes.EqualFold), for the names governed writes: ASCII letters in
// lower case, U+017F (long s) as s and U+212A (Kelvin sign) as k, the only
// letters outside ASCII that fold to one in it. It is false for a name that
// cannot match one governed writes.
func foldName(name []byte) ([]byte, bool) {
	var buf [24]byte // longer than any name governed writes
	folded := buf[:0]
	for i := 0; i < len(name); {
		c := name[i]
		switch {
		case c < utf8.RuneSelf:
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			i++
		case bytes.HasPrefix(name[i:], longS):
			c, i = 's', i+len(longS)
		case bytes.HasPrefix(name[i:], kelvinSign):
			c, i = 'k', i+len(kelvinSign)
		default:
			return nil, false
		}
		if len(folded) == len(buf) {
			return nil, false
		}
		folded = append(folded, c)
	}
	return folded, true
}

var (
	longS      = []byte("\u017f")
	kelvinSign = []byte("\u212a")
)

// memberTypeProblem says whether v, the well-formed value of the member
// named key, is of a type Go's decoder would refuse for that member: a
// payload verification takes must be one every other read can decode, or a
// record could be made unreadable, and with it its revocation.
func memberTypeProblem(key []byte, kind int, v []byte) string {
	if kind == memberOther || string(v) == "null" {
		return ""
	}
	ok := false
	switch kind {
	case memberString:
		ok = v[0] == '"'
	case memberBool:
		ok = string(v) == "true" || string(v) == "false"
	case memberTime:
		if v[0] != '"' {
			ok = false // v is well-formed: a string is at least two quotes
		} else if _, fast := parseUTCFast(v[1 : len(v)-1]); fast {
			ok = true // the form governed writes, which Go's decoder takes
		} else {
			var t time.Time
			ok = t.UnmarshalJSON(v) == nil // what Go's decoder calls
		}
	case memberStrings:
		ok = v[0] == '[' && stringsIn(v, false)
	case memberMap:
		ok = v[0] == '{' && stringsIn(v, true)
	}
	if ok {
		return ""
	}
	return "its payload's member " + quote(key) + " is not of the type governed writes"
}

// stringsIn reports whether every element of the well-formed array v, or
// every member value of the object v when object is set, is a string or null.
func stringsIn(v []byte, object bool) bool {
	i := skipSpace(v, 1)
	if i < len(v) && (v[i] == ']' || v[i] == '}') {
		return true
	}
	for i < len(v) {
		if object {
			_, _, end := scanString(v, i)
			if end < 0 {
				return false
			}
			i = skipSpace(v, end)
			i = skipSpace(v, i+1) // past ':'
		}
		switch {
		case i < len(v) && v[i] == '"':
			_, _, end := scanString(v, i)
			if end < 0 {
				return false
			}
			i = end
		case bytes.HasPrefix(v[i:], []byte("null")):
			i += 4
		default:
			return false
		}
		i = skipSpace(v, i)
		if i >= len(v) || v[i] != ',' {
			return true // the closing bracket: v is well-formed
		}
		i = skipSpace(v, i+1)
	}
	return false
}
