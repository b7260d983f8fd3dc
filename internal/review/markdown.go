package review

import (
	"fmt"
	"strings"
)

// Marker is the hidden first line of every Markdown review, by which a CI
// step finds the comment it posted before and updates it in place.
const Marker = "<!-- governed-review -->"

// CommentLimit is the most characters a GitHub issue or pull-request comment
// may hold (65,536); a Markdown review never exceeds it.
const CommentLimit = 65536

// Detail levels of the Markdown form, from everything to counts only. Each
// level drops more detail, until the review fits its limit.
const (
	detailFull    = iota // every item with its rules, changes and the warnings' text
	detailCompact        // rule verdicts only where not passed; warnings by summary
	detailTable          // one table row per item
	detailCounts         // counts, what blocks, the refusals and the statements to sign
	detailLevels
)

var classTitles = map[string]string{
	ClassNew:               "New access",
	ClassRenewal:           "Renewals",
	ClassNarrowing:         "Narrowings",
	ClassExpired:           "Ending in this apply: expired",
	ClassRevokedOutOfBand:  "Ending in this apply: revoked out of band",
	ClassApprovalWithdrawn: "Ending in this apply: approval withdrawn",
	ClassRemoved:           "Removed (destroyed)",
	ClassWithdrawn:         "Approval records withdrawn",
	ClassForgotten:         "Left by the configuration (revoked at expiry by reconcile)",
	ClassExpiringSoon:      "Expiring soon",
}

var classOrderList = []string{ClassNew, ClassRenewal, ClassNarrowing, ClassExpired, ClassRevokedOutOfBand,
	ClassApprovalWithdrawn, ClassRemoved, ClassWithdrawn, ClassForgotten, ClassExpiringSoon}

// Markdown renders the review for a pull-request comment, a GitHub step
// summary or a GitLab merge-request note, within limit characters
// (CommentLimit when limit <= 0): detail is dropped first, and the review
// says so when it was.
func (r *Report) Markdown(limit int) string {
	if limit <= 0 {
		limit = CommentLimit
	}
	for level := detailFull; level < detailLevels; level++ {
		rows := []int{-1}
		if level == detailTable {
			rows = []int{-1, 300, 100, 30}
		}
		for _, n := range rows {
			s := r.markdown(level, n)
			if len(s) <= limit {
				return s
			}
		}
	}
	// Still too long (thousands of refusals): cut at a line and say so.
	s := r.markdown(detailCounts, 0)
	note := "\n\n**The review was cut here to fit a comment.** Run `governed review --format json` for all of it.\n"
	cut := strings.LastIndex(s[:limit-len(note)], "\n")
	if cut < 0 {
		cut = 0
	}
	return s[:cut] + note
}

// markdown renders the review at a detail level; at detailTable, rows caps
// the table rows of each class (-1: all).
func (r *Report) markdown(level, rows int) string {
	var b strings.Builder
	b.WriteString(Marker + "\n## Governed access review\n\n")
	if r.PlanTime != "" {
		fmt.Fprintf(&b, "Plan made at %s. ", r.PlanTime)
	}
	b.WriteString(r.summaryLine() + "\n\n")
	if len(r.Blocking) > 0 {
		b.WriteString("### :no_entry: Blocking: this change must not merge\n\n")
		for _, s := range r.Blocking {
			fmt.Fprintf(&b, "- %s\n", mdEscape(s))
		}
		b.WriteString("\n")
	} else {
		b.WriteString("**Nothing blocks this change.**")
		if r.AddsAccess {
			b.WriteString(" It adds or extends access: review who receives what, until when, and who approved it.")
		}
		b.WriteString("\n\n")
	}
	if level > detailFull {
		fmt.Fprintf(&b, "> [!NOTE]\n> Detail was left out so that the review fits a comment (%d characters). "+
			"`governed review --plan plan.json --format json` gives all of it.\n\n", CommentLimit)
	}
	if level < detailCounts {
		r.mdItems(&b, level, rows)
	}
	r.mdDestroys(&b, level)
	r.mdRefusals(&b)
	r.mdToSign(&b)
	if level < detailTable {
		r.mdWarnings(&b, level)
	}
	return b.String()
}

func (r *Report) summaryLine() string {
	if len(r.Items) == 0 {
		if !r.Planned {
			return "No plan was made; the plan log follows."
		}
		return "No grant or approval record changes."
	}
	var parts []string
	for _, c := range classOrderList {
		if n := r.Counts[c]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, strings.ReplaceAll(c, "_", " ")))
		}
	}
	return "Changes: " + strings.Join(parts, ", ") + "."
}

