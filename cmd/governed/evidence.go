package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/checkpoint"
	"github.com/governed-entitlements/terraform-provider-governed/internal/evidence"
	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/pgurl"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// evidenceCmd answers, per grant, whether it was authorised, time bound and
// revoked on time, and exits 1 when any grant fails a verdict or the ledger
// does not verify.
func (c *command) evidenceCmd(ctx context.Context, args []string) int {
	var location, from, to, principal, entitlement, format, out, maxLateness, asOf, bundle string
	fs := c.flags("evidence", "[--from T --to T] [--principal P] [--entitlement E] [--format csv|json|md|html] [--out F] "+
		"[--as-of T] [--max-lateness D] [--bundle DIR] "+auditSynopsis+" [--ledger L]", &location)
	fs.StringVar(&from, "from", "", "only grants whose life (request to removal of access) reaches this time or later, RFC 3339")
	fs.StringVar(&to, "to", "", "only grants requested at or before this time, RFC 3339")
	fs.StringVar(&principal, "principal", "", "only grants to this principal (compared as the policy compares identities)")
	fs.StringVar(&entitlement, "entitlement", "", "only grants of this entitlement")
	fs.StringVar(&format, "format", "csv", "the report's format: "+strings.Join(evidence.Formats, ", "))
	fs.StringVar(&out, "out", "", "write the report to this file instead of standard output")
	fs.StringVar(&maxLateness, "max-lateness", policy.FormatDuration(evidence.DefaultMaxLateness),
		"how long after its expiry a grant's access may be removed and still count as revoked on time")
	fs.StringVar(&asOf, "as-of", "", "judge the grants still in force at this time, RFC 3339, instead of now")
	fs.StringVar(&bundle, "bundle", "", "also write an evidence bundle into this new directory: the report in every format, the\n"+
		"checkpoint, policy documents, approval statements and signatures, a README on re-verifying offline, SHA256SUMS")
	af := c.auditFlags(fs, "a signed checkpoint the ledger must extend")
	cp, pf := af.cp, af.pf
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	witnesses, code, ok := af.validate(c, fs)
	if !ok {
		return code
	}
	opts := evidence.Options{Principal: principal, Entitlement: entitlement, Now: c.now, Trust: c.trust}
	var err error
	for _, t := range []struct {
		flag, value string
		into        *time.Time
	}{{"from", from, &opts.From}, {"to", to, &opts.To}, {"as-of", asOf, &opts.Now}} {
		if t.value == "" {
			continue
		}
		if *t.into, err = time.Parse(time.RFC3339, t.value); err != nil {
			return c.usageError(fs, "--%s %q is not an RFC 3339 time such as 2026-03-01T00:00:00Z", t.flag, t.value)
		}
	}
	if !opts.From.IsZero() && !opts.To.IsZero() && opts.To.Before(opts.From) {
		return c.usageError(fs, "--to %s is before --from %s", to, from)
	}
	if !slices.Contains(evidence.Formats, format) {
		return c.usageError(fs, "--format %q is not one of %s", format, strings.Join(evidence.Formats, ", "))
	}
	if opts.MaxLateness, err = policy.ParseDuration(maxLateness); err != nil || opts.MaxLateness <= 0 {
		return c.usageError(fs, "--max-lateness %q is not a positive duration such as 25h or 2d", maxLateness)
	}
	src := evidence.Source{Checkpoint: cp.file, Witnesses: witnesses}
	if cp.file != "" {
		if src.CheckpointKey, err = checkpoint.ParseVerifierKey(cp.key); err != nil {
			return c.usageError(fs, "--checkpoint-key: %v", err)
		}
	}
	l, err := c.open(ctx, location)
	if err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	defer l.Close()
	pf.noteUnkept(ctx, c, l)
	src.Location = pgurl.Redact(ledger.Resolve(location))

	var rep *evidence.Report
	if format == "csv" && bundle == "" {
		// Nothing precedes the CSV's rows: they are written as judged.
		rep, err = writeReport(out, c.stdout, func(w io.Writer) (*evidence.Report, error) {
			return evidence.StreamCSV(ctx, w, l, opts, src)
		})
		if err != nil {
			return c.fail(exitUsage, "%v", err)
		}
		return c.evidenceOutcome(rep)
	}
	rep, spool, err := evidence.Build(ctx, l, opts, src)
	if err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	defer spool.Close()
	if _, err := writeReport(out, c.stdout, func(w io.Writer) (*evidence.Report, error) {
		return rep, evidence.Write(w, format, rep, spool)
	}); err != nil {
		return c.fail(exitUsage, "writing the report: %v", err)
	}
	if bundle != "" {
		if err := evidence.WriteBundle(ctx, bundle, l, rep, spool); err != nil {
			return c.fail(exitUsage, "writing the bundle: %v", err)
		}
		fmt.Fprintf(c.stderr, "bundle written to %s: re-verify it with %s/verify.sh, see %s/README.md\n", bundle, bundle, bundle)
	}
	return c.evidenceOutcome(rep)
}

