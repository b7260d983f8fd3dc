package ledger

import (
	"context"
	"fmt"
)

// subjectEventsQuery is the query of SubjectEvents: the events of one kind
// of record, by subject then sequence number, through the events_subject
// index; with one parameter more when a subject is given.
func subjectEventsQuery(d dialect, subject string) string {
	q := `SELECT ` + eventColumns + ` FROM events WHERE type LIKE ` + d.param(1)
	if subject != "" {
		q += ` AND subject = ` + d.param(2)
	}
	return q + ` ORDER BY subject, seq`
}

// subjectEventsArgs are the parameters of subjectEventsQuery.
func subjectEventsArgs(kind, subject string) ([]any, error) {
	if kind != "grant" && kind != "approval" {
		return nil, fmt.Errorf("no events of kind %q: ask for grant or approval", kind)
	}
	args := []any{kind + ".%"}
	if subject != "" {
		args = append(args, subject)
	}
	return args, nil
}

// SubjectEvents calls fn for the events about records of kind, record by
// record (see Store.SubjectEvents).
func (l *Ledger) SubjectEvents(ctx context.Context, kind, subject string, fn func(Event) error) error {
	return l.s.SubjectEvents(ctx, kind, subject, fn)
}

// Policies calls fn for every kept policy document, by digest.
func (l *Ledger) Policies(ctx context.Context, fn func(digest string, document []byte) error) error {
	return l.s.Policies(ctx, fn)
}