func (r *Report) mdItems(b *strings.Builder, level, rows int) {
	for _, c := range classOrderList {
		n := r.Counts[c]
		if n == 0 {
			continue
		}
		fmt.Fprintf(b, "### %s (%d)\n\n", classTitles[c], n)
		if level == detailTable {
			b.WriteString("| resource | principal | entitlement | ticket | approvers | expires |\n|---|---|---|---|---|---|\n")
		}
		shown := 0
		for _, it := range r.Items {
			if it.Class != c {
				continue
			}
			if level == detailTable && rows >= 0 && shown == rows {
				fmt.Fprintf(b, "\n… and %d more, left out of this comment.\n", n-shown)
				break
			}
			shown++
			if level == detailTable {
				fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", code(it.Address), cell(it.Principal), cell(it.entitlementText()),
					cell(it.Ticket), cell(it.approversText()), cell(it.expiryText()))
				continue
			}
			r.mdItem(b, it, level)
		}
		b.WriteString("\n")
	}
}

func (it Item) entitlementText() string {
	s := it.Entitlement
	if it.Target != "" {
		s += " (target " + it.Target
		if it.Role != "" {
			s += ", role " + it.Role
		}
		s += ")"
	}
	return s
}

func (it Item) approversText() string {
	if len(it.Approvers) == 0 {
		return "none"
	}
	s := strings.Join(it.Approvers, ", ")
	switch {
	case len(it.Signed) > 0:
		s += fmt.Sprintf(" (signed %d of %d)", len(it.Signed), len(it.Approvers))
	default:
		s += fmt.Sprintf(" (signed 0 of %d: asserted)", len(it.Approvers))
	}
	return s
}

func (it Item) expiryText() string {
	switch {
	case it.ExpiresAt == "" && it.TTL != "":
		return "ttl " + it.TTL
	case it.ExpiryEstimated:
		return fmt.Sprintf("about %s (ttl %s from the apply)", it.ExpiresAt, it.TTL)
	case it.TTL != "":
		return fmt.Sprintf("%s (ttl %s)", it.ExpiresAt, it.TTL)
	case it.ExpiresAt == "":
		return "unknown"
	}
	return it.ExpiresAt
}

func (r *Report) mdItem(b *strings.Builder, it Item, level int) {
	kind := "grant"
	if it.Type == TypeApproval {
		kind = "approval record"
	}
	fmt.Fprintf(b, "- **%s**: %s of %s to %s", code(it.Address), kind, code(it.Entitlement), code(it.Principal))
	if it.BreakGlass {
		b.WriteString(" :rotating_light: **break-glass**")
	}
	b.WriteString("\n")
	fmt.Fprintf(b, "  - entitlement %s; ticket %s\n", mdEscape(it.entitlementText()), mdEscape(it.Ticket))
	fmt.Fprintf(b, "  - approvers %s; requesters %s\n", mdEscape(it.approversText()), mdEscape(strings.Join(it.Requesters, ", ")))
	label := "expires"
	if it.Type == TypeApproval {
		label = "latest expiry of its grants"
	}
	fmt.Fprintf(b, "  - %s %s", label, mdEscape(it.expiryText()))
	if it.ID != "" {
		fmt.Fprintf(b, "; id %s", code(it.ID))
	}
	if it.ApprovalID != "" {
		fmt.Fprintf(b, "; approval %s", code(it.ApprovalID))
	}
	b.WriteString("\n")
	if len(it.Changes) > 0 {
		var parts []string
		for _, c := range it.Changes {
			parts = append(parts, fmt.Sprintf("%s: %s → %s", c.Attribute, c.Before, c.After))
		}
		fmt.Fprintf(b, "  - changes %s\n", mdEscape(strings.Join(parts, "; ")))
	}
	if it.AccessGap {
		b.WriteString("  - :warning: **access gap**: the grant in force is revoked before its replacement is issued; " +
			"add `lifecycle { create_before_destroy = true }` to keep access through the apply\n")
	}
	if len(it.Rules) > 0 {
		var passed, other []string
		for _, v := range it.Rules {
			if v.Verdict == VerdictPass {
				passed = append(passed, "`"+v.Rule+"`")
				continue
			}
			s := fmt.Sprintf(":x: `%s` %s", v.Rule, v.Verdict)
			if v.Detail != "" {
				s += ": " + mdEscape(v.Detail)
			}
			other = append(other, s)
		}
		for _, s := range other {
			fmt.Fprintf(b, "  - %s\n", s)
		}
		if len(passed) > 0 && level == detailFull {
			fmt.Fprintf(b, "  - :white_check_mark: passed at plan: %s\n", strings.Join(passed, ", "))
		}
	}
}

