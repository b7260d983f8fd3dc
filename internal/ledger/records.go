package ledger

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
)

// currentRow names the current-state row an append replaces.
type currentRow struct {
	table string
	kind  string
	id    string
}

// appendRecord is what every store appends for one event about a record: the
// current-state row it replaces, the record's expiry and its payload.
type appendRecord struct {
	row       currentRow
	expiresAt string
	data      []byte
}

// grantRecord checks an append of an event about g and encodes its payload.
func grantRecord(eventType string, g Grant) (appendRecord, error) {
	return newAppendRecord(eventType, grantEventTypes, currentRow{"grants", "grant", g.ID}, g.Status, g.ExpiresAt, g)
}

// approvalRecord checks an append of an event about a and encodes its payload.
func approvalRecord(eventType string, a Approval) (appendRecord, error) {
	return newAppendRecord(eventType, approvalEventTypes, currentRow{"approvals", "approval", a.ID}, a.Status, a.ExpiresAt, a)
}

func newAppendRecord(eventType string, allowed []string, row currentRow, status, expiresAt string, payload any) (appendRecord, error) {
	if !slices.Contains(allowed, eventType) {
		article := "a"
		if strings.HasPrefix(row.kind, "a") {
			article = "an"
		}
		return appendRecord{}, fmt.Errorf("event type %q is not about %s %s", eventType, article, row.kind)
	}
	if err := checkRecord(row.kind, row.id, status, expiresAt); err != nil {
		return appendRecord{}, err
	}
	data, err := json.Marshal(payload)
	if err != nil {
		return appendRecord{}, err
	}
	return appendRecord{row: row, expiresAt: expiresAt, data: data}, nil
}

// checkRecord refuses a record the current-state tables cannot index.
func checkRecord(kind, id, status, expiresAt string) error {
	if id == "" {
		return fmt.Errorf("a %s needs an id", kind)
	}
	if strings.IndexFunc(id, unicode.IsControl) >= 0 {
		return fmt.Errorf("%s id %q holds a control character", kind, id)
	}
	if status == "" {
		return fmt.Errorf("%s %q has no status", kind, id)
	}
	// The same form SQLite's date functions read, so that the generated
	// expires_unix column always has a value.
	if _, err := time.Parse(time.RFC3339, expiresAt); err != nil || strings.ContainsAny(expiresAt, "tz") {
		return fmt.Errorf("%s %q: expires_at %q is not an RFC 3339 time such as 2026-12-01T17:00:00Z", kind, id, expiresAt)
	}
	return nil
}
