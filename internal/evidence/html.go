package evidence

import (
	"bufio"
	"fmt"
	"html"
	"strings"
	"time"
)

// htmlStyle is the report's only style sheet, inline: the file stands alone,
// with no script and nothing fetched.
const htmlStyle = `
:root { --ink:#1c2430; --muted:#5b6675; --line:#d9dee5; --ok:#1f7a4d; --okbg:#e5f4ec; --bad:#b42318; --badbg:#fdecea;
  --warn:#8a5a00; --warnbg:#fff4dc; --info:#2f5fa8; --infobg:#e8f0fb; }
* { box-sizing: border-box; }
body { font: 13px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--ink); margin: 32px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.sub { color: var(--muted); margin: 0 0 18px; }
.outcome { padding: 10px 14px; border-radius: 6px; font-weight: 600; font-size: 15px; margin-bottom: 16px; }
.outcome.ok { background: var(--okbg); color: var(--ok); border: 1px solid #b7dfc8; }
.outcome.bad { background: var(--badbg); color: var(--bad); border: 1px solid #f3c3bd; }
.outcome.none { background: #f4f6f8; color: #1c2430; border: 1px solid #d5dbe2; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin-bottom: 12px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; min-width: 150px; }
.card .n { font-size: 24px; font-weight: 700; }
.card .l { color: var(--muted); font-size: 12px; }
.card.bad .n { color: var(--bad); }
.facts { margin: 0; padding-left: 18px; }
.facts li { margin: 2px 0; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 6px 8px; text-align: left; vertical-align: top; }
th { background: #f4f6f9; font-size: 12px; color: var(--muted); font-weight: 600; position: sticky; top: 0; }
tr.fail td { background: #fff8f7; }
tr.fail td:first-child { box-shadow: inset 3px 0 0 var(--bad); }
.t { white-space: nowrap; }
td.when { min-width: 205px; }
.k { color: var(--muted); font-size: 11px; display: inline-block; min-width: 48px; }
.findings { margin: 0; padding-left: 18px; }
.findings li { margin: 3px 0; }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
.muted { color: var(--muted); }
.small { font-size: 11px; }
.badge { display: inline-block; border-radius: 10px; padding: 1px 8px; font-size: 11px; font-weight: 600; white-space: nowrap; }
.b-ok { background: var(--okbg); color: var(--ok); }
.b-bad { background: var(--badbg); color: var(--bad); }
.b-warn { background: var(--warnbg); color: var(--warn); }
.b-info { background: var(--infobg); color: var(--info); }
.b-na { background: #eef0f3; color: var(--muted); }
.verdicts div { margin-bottom: 3px; }
.note { color: var(--bad); font-size: 11px; margin-top: 4px; max-width: 360px; }
.note.plain { color: var(--muted); }
.legend { display: flex; gap: 16px; align-items: baseline; color: var(--muted); font-size: 12px; margin: 6px 0 10px; flex-wrap: wrap; }
.legend svg { vertical-align: middle; }
.controls td:first-child { white-space: nowrap; font-weight: 600; }
footer { margin-top: 28px; color: var(--muted); font-size: 11px; }
@media print { body { margin: 12mm; } th { position: static; } tr { break-inside: avoid; } @page { size: A4 landscape; } }
`

func esc(s string) string { return html.EscapeString(s) }

func badge(v string) string {
	cls, text := "b-ok", v
	switch v {
	case VerdictNo:
		cls = "b-bad"
	case AuthorisedAsserted:
		cls = "b-info"
	case RevokedNotDue:
		cls, text = "b-warn", "not due"
	case RevokedNotApplicable:
		cls, text = "b-na", "n/a"
	}
	return `<span class="badge ` + cls + `">` + esc(text) + `</span>`
}