// evidenceOutcome says on standard error what fails, and returns the exit
// code: 1 for any finding.
func (c *command) evidenceOutcome(rep *evidence.Report) int {
	if !rep.Ledger.Verified {
		fmt.Fprintf(c.stderr, "ledger does NOT verify: %s\n", rep.Ledger.Problem)
	}
	if rep.Ledger.Checkpoint != "" && !rep.Ledger.CheckpointExtended {
		fmt.Fprintf(c.stderr, "%s\n", rep.Ledger.CheckpointResult)
	}
	if rep.Summary.Failed > 0 {
		fmt.Fprintf(c.stderr, "%d of %d grant(s) fail a verdict (authorised, time_bound or revoked_on_time)\n", rep.Summary.Failed, rep.Summary.Grants)
	}
	if rep.Failed() {
		return exitProblem
	}
	return exitOK
}

// writeReport runs write on standard output, or, with path, on a temporary
// file beside path that is renamed into place once whole, so that a report
// file is never left half written.
func writeReport(path string, stdout io.Writer, write func(io.Writer) (*evidence.Report, error)) (*evidence.Report, error) {
	if path == "" {
		return write(stdout)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	rep, err := write(tmp)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return rep, os.Rename(tmp.Name(), path)
}

// history prints every event of one grant, and of the approval it was made
// under, after verifying the whole ledger.
func (c *command) history(ctx context.Context, args []string) int {
	var location string
	var asJSON bool
	fs := c.flags("history", "[--json] [--ledger L] GRANT", &location)
	fs.BoolVar(&asJSON, "json", false, "print one JSON object per event")
	if code, ok := c.parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 1 && strings.HasPrefix(fs.Arg(1), "-") {
		return c.usageError(fs, "flags go before the grant: governed history %s %s", fs.Arg(1), fs.Arg(0))
	}
	if fs.NArg() != 1 {
		return c.usageError(fs, "name one grant: governed history GRANT")
	}
	id := fs.Arg(0)
	l, err := c.open(ctx, location)
	if err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	defer l.Close()
	r, code, verified := c.verified(ctx, l)
	if code == exitUsage {
		return code
	}
	var events []ledger.Event
	collect := func(e ledger.Event) error { events = append(events, e); return nil }
	if err := l.SubjectEvents(ctx, "grant", id, collect); err != nil {
		return c.fail(exitUsage, "reading the ledger: %v", err)
	}
	if len(events) == 0 {
		return c.fail(exitProblem, "grant %q is not in the ledger", id)
	}
	var g ledger.Grant
	_ = json.Unmarshal(events[len(events)-1].Data, &g)
	if g.ApprovalID != "" {
		if err := l.SubjectEvents(ctx, "approval", g.ApprovalID, collect); err != nil {
			return c.fail(exitUsage, "reading the ledger: %v", err)
		}
		slices.SortFunc(events, func(a, b ledger.Event) int { return int(a.Seq - b.Seq) })
	}
	if asJSON {
		enc := json.NewEncoder(c.stdout)
		for _, e := range events {
			if err := enc.Encode(historyEvent(e)); err != nil {
				return c.fail(exitUsage, "%v", err)
			}
		}
	} else {
		fmt.Fprintf(c.stdout, "grant %s: %s, %s, ticket %s, expires %s\n", g.ID, g.Principal, g.Entitlement, g.TicketID, g.ExpiresAt)
		if verified {
			fmt.Fprintf(c.stdout, "ledger verified: %d events, head seq %d\n\n", r.Events, r.Head.Seq)
		}
		for _, e := range events {
			h := historyEvent(e)
			fmt.Fprintf(c.stdout, "#%d  %s  %s\n", h.Seq, h.At, h.Type)
			fmt.Fprintf(c.stdout, "    %s\n", h.Summary)
			if judged := h.judgedBy(); judged != "" {
				fmt.Fprintf(c.stdout, "    %s\n", judged)
			}
			by := h.Actor
			if h.RunID != "" {
				by += " (" + h.RunID + ")"
			}
			if h.RecordedAt != "" || by != "" {
				fmt.Fprintf(c.stdout, "    recorded %s by %s\n", orUnknown(h.RecordedAt), orUnknown(strings.TrimSpace(by)))
			}
			fmt.Fprintf(c.stdout, "    hash %s\n", h.Hash)
		}
	}
	if !verified {
		return exitProblem
	}
	return exitOK
}

func orUnknown(s string) string {
	if s == "" {
		return "(not recorded)"
	}
	return s
}

// shownEvent is an event as governed history shows it.
type shownEvent struct {
	Seq        int64  `json:"seq"`
	At         string `json:"at"`
	RecordedAt string `json:"recorded_at,omitempty"`
	Actor      string `json:"actor,omitempty"`
	RunID      string `json:"run_id,omitempty"`
	Type       string `json:"type"`
	Subject    string `json:"subject"`
	Summary    string `json:"summary"`
	Hash       string `json:"hash"`
	PrevHash   string `json:"prev_hash"`
	// PolicyDigest is the SHA-256 of the policy document that judged the
	// decision an approval.recorded, grant.requested or grant.issued event
	// records; AllowedSignersSHA256 and RevokedKeysSHA256 those of the key
	// files an approval's signatures were verified against. Each is also in
	// Data; empty where the event names none.
	PolicyDigest         string          `json:"policy_digest,omitempty"`
	AllowedSignersSHA256 string          `json:"allowed_signers_sha256,omitempty"`
	RevokedKeysSHA256    string          `json:"revoked_keys_sha256,omitempty"`
	Data                 json.RawMessage `json:"data"`
}

// judgedBy says, for the text of governed history, which policy document
// judged the event's decision and which key files its signatures were
// verified against, by SHA-256, as an auditor compares them with the digests
// the pipeline pinned; "" for an event that names none.
func (h shownEvent) judgedBy() string {
	var parts []string
	if h.PolicyDigest != "" {
		parts = append(parts, "policy sha256 "+h.PolicyDigest)
	}
	if h.AllowedSignersSHA256 != "" {
		parts = append(parts, "allowed_signers sha256 "+h.AllowedSignersSHA256)
	}
	if h.RevokedKeysSHA256 != "" {
		parts = append(parts, "revoked keys sha256 "+h.RevokedKeysSHA256)
	}
	return strings.Join(parts, ", ")
}

func historyEvent(e ledger.Event) shownEvent {
	h := shownEvent{Seq: e.Seq, At: e.At.UTC().Format(time.RFC3339Nano), Actor: e.Actor, RunID: e.RunID, Type: e.Type,
		Subject: e.Subject, Hash: e.Hash, PrevHash: e.PrevHash, Data: json.RawMessage(e.Data)}
	if !e.RecordedAt.IsZero() {
		h.RecordedAt = e.RecordedAt.UTC().Format(time.RFC3339Nano)
	}
	if strings.HasPrefix(e.Type, "approval.") {
		var a ledger.Approval
		_ = json.Unmarshal(e.Data, &a)
		h.Summary = fmt.Sprintf("approval %s: %s, by %s, expires %s", a.ID, a.Status, strings.Join(a.Approvers, ", "), a.ExpiresAt)
		if a.Evidence != "" {
			h.Summary += ", " + a.Evidence
		}
		if a.GrantID != "" {
			h.Summary += ", authorises " + a.GrantID
		}
		if e.Type == ledger.EventApprovalRecorded {
			h.PolicyDigest, h.AllowedSignersSHA256, h.RevokedKeysSHA256 = a.PolicyDigest, a.AllowedSignersSHA256, a.RevokedKeysSHA256
		}
		return h
	}
	var g ledger.Grant
	_ = json.Unmarshal(e.Data, &g)
	parts := []string{"status " + g.Status}
	switch e.Type {
	case ledger.EventGrantIssued, ledger.EventGrantRequested:
		parts = append(parts, "approvers "+strings.Join(g.Approvers, ", "), "expires "+g.ExpiresAt)
		if g.Evidence != "" {
			parts = append(parts, "approval "+g.Evidence)
		}
		if g.ApprovalID != "" {
			parts = append(parts, "under "+g.ApprovalID)
		}
		if g.BreakGlass {
			parts = append(parts, "BREAK-GLASS: "+g.Justification)
		}
		h.PolicyDigest = g.PolicyDigest
	}
	if g.RevocationReason != "" {
		reason := "reason " + g.RevocationReason
		if g.RevocationNote != "" {
			reason += " (" + g.RevocationNote + ")"
		}
		parts = append(parts, reason)
	}
	if g.RevokePending {
		parts = append(parts, "the target has NOT removed the access: "+g.RevokeError)
	}
	if g.RevokeNote != "" {
		parts = append(parts, g.RevokeNote)
	}
	h.Summary = strings.Join(parts, "; ")
	return h
}

// approvals lists approval records and what they authorised.
func (c *command) approvals(ctx context.Context, args []string) int {
	var location, status, principal, entitlement, ticket string
	var asJSON bool
	fs := c.flags("approvals", "[--status active|withdrawn] [--principal P] [--entitlement E] [--ticket T] [--json] [--ledger L]", &location)
	fs.StringVar(&status, "status", "", "only approvals with this status: active or withdrawn")
	fs.StringVar(&principal, "principal", "", "only approvals for this principal (compared as the policy compares identities)")
	fs.StringVar(&entitlement, "entitlement", "", "only approvals of this entitlement")
	fs.StringVar(&ticket, "ticket", "", "only approvals of this ticket")
	fs.BoolVar(&asJSON, "json", false, "print one JSON object per approval")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if status != "" && status != ledger.ApprovalActive && status != ledger.ApprovalWithdrawn {
		return c.usageError(fs, "--status %q is not active or withdrawn", status)
	}
	l, err := c.open(ctx, location)
	if err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	defer l.Close()
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	enc := json.NewEncoder(c.stdout)
	if !asJSON {
		fmt.Fprintln(tw, "ID\tTICKET\tPRINCIPAL\tENTITLEMENT\tAPPROVERS\tEVIDENCE\tSTATUS\tAPPROVED_AT\tEXPIRES_AT\tAUTHORISED\tPOLICY\tKEY_FILES")
	}
	var cur *listedApproval
	show := func() error {
		if cur == nil {
			return nil
		}
		a := cur.Approval
		switch {
		case status != "" && a.Status != status,
			principal != "" && policy.NormalizeIdentity(a.Principal) != policy.NormalizeIdentity(principal),
			entitlement != "" && a.Entitlement != entitlement,
			ticket != "" && a.TicketID != ticket:
			return nil
		}
		if asJSON {
			return enc.Encode(cur)
		}
		ev := a.Evidence
		if len(a.SignerKeys) > 0 {
			ev = fmt.Sprintf("signed (%d key(s))", len(a.SignerKeys))
		}
		keyFiles := a.AllowedSignersSHA256
		if a.RevokedKeysSHA256 != "" {
			keyFiles += "," + a.RevokedKeysSHA256
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.TicketID, a.Principal, a.Entitlement,
			strings.Join(a.Approvers, ","), orDash(ev), a.Status, a.ApprovedAt.UTC().Format(time.RFC3339), a.ExpiresAt,
			orDash(strings.Join(cur.Authorised, ",")), orDash(a.PolicyDigest), orDash(keyFiles))
		return nil
	}
	err = l.SubjectEvents(ctx, "approval", "", func(e ledger.Event) error {
		if cur == nil || cur.ID != e.Subject {
			if err := show(); err != nil {
				return err
			}
			cur = &listedApproval{}
		}
		var a ledger.Approval
		if err := json.Unmarshal(e.Data, &a); err != nil {
			return fmt.Errorf("event %d cannot be read: %w", e.Seq, err)
		}
		a.Seq = e.Seq
		cur.Approval = a
		cur.Events = append(cur.Events, e.Seq)
		if a.GrantID != "" && !slices.Contains(cur.Authorised, a.GrantID) {
			cur.Authorised = append(cur.Authorised, a.GrantID)
		}
		return nil
	})
	if err == nil {
		err = show()
	}
	if err != nil {
		return c.fail(exitUsage, "reading the ledger: %v", err)
	}
	if !asJSON {
		if err := tw.Flush(); err != nil {
			return c.fail(exitUsage, "%v", err)
		}
	}
	return exitOK
}

// listedApproval is an approval record as governed approvals lists it: its
// current state, the grants it authorised in turn, and its events.
type listedApproval struct {
	ledger.Approval
	Authorised []string `json:"authorised_grants"`
	Events     []int64  `json:"events"`
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
