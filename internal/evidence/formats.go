package evidence

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// csvSafe keeps a spreadsheet from reading a cell as a formula: a cell
// that starts with = + - @ or a tab gets a leading apostrophe.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// csvRows returns a CSV writer on w and a function that writes one row.
func csvRows(w io.Writer) (*csv.Writer, func(*Row) error) {
	cw := csv.NewWriter(w)
	record := make([]string, len(columns))
	return cw, func(r *Row) error {
		for i, c := range columns {
			record[i] = csvSafe(c.get(r))
		}
		return cw.Write(record)
	}
}

func writeCSV(w *bufio.Writer, each func(func(*Row) error) error) error {
	cw, write := csvRows(w)
	if err := cw.Write(ColumnNames()); err != nil {
		return err
	}
	if err := each(write); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

func writeJSON(w *bufio.Writer, rep *Report, each func(func(*Row) error) error) error {
	head, err := json.MarshalIndent(struct {
		*Report
		Controls []Control `json:"controls"`
	}{rep, Controls}, "", "  ")
	if err != nil {
		return err
	}
	// The report's fields, then the rows streamed into its "grants" array.
	// A bufio.Writer keeps its first error; Write returns it at the Flush.
	_, _ = w.Write(head[:len(head)-2])
	fmt.Fprint(w, ",\n  \"grants\": [")
	first := true
	err = each(func(r *Row) error {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if !first {
			fmt.Fprint(w, ",")
		}
		first = false
		fmt.Fprint(w, "\n    ")
		_, err = w.Write(b)
		return err
	})
	if err != nil {
		return err
	}
	_, err = w.WriteString("\n  ]\n}\n")
	return err
}

// mdCell escapes text from the ledger (principals, tickets, approvers,
// notes) for a Markdown table cell or list item: it cannot open a link,
// emphasis or a code span, add HTML or hide the rest of the report in an
// HTML comment, or end the cell or the line.
func mdCell(s string) string { return mdReplacer.Replace(s) }

var mdReplacer = strings.NewReplacer(
	"\\", "\\\\", "`", "\\`", "*", "\\*", "_", "\\_", "[", "\\[", "]", "\\]", "<", "&lt;", ">", "&gt;", "&", "&amp;",
	"|", "\\|", "#", "\\#", "~", "\\~", "\r", " ", "\n", " ",
)

// mdCode is the text of a code span in a Markdown table cell: a backtick or
// line break cannot end it, nor a pipe the cell.
func mdCode(s string) string {
	return strings.NewReplacer("`", "'", "\n", " ", "\r", " ", "|", "\\|").Replace(s)
}

func verdictMark(v string) string {
	switch v {
	case VerdictNo:
		return "❌ no"
	case RevokedNotDue:
		return "⏳ not due"
	case RevokedNotApplicable:
		return "n/a"
	}
	return "✅ " + v
}

func writeMarkdown(w *bufio.Writer, rep *Report, rows Rows) error {
	fmt.Fprintf(w, "## Access evidence: %s\n\n", verdictLine(rep))
	for _, line := range summaryLines(rep) {
		fmt.Fprintf(w, "- %s\n", mdCell(line))
	}
	fmt.Fprint(w, "\n| grant | principal | entitlement | ticket | approvers | authorised | time bound | revoked on time | expires | access removed | lateness | proof (events) |\n")
	fmt.Fprint(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	err := rows.Each(func(r *Row) error {
		lateness := mdCell(r.Lateness)
		if r.Overdue {
			lateness += " **overdue**"
		}
		removed := r.AccessRemovedAt
		if removed == "" {
			removed = "in force"
		}
		proof := fmt.Sprintf("A: %s; T: %s; R: %s", seqs(r.AuthorisedEvents), seqs(r.TimeBoundEvents), seqs(r.RevokedOnTimeEvents))
		fmt.Fprintf(w, "| `%s` | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			mdCode(r.GrantID), mdCell(r.Principal), mdCell(r.Entitlement), mdCell(r.TicketID), mdCell(list(r.Approvers)),
			verdictMark(r.Authorised), verdictMark(r.TimeBound), verdictMark(r.RevokedOnTime),
			mdCell(r.ExpiresAt), mdCell(removed), lateness, proof)
		return nil
	})
	if err != nil {
		return err
	}
	notes := false
	err = rows.EachFailed(func(r *Row) error {
		if !notes {
			fmt.Fprint(w, "\n### Findings\n\n")
			notes = true
		}
		fmt.Fprintf(w, "- `%s` (%s, %s, %s): %s\n", mdCode(r.GrantID), mdCell(r.Principal), mdCell(r.Entitlement),
			mdCell(r.TicketID), mdCell(findings(r)))
		return nil
	})
	if err != nil {
		return err
	}
	_, err = w.WriteString("\nFull columns: `governed evidence --format csv` or `--format json`. Controls: " + controlIDs() + ".\n")
	return err
}

// findings says why a row fails, verdict by verdict.
func findings(r *Row) string {
	var parts []string
	if r.Authorised == VerdictNo {
		parts = append(parts, "not authorised: "+r.AuthorisedNote)
	}
	if r.TimeBound == VerdictNo {
		parts = append(parts, "not time bound: "+r.TimeBoundNote)
	}
	if r.RevokedOnTime == VerdictNo {
		parts = append(parts, "not revoked on time: "+r.RevokedOnTimeNote)
	}
	return strings.Join(parts, "; ")
}

// verdictLine is the report's one-line outcome.
func verdictLine(rep *Report) string {
	switch {
	case !rep.Ledger.Verified:
		return "the ledger does not verify"
	case rep.Ledger.Checkpoint != "" && !rep.Ledger.CheckpointExtended:
		return "the ledger does not extend its checkpoint"
	case rep.Summary.Failed > 0:
		return fmt.Sprintf("%d of %s fail a verdict", rep.Summary.Failed, grants(rep.Summary.Grants))
	case rep.Summary.Grants == 0:
		return "no grants in the period: nothing to judge"
	}
	if rep.Summary.Grants == 1 {
		return "the 1 grant authorised, time bound and revoked on time"
	}
	return fmt.Sprintf("all %d grants authorised, time bound and revoked on time", rep.Summary.Grants)
}

// grants is n with "grant" or "grants".
func grants(n int) string {
	if n == 1 {
		return "1 grant"
	}
	return fmt.Sprintf("%d grants", n)
}

// summaryLines are the report's facts, one sentence each.
func summaryLines(rep *Report) []string {
	s := rep.Summary
	period := "all time"
	switch {
	case rep.Period.From != "" && rep.Period.To != "":
		period = rep.Period.From + " to " + rep.Period.To
	case rep.Period.From != "":
		period = "from " + rep.Period.From
	case rep.Period.To != "":
		period = "up to " + rep.Period.To
	}
	sel := ""
	if rep.Principal != "" {
		sel += ", principal " + rep.Principal
	}
	if rep.Entitlement != "" {
		sel += ", entitlement " + rep.Entitlement
	}
	ledgerLine := fmt.Sprintf("Ledger %s (%s): %d events, head %d %s; ", rep.Ledger.ID, rep.Ledger.Location, rep.Ledger.Events,
		rep.Ledger.HeadSeq, shortHash(rep.Ledger.HeadHash))
	if rep.Ledger.Verified {
		ledgerLine += "the hash chain verifies"
	} else {
		ledgerLine += "DOES NOT VERIFY: " + rep.Ledger.Problem
	}
	lines := []string{
		ledgerLine + ".",
		fmt.Sprintf("Period: %s%s; generated %s; revoked on time means within %s of expiry.", period, sel,
			stamp(rep.GeneratedAt), rep.MaxLateness),
	}
	if rep.Ledger.Checkpoint != "" {
		lines = append(lines, fmt.Sprintf("Checkpoint %s: %s.", rep.Ledger.Checkpoint, rep.Ledger.CheckpointResult))
	}
	for _, held := range strings.Split(strings.TrimSpace(rep.Ledger.trustLines()), "\n") {
		if held != "" {
			lines = append(lines, strings.ToUpper(held[:1])+held[1:]+".")
		}
	}
	lines = append(lines,
		fmt.Sprintf("%s, %d failing a verdict, %d overdue, %d break-glass.", grants(s.Grants), s.Failed, s.Overdue, s.BreakGlass),
		fmt.Sprintf("Authorised: %d signed, %d asserted (approvers named, unsigned), %d no.", s.Authorised[AuthorisedSigned],
			s.Authorised[AuthorisedAsserted], s.Authorised[VerdictNo]),
		fmt.Sprintf("Time bound: %d yes, %d no.", s.TimeBound[VerdictYes], s.TimeBound[VerdictNo]),
		fmt.Sprintf("Revoked on time: %d yes, %d no, %d not yet due, %d never in force.", s.RevokedOnTime[VerdictYes],
			s.RevokedOnTime[VerdictNo], s.RevokedOnTime[RevokedNotDue], s.RevokedOnTime[RevokedNotApplicable]),
	)
	return lines
}

func shortHash(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}
