package ledger

import (
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// A listing of grants (the governed_grants data source, the table of
// governed grants) shows a few members of each grant's payload, and a long
// listing spends most of its time decoding. decodeListedGrant reads those
// members, and the ones a filter checks, in one pass and without reflection;
// every other field of the Grant is left empty.

// ListedFields names the fields of a Grant that EachListedGrant fills, by
// their JSON names; the others are left at their zero values.
var ListedFields = []string{"id", "principal", "entitlement", "ticket_id", "approvers", "approval_id", "break_glass",
	"expires_at", "granted_at", "status", "revoked_at", "revocation_reason", "revoke_pending"}

// errListedPayload is the error of a payload decodeListedGrant cannot read.
var errListedPayload = errors.New("the payload is not a well-formed JSON object")

// decodeListedGrant sets the ListedFields of g from a grant's payload and
// clears the rest, as json.Unmarshal into a zero Grant sets those fields for
// the payloads governed writes (one member per name, in the case it writes;
// verification refuses any other). Seq is set to seq.
func decodeListedGrant(seq int64, data []byte, g *Grant) error {
	*g = Grant{Seq: seq}
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return errListedPayload
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return errListedPayload
		}
		key, keyEscaped, end := scanString(data, i)
		if end < 0 {
			return errListedPayload
		}
		if keyEscaped { // a name spelt with escapes, which Go's decoder and verification read unescaped
			var s string
			if json.Unmarshal(data[i:end], &s) != nil {
				return errListedPayload
			}
			key = []byte(s)
		}
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return errListedPayload
		}
		start := skipSpace(data, i+1)
		var valEnd int
		if start < len(data) && data[start] == '"' {
			_, _, valEnd = scanString(data, start)
		} else {
			valEnd = skipValue(data, start)
		}
		if valEnd < 0 || valEnd == start {
			return errListedPayload
		}
		v := data[start:valEnd]
		var err error
		switch string(key) {
		case "id":
			g.ID, err = listedString(v)
		case "principal":
			g.Principal, err = listedString(v)
		case "entitlement":
			g.Entitlement, err = listedString(v)
		case "ticket_id":
			g.TicketID, err = listedString(v)
		case "approval_id":
			g.ApprovalID, err = listedString(v)
		case "expires_at":
			g.ExpiresAt, err = listedString(v)
		case "status":
			g.Status, err = listedString(v)
		case "revocation_reason":
			g.RevocationReason, err = listedString(v)
		case "break_glass":
			g.BreakGlass, err = listedBool(v)
		case "revoke_pending":
			g.RevokePending, err = listedBool(v)
		case "granted_at":
			g.GrantedAt, err = listedTime(v)
		case "revoked_at":
			g.RevokedAt, err = listedTime(v)
		case "approvers":
			g.Approvers, err = listedStrings(v)
		}
		if err != nil {
			return err
		}
		i = skipSpace(data, valEnd)
		if i >= len(data) {
			return errListedPayload
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			if skipSpace(data, i+1) != len(data) {
				return errListedPayload
			}
			return nil
		default:
			return errListedPayload
		}
	}
}

// listedString decodes a JSON string, or null as "".
func listedString(v []byte) (string, error) {
	if v[0] != '"' {
		if string(v) == "null" {
			return "", nil
		}
		return "", errListedPayload
	}
	s := v[1 : len(v)-1]
	for _, c := range s {
		if c == '\\' || c < 0x20 || c >= 0x80 {
			// Escapes and anything but ASCII: as encoding/json decodes
			// them, invalid UTF-8 included.
			var out string
			if err := json.Unmarshal(v, &out); err != nil {
				return "", errListedPayload
			}
			return out, nil
		}
	}
	return string(s), nil
}

// listedBool decodes a JSON boolean, or null as false.
func listedBool(v []byte) (bool, error) {
	switch string(v) {
	case "true":
		return true, nil
	case "false", "null":
		return false, nil
	}
	return false, errListedPayload
}

// listedTime decodes a time as encoding/json does (RFC 3339), or null as
// the zero time.
func listedTime(v []byte) (time.Time, error) {
	if string(v) == "null" {
		return time.Time{}, nil
	}
	var t time.Time
	if err := t.UnmarshalJSON(v); err != nil {
		return time.Time{}, errListedPayload
	}
	return t, nil
}

// listedStrings decodes a JSON array of strings, or null as nil.
func listedStrings(v []byte) ([]string, error) {
	if string(v) == "null" {
		return nil, nil
	}
	if v[0] != '[' {
		return nil, errListedPayload
	}
	out := []string{}
	i := skipSpace(v, 1)
	if i < len(v) && v[i] == ']' {
		return out, nil
	}
	for {
		var end int
		switch {
		case i >= len(v):
			return nil, errListedPayload
		case v[i] == '"':
			_, _, end = scanString(v, i)
		case strings.HasPrefix(string(v[i:]), "null"):
			end = i + len("null") // as encoding/json, an empty string
		default:
			return nil, errListedPayload
		}
		if end < 0 {
			return nil, errListedPayload
		}
		s, err := listedString(v[i:end])
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		i = skipSpace(v, end)
		if i >= len(v) {
			return nil, errListedPayload
		}
		switch v[i] {
		case ',':
			i = skipSpace(v, i+1)
		case ']':
			return out, nil
		default:
			return nil, errListedPayload
		}
	}
}