func (r *Report) mdDestroys(b *strings.Builder, level int) {
	if len(r.Destroys) == 0 {
		return
	}
	fmt.Fprintf(b, "### Destroyed because a grant ends (%d)\n\n", len(r.Destroys))
	shown := 0
	for _, d := range r.Destroys {
		if level >= detailCounts && shown == 50 {
			fmt.Fprintf(b, "- … and %d more\n", len(r.Destroys)-shown)
			break
		}
		var on []string
		for _, g := range d.Because {
			on = append(on, code(g))
		}
		fmt.Fprintf(b, "- %s, gated on %s\n", code(d.Address), strings.Join(on, ", "))
		shown++
	}
	b.WriteString("\n")
}

func (r *Report) mdRefusals(b *strings.Builder) {
	if len(r.Refusals) == 0 {
		return
	}
	fmt.Fprintf(b, "### Refusals (%d)\n\n", len(r.Refusals))
	for _, f := range r.Refusals {
		b.WriteString("- ")
		if f.Address != "" {
			fmt.Fprintf(b, "%s ", code(f.Address))
		}
		if f.File != "" {
			fmt.Fprintf(b, "(%s:%d) ", f.File, f.Line)
		}
		fmt.Fprintf(b, "**%s**", mdEscape(f.Summary))
		if f.Rule != "" {
			d := strings.TrimPrefix(firstParagraph(f.Detail), "Rule "+f.Rule+": ")
			d, _, _ = strings.Cut(d, " To sign") // the command is under Statements to sign
			fmt.Fprintf(b, ", rule `%s`: %s", f.Rule, mdEscape(firstLine(d)))
		} else if d := firstParagraph(f.Detail); d != "" {
			fmt.Fprintf(b, ": %s", mdEscape(firstLine(d)))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

func (r *Report) mdToSign(b *strings.Builder) {
	if len(r.ToSign) == 0 {
		return
	}
	fmt.Fprintf(b, "### Statements to sign (%d)\n\n", len(r.ToSign))
	b.WriteString("Each approver runs their line (OpenSSH's `ssh-keygen`; another key than `~/.ssh/id_ed25519` goes after `-f`), " +
		"commits the signature file, and adds it to the record's `signatures`.\n\n")
	for _, s := range r.ToSign {
		fmt.Fprintf(b, "- **%s** for %s, writes %s:\n\n  ```shell\n  %s\n  ```\n\n", mdEscape(s.Approver), code(s.Address), code(s.File),
			strings.NewReplacer("\n", " ", "\r", " ", "`", "'").Replace(s.Command))
	}
}

func (r *Report) mdWarnings(b *strings.Builder, level int) {
	if len(r.Warnings) == 0 {
		return
	}
	fmt.Fprintf(b, "### Warnings (%d)\n\n", len(r.Warnings))
	for _, f := range r.Warnings {
		where := ""
		if f.Address != "" && !strings.HasPrefix(f.Address, "provider[") {
			where = code(f.Address) + " "
		}
		if level == detailFull && f.Detail != "" {
			summary := htmlEscape(f.Summary)
			if where != "" {
				summary = "<code>" + htmlEscape(f.Address) + "</code> " + summary
			}
			fmt.Fprintf(b, "<details><summary>%s</summary>\n\n%s\n\n</details>\n\n", summary, mdEscape(f.Detail))
			continue
		}
		fmt.Fprintf(b, "- %s%s\n", where, mdEscape(f.Summary))
	}
	b.WriteString("\n")
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// mdEscape keeps text from a plan (principals, tickets, diagnostics) from
// being read as Markdown or HTML: a value cannot close a code span, open a
// link, or hide the rest of the comment.
func mdEscape(s string) string {
	return mdReplacer.Replace(s)
}

var mdReplacer = strings.NewReplacer(
	"\\", "\\\\", "`", "\\`", "*", "\\*", "_", "\\_", "[", "\\[", "]", "\\]", "<", "&lt;", ">", "&gt;",
	"|", "\\|", "#", "\\#", "\r", "", "\n", " ",
)

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func cell(s string) string { return mdEscape(s) }

// code renders s as a code span; a backtick or line break in s cannot end it.
func code(s string) string {
	return "`" + strings.NewReplacer("`", "'", "\n", " ", "\r", " ", "|", "\\|").Replace(s) + "`"
}