func writeHTML(w *bufio.Writer, rep *Report, rows Rows) error {
	s := rep.Summary
	fmt.Fprint(w, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>Access evidence · ledger ")
	fmt.Fprint(w, esc(rep.Ledger.ID)+"</title>\n<style>"+htmlStyle+"</style></head><body>\n")
	fmt.Fprint(w, "<h1>Access evidence: authorised, time bound, revoked on time</h1>\n")
	fmt.Fprintf(w, "<p class=\"sub\">Ledger <span class=\"mono\">%s</span> · generated %s by governed evidence</p>\n",
		esc(rep.Ledger.ID), esc(stamp(rep.GeneratedAt)))
	cls := "ok"
	switch {
	case rep.Failed():
		cls = "bad"
	case s.Grants == 0:
		cls = "none"
	}
	fmt.Fprintf(w, "<div class=\"outcome %s\">%s</div>\n", cls, esc(sentenceCase(verdictLine(rep))))

	card := func(n int, label string, bad bool) {
		c := "card"
		if bad && n > 0 {
			c += " bad"
		}
		fmt.Fprintf(w, "<div class=\"%s\"><div class=\"n\">%d</div><div class=\"l\">%s</div></div>", c, n, esc(label))
	}
	fmt.Fprint(w, "<div class=\"cards\">")
	card(s.Grants, "grants in the period", false)
	card(s.Failed, "failing a verdict", true)
	card(s.Authorised[VerdictNo], "not authorised", true)
	card(s.TimeBound[VerdictNo], "not time bound", true)
	card(s.RevokedOnTime[VerdictNo], "not revoked on time", true)
	card(s.Overdue, "overdue (in force past expiry)", true)
	card(s.BreakGlass, "break-glass", false)
	fmt.Fprint(w, "</div>\n<ul class=\"facts\">")
	for _, line := range summaryLines(rep) {
		fmt.Fprint(w, "<li>"+esc(line)+"</li>")
	}
	fmt.Fprint(w, "</ul>\n")

	if s.Failed > 0 {
		fmt.Fprint(w, "<h2>Findings</h2>\n<ul class=\"findings\">")
		if err := rows.EachFailed(func(r *Row) error {
			fmt.Fprintf(w, "<li><span class=\"mono\">%s</span> (%s, %s, ticket %s): %s</li>", esc(r.GrantID), esc(r.Principal),
				esc(r.Entitlement), esc(r.TicketID), esc(findings(r)))
			return nil
		}); err != nil {
			return err
		}
		fmt.Fprint(w, "</ul>\n")
	}
	fmt.Fprint(w, "<h2>Grants</h2>\n<div class=\"legend\">")
	fmt.Fprint(w, legendItem(`<rect x="0" y="3" width="22" height="8" rx="2" fill="#3b6fb6"/>`, "in force, before expiry"))
	fmt.Fprint(w, legendItem(`<rect x="0" y="3" width="22" height="8" rx="2" fill="#b9cde9"/>`, "still in force: now to expiry"))
	fmt.Fprint(w, legendItem(`<path d="M2 1 L12 7 L2 13 Z" fill="#3b6fb6"/>`, "now, in force"))
	fmt.Fprint(w, legendItem(`<rect x="0" y="3" width="22" height="8" rx="2" fill="#f0b429"/>`, "past expiry, within the allowed lateness"))
	fmt.Fprint(w, legendItem(`<rect x="0" y="3" width="22" height="8" rx="2" fill="#d92d20"/>`, "past expiry, late"))
	fmt.Fprint(w, legendItem(`<line x1="0" y1="7" x2="22" y2="7" stroke="#9aa4b2" stroke-dasharray="3 2" stroke-width="2"/>`, "removed before expiry"))
	fmt.Fprint(w, legendItem(`<path d="M11 1 L17 7 L11 13 L5 7 Z" fill="#1f7a4d"/>`, "access removed"))
	fmt.Fprint(w, legendItem(`<path d="M2 1 L12 7 L2 13 Z" fill="#d92d20"/>`, "OVERDUE: still in force past expiry"))
	fmt.Fprint(w, "</div>\n<table>\n<thead><tr><th>Grant</th><th>Authorisation</th><th>Time bound</th><th>Revocation</th><th>Verdicts</th><th>Timeline</th><th>Proof (event seq)</th></tr></thead>\n<tbody>\n")
	err := rows.Each(func(r *Row) error {
		rowClass := ""
		if r.Failed() {
			rowClass = ` class="fail"`
		}
		fmt.Fprintf(w, "<tr%s><td><div class=\"mono\">%s</div><div><b>%s</b></div><div>%s</div><div class=\"muted small\">%s · %s · ticket %s</div></td>",
			rowClass, esc(r.GrantID), esc(r.Principal), esc(r.Entitlement), esc(r.Target), esc(r.Role), esc(r.TicketID))

		fmt.Fprint(w, "<td>")
		fmt.Fprintf(w, "<div>approvers: %s</div>", esc(orDash(list(r.Approvers))))
		if r.MinApprovals != nil {
			fmt.Fprintf(w, "<div class=\"muted small\">min_approvals %d</div>", *r.MinApprovals)
		}
		if r.Signatures != "" {
			fmt.Fprintf(w, "<div class=\"small\">signatures %s</div>", esc(r.Signatures))
		}
		if len(r.Requesters) > 0 {
			fmt.Fprintf(w, "<div class=\"muted small\">requested by %s</div>", esc(list(r.Requesters)))
		}
		if r.ApprovalID != "" {
			fmt.Fprintf(w, "<div class=\"muted small mono\">%s</div>", esc(r.ApprovalID))
		}
		if r.BreakGlass {
			fmt.Fprintf(w, "<div><span class=\"badge b-warn\">break-glass</span> <span class=\"small\">%s</span></div>", esc(r.Justification))
		}
		fmt.Fprint(w, "</td><td class=\"when\">")
		fmt.Fprintf(w, "<div><span class=\"k\">granted</span> %s</div><div><span class=\"k\">expires</span> %s</div>", shown(r.GrantedAt), shown(r.ExpiresAt))
		if r.TTL != "" || r.MaxTTL != "" {
			fmt.Fprintf(w, "<div class=\"muted small\">ttl %s · max_ttl %s</div>", esc(orDash(r.TTL)), esc(orDash(r.MaxTTL)))
		}
		fmt.Fprint(w, "</td><td class=\"when\">")
		fmt.Fprintf(w, "<div>%s</div>", esc(r.Status))
		if r.Reason != "" {
			fmt.Fprintf(w, "<div class=\"muted small\">reason %s</div>", esc(r.Reason))
		}
		if r.DecidedAt != "" {
			fmt.Fprintf(w, "<div><span class=\"k\">decided</span> %s</div>", shown(r.DecidedAt))
		}
		fmt.Fprintf(w, "<div><span class=\"k\">removed</span> %s</div>", shown(r.AccessRemovedAt))
		if r.Lateness != "" {
			color := "muted"
			if r.RevokedOnTime == VerdictNo || r.Overdue {
				color = "note"
			}
			fmt.Fprintf(w, "<div class=\"%s small\">late by %s</div>", color, esc(r.Lateness))
		}
		fmt.Fprint(w, "</td><td class=\"verdicts\">")
		fmt.Fprintf(w, "<div>authorised %s</div><div>time bound %s</div><div>revoked on time %s</div>",
			badge(r.Authorised), badge(r.TimeBound), badge(r.RevokedOnTime))
		if f := findings(r); f != "" {
			fmt.Fprintf(w, "<div class=\"note\">%s</div>", esc(f))
		} else if r.AuthorisedNote != "" || r.RevokedOnTimeNote != "" {
			fmt.Fprintf(w, "<div class=\"note plain\">%s</div>", esc(joinNotes(r.AuthorisedNote, r.RevokedOnTimeNote)))
		}
		fmt.Fprint(w, "</td><td>")
		fmt.Fprint(w, timeline(r))
		fmt.Fprint(w, "</td><td class=\"mono small\">")
		fmt.Fprintf(w, "<div class=\"t\">A %s</div><div class=\"t\">T %s</div><div class=\"t\">R %s</div>", esc(commaSeqs(r.AuthorisedEvents)),
			esc(commaSeqs(r.TimeBoundEvents)), esc(commaSeqs(r.RevokedOnTimeEvents)))
		fmt.Fprint(w, "</td></tr>\n")
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprint(w, "</tbody></table>\n")

	fmt.Fprint(w, "<h2>Control mapping</h2>\n<table class=\"controls\"><thead><tr><th>Control</th><th>What it asks (summarised)</th><th>Columns that answer it</th></tr></thead><tbody>\n")
	for _, c := range Controls {
		fmt.Fprintf(w, "<tr><td>%s<div class=\"muted small\">%s</div></td><td>%s<div class=\"muted small\">%s</div></td><td class=\"mono small\">%s</td></tr>\n",
			esc(c.ID), esc(c.Framework), esc(c.Asks), esc(c.How), esc(strings.Join(c.Columns, ", ")))
	}
	fmt.Fprint(w, "</tbody></table>\n")
	fmt.Fprint(w, "<footer>Proof columns list ledger event sequence numbers: A authorised, T time bound, R revoked on time. "+
		"Read them with <span class=\"mono\">governed history GRANT</span>; verify the chain with <span class=\"mono\">governed verify</span>. "+
		"Times are UTC. Revoked on time means the access was removed within "+esc(rep.MaxLateness)+" of its expiry.</footer>\n")
	_, err = w.WriteString("</body></html>\n")
	return err
}

func legendItem(svg, label string) string {
	return `<span><svg width="24" height="14" viewBox="0 0 24 14" aria-hidden="true">` + svg + `</svg> ` + esc(label) + `</span>`
}

// shown is an RFC 3339 instant as the table shows it, on one line:
// "2026-03-01 09:00Z", with seconds only where they are not zero.
func shown(s string) string {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return esc(orDash(s))
	}
	layout := "2006-01-02 15:04Z"
	if t.Second() != 0 {
		layout = "2006-01-02 15:04:05Z"
	}
	return `<span class="t">` + t.UTC().Format(layout) + `</span>`
}

func commaSeqs(s []int64) string { return strings.ReplaceAll(seqs(s), " ", ", ") }

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func sentenceCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// lateColor is the colour of the time a grant was in force past its expiry:
// red when that made it late (revoked_on_time no, or overdue), amber while it
// is within the allowed lateness.
func lateColor(r *Row) string {
	if r.RevokedOnTime == VerdictNo || r.Overdue {
		return "#d92d20"
	}
	return "#f0b429"
}

// timeline draws one grant's life: issued → expiry → access removed, the
// lateness in red, an overdue grant marked.
func timeline(r *Row) string {
	const width, left, right = 300.0, 8.0, 8.0
	start := r.start
	if start.IsZero() {
		return ""
	}
	end := r.removed
	inForce := end.IsZero()
	if inForce {
		end = r.now
	}
	lo, hi := start, end
	if !r.expiry.IsZero() && r.expiry.After(hi) {
		hi = r.expiry
	}
	if !hi.After(lo) {
		hi = lo.Add(time.Hour)
	}
	span := float64(hi.Sub(lo))
	x := func(t time.Time) float64 { return left + (width-left-right)*float64(t.Sub(lo))/span }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg width="%d" height="46" viewBox="0 0 %d 46" role="img" aria-label="timeline of %s">`, int(width), int(width), esc(r.GrantID))
	fmt.Fprintf(&b, `<line x1="%.1f" y1="18" x2="%.1f" y2="18" stroke="#e3e7ec" stroke-width="2"/>`, left, width-right)
	bar := func(from, to time.Time, color string) {
		w := x(to) - x(from)
		if w < 1.5 {
			w = 1.5
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="13" width="%.1f" height="10" rx="2" fill="%s"/>`, x(from), w, color)
	}
	switch {
	case r.expiry.IsZero():
		bar(start, end, "#3b6fb6")
	case end.After(r.expiry):
		bar(start, r.expiry, "#3b6fb6")
		bar(r.expiry, end, lateColor(r))
	case inForce:
		// Still in force and not yet expired: what is left until the
		// expiry is pale, not the dashes of access removed early.
		bar(start, end, "#3b6fb6")
		bar(end, r.expiry, "#b9cde9")
	default:
		bar(start, end, "#3b6fb6")
		fmt.Fprintf(&b, `<line x1="%.1f" y1="18" x2="%.1f" y2="18" stroke="#9aa4b2" stroke-dasharray="3 2" stroke-width="2"/>`, x(end), x(r.expiry))
	}
	// Issue.
	fmt.Fprintf(&b, `<circle cx="%.1f" cy="18" r="4" fill="#fff" stroke="#3b6fb6" stroke-width="2"/>`, x(start))
	// Expiry.
	if !r.expiry.IsZero() {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="8" x2="%.1f" y2="28" stroke="#1c2430" stroke-width="1.5"/>`, x(r.expiry), x(r.expiry))
	}
	// Removal, or the open end of access still in force.
	if !inForce {
		xr := x(end)
		fmt.Fprintf(&b, `<path d="M%.1f 12 L%.1f 18 L%.1f 24 L%.1f 18 Z" fill="#1f7a4d"/>`, xr, xr+6, xr, xr-6)
	} else {
		xe := x(end)
		fmt.Fprintf(&b, `<path d="M%.1f 11 L%.1f 18 L%.1f 25 Z" fill="%s"/>`, xe-1, xe+6, xe-1, map[bool]string{true: "#d92d20", false: "#3b6fb6"}[r.Overdue])
	}
	label := func(xpos float64, anchor, text, color string) {
		fmt.Fprintf(&b, `<text x="%.1f" y="40" font-size="9.5" text-anchor="%s" fill="%s">%s</text>`, xpos, anchor, color, esc(text))
	}
	label(left, "start", "issued "+start.Format("Jan 2 15:04"), "#5b6675")
	switch {
	case r.Overdue:
		label(width-right, "end", "OVERDUE +"+r.Lateness, "#b42318")
	case r.Lateness != "" && r.RevokedOnTime == VerdictNo:
		label(width-right, "end", "removed +"+r.Lateness+" late", "#b42318")
	case r.Lateness != "":
		label(width-right, "end", "removed "+r.Lateness+" after expiry", "#5b6675")
	case !r.expiry.IsZero():
		label(width-right, "end", "expiry "+r.expiry.Format("Jan 2 15:04"), "#5b6675")
	}
	b.WriteString(`</svg>`)
	return b.String()
}
