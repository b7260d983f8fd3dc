package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/lifecycle"
	"github.com/governed-entitlements/terraform-provider-governed/internal/pgurl"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
	"github.com/governed-entitlements/terraform-provider-governed/internal/target"
)

// verify checks the whole ledger and prints its head; with a checkpoint, it
// also checks that the ledger extends it.
func (c *command) verify(ctx context.Context, args []string) int {
	var location string
	fs := c.flags("verify", auditSynopsis+" [--ledger L]", &location)
	af := c.auditFlags(fs, "a signed checkpoint the ledger must extend: the same ledger, at least as long, "+
		"with the same event at the checkpoint's size")
	cp, wf, sf, pf := af.cp, af.wf, af.sf, af.pf
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	witnesses, code, ok := af.validate(c, fs)
	if !ok {
		return code
	}
	l, err := c.open(ctx, location)
	if err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	defer l.Close()
	pf.noteUnkept(ctx, c, l)
	r, code, ok := c.verified(ctx, l)
	if !ok {
		return code
	}
	if code, ok := cp.check(ctx, c, l); !ok {
		return code
	}
	cosigned, code, ok := wf.check(c, witnesses, cp.file)
	if !ok {
		return code
	}
	if code, ok := wf.checkAnchors(ctx, c, l, cp, cosigned); !ok {
		return code
	}
	fmt.Fprintf(c.stdout, "ledger verified: %d events, head seq %d hash %s\n", r.Events, r.Head.Seq, r.Head.Hash)
	if cp.file != "" {
		fmt.Fprintf(c.stdout, "ledger extends the checkpoint %s\n", cp.file)
		fmt.Fprintf(c.stdout, "checkpoint signed by %s key hash %s\n", cp.signedBy.Name, cp.signedBy.Hash())
	}
	if held := sf.describe(); held != "" {
		fmt.Fprintf(c.stdout, "%s\n", held)
	}
	if held := pf.describe(); held != "" {
		fmt.Fprintf(c.stdout, "%s\n", held)
	}
	if len(witnesses.Keys) > 0 {
		fmt.Fprintf(c.stdout, "checkpoint cosigned by %d of %d witnesses (needs %d): %s\n", len(cosigned.Cosigned),
			len(witnesses.Keys), witnesses.Threshold, strings.Join(cosigned.Cosigned, ", "))
		for _, w := range cosigned.Cosignatures {
			if w.At.IsZero() {
				fmt.Fprintf(c.stdout, "witness %s key hash %s cosigned without a time (a plain signature line, which "+
					"anchors no recording time)\n", w.Name, w.Hash())
				continue
			}
			fmt.Fprintf(c.stdout, "witness %s key hash %s cosigned at %s: the ledger's recording times keep to it\n",
				w.Name, w.Hash(), w.At.UTC().Format(time.RFC3339))
		}
	}
	return exitOK
}

// revoke revokes one grant now, recording it as revoked out of band.
func (c *command) revoke(ctx context.Context, args []string) int {
	var location, id, reason string
	var targetValues []string
	var terminate bool
	fs := c.flags("revoke", "--grant ID --reason TEXT [--postgres-target NAME=URL]... [--terminate-sessions=false] [--ledger L]", &location)
	fs.StringVar(&id, "grant", "", "the id of the grant to revoke (required)")
	fs.StringVar(&reason, "reason", "", "why, for the record: an incident or ticket and a sentence (required)")
	fs.Func("postgres-target", "a PostgreSQL target as the provider's postgres_targets names it, NAME=URL, so that the\n"+
		"membership is revoked there now (repeatable); without it the ledger records the revocation as\n"+
		"pending and the next terraform apply that manages the grant removes the access", func(v string) error {
		// Checked after parsing: the flag package's message would repeat
		// the value, password included.
		targetValues = append(targetValues, v)
		return nil
	})
	fs.BoolVar(&terminate, "terminate-sessions", true, "end the principal's open sessions in the target once the membership is revoked, as the\n"+
		"provider's terminate_sessions_on_revoke does by default; --terminate-sessions=false leaves them open")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	targets, err := postgresTargets(targetValues, terminate)
	if err != nil {
		return c.usageError(fs, "--postgres-target: %v", err)
	}
	defer closeTargets(targets)
	id, reason = strings.TrimSpace(id), strings.TrimSpace(reason)
	if id == "" {
		return c.usageError(fs, "--grant is required: name the grant to revoke")
	}
	if reason == "" {
		return c.usageError(fs, "--reason is required: say why the grant is revoked, for the record")
	}
	if err := policy.CheckProse(reason); err != nil {
		return c.usageError(fs, "--reason %v", err)
	}
	l, err := c.open(ctx, location)
	if err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	defer l.Close()
	g, err := l.Grant(ctx, id)
	if errors.Is(err, ledger.ErrNotFound) {
		return c.fail(exitProblem, "grant %q is not in the ledger", id)
	}
	if err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	run := lifecycle.NewRun(l, targets, c.now, lifecycle.WithUnconfiguredTarget(func(name string) error {
		return fmt.Errorf("governed revoke was not given target %s (--postgres-target)", name)
	}))
	if g.RevokePending {
		return c.completeRevocation(ctx, run, targets, g)
	}
	res, err := run.Revoke(ctx, g, ledger.ReasonOutOfBand, reason)
	damaged := c.reportDiscontinuity(res)
	if err != nil {
		return c.removalFailed(g, err)
	}
	g = res.Grant
	if !res.Appended {
		fmt.Fprintf(c.stdout, "grant %s is already %s", g.ID, g.Status)
		if !g.RevokedAt.IsZero() {
			fmt.Fprintf(c.stdout, " since %s (%s)", g.RevokedAt.Format(time.RFC3339), g.RevocationReason)
		}
		fmt.Fprintln(c.stdout, "; nothing to do")
		return exitOK
	}
	fmt.Fprintf(c.stdout, "grant %s revoked at %s (%s: %s)\n", g.ID, g.RevokedAt.Format(time.RFC3339), g.RevocationReason, g.RevocationNote)
	fmt.Fprintf(c.stdout, "  principal %s, entitlement %s, ticket %s, target %s\n", g.Principal, g.Entitlement, g.TicketID, g.Target)
	if g.RevokePending {
		fmt.Fprintf(c.stdout, "WARNING: the access is still in place in %s: %s.\n", g.Target, g.RevokeError)
		fmt.Fprintf(c.stdout, "The ledger records the revocation as pending; the next terraform apply of a configuration\n"+
			"that manages this grant removes the access,\n"+
			"or %s\n", retryAdvice(targets, g))
	}
	if g.RevokeNote != "" {
		fmt.Fprintf(c.stdout, "  nothing was left to revoke in %s: %s\n", g.Target, g.RevokeNote)
	}
	fmt.Fprintf(c.stdout, "The next plan shows it as revoked (out_of_band); it is never issued again.\n")
	if g.RevokePending {
		return exitProblem
	}
	code := c.reportCovering(ctx, run, g)
	if damaged && code == exitOK {
		return exitProblem
	}
	return code
}

// reportDiscontinuity warns, on stderr, that the ledger's head did not match
// its log and that a discontinuity was recorded to go on past it; the caller
// exits 1 then, since the ledger needs attention, even though the access is
// removed and recorded.
func (c *command) reportDiscontinuity(res lifecycle.Result) bool {
	if res.Discontinuity.Seq == 0 {
		return false
	}
	fmt.Fprintf(c.stderr, "WARNING: %s\n", lifecycle.DescribeDiscontinuity(res.Discontinuity))
	return true
}

// removalFailed reports a revocation that failed; when the access was removed
// from its target all the same and only the ledger did not record it, it
// says so and exits 1, else 2.
func (c *command) removalFailed(g ledger.Grant, err error) int {
	if le := (*lifecycle.Error)(nil); errors.As(err, &le) && le.AccessRemoved {
		fmt.Fprintf(c.stdout, "the access of grant %s (%s to %s) was removed from %s, but the ledger did not record it.\n",
			g.ID, g.Role, g.Principal, g.Target)
		return c.fail(exitProblem, "%v", err)
	}
	return c.fail(exitUsage, "%v", err)
}

// completeRevocation carries out a revocation that the ledger records as
// pending in the grant's target, as the warning of an earlier revoke suggests.
func (c *command) completeRevocation(ctx context.Context, run *lifecycle.Run, targets target.Registry, g ledger.Grant) int {
	fmt.Fprintf(c.stdout, "grant %s is already %s since %s (%s), but the access is still in place in %s: %s.\n",
		g.ID, g.Status, g.RevokedAt.Format(time.RFC3339), g.RevocationReason, g.Target, g.RevokeError)
	if _, err := targets.Lookup(g.Target); err != nil {
		fmt.Fprintf(c.stdout, "WARNING: governed revoke was not given target %s (--postgres-target): the access is still in place.\n"+
			"The next terraform apply of a configuration that manages this grant removes it, or run this again\n"+
			"with --postgres-target to remove it now.\n", g.Target)
		return exitProblem
	}
	res, err := run.RetryRevocation(ctx, g)
	damaged := c.reportDiscontinuity(res)
	if err != nil {
		return c.removalFailed(g, err)
	}
	if g = res.Grant; g.RevokePending {
		fmt.Fprintf(c.stdout, "WARNING: the access is still in place in %s: %s.\n", g.Target, g.RevokeError)
		fmt.Fprintf(c.stdout, "The ledger records the revocation as pending: %s\n", retryAdvice(targets, g))
		return exitProblem
	}
	if g.RevokeNote != "" {
		fmt.Fprintf(c.stdout, "Nothing was left to revoke in %s: %s.\n", g.Target, g.RevokeNote)
	}
	fmt.Fprintf(c.stdout, "The access is now removed from %s; the ledger records the revocation as completed.\n", g.Target)
	code := c.reportCovering(ctx, run, g)
	if damaged && code == exitOK {
		return exitProblem
	}
	return code
}

// reportCovering warns when other grants still give the access a revoked
// grant gave, which therefore stays in place: a responder must not believe it
// gone. It exits 1 then.
func (c *command) reportCovering(ctx context.Context, run *lifecycle.Run, g ledger.Grant) int {
	if !run.Enforced(g) {
		return exitOK // a record-only grant shares no access with another
	}
	covering, err := run.Covering(ctx, g)
	if err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	if len(covering) == 0 {
		return exitOK
	}
	ids := make([]string, len(covering))
	for i, o := range covering {
		ids[i] = o.ID + " (ticket " + o.TicketID + ")"
	}
	fmt.Fprintf(c.stdout, "WARNING: %s keeps %s in %s through other grants: %s. Revoke those too to remove the access.\n",
		g.Principal, g.Role, g.Target, strings.Join(ids, ", "))
	return exitProblem
}

// retryAdvice says how to finish a revocation left pending in g's target:
// with the target given, what to fix before running the command again;
// without it, to give it.
func retryAdvice(targets target.Registry, g ledger.Grant) string {
	if _, err := targets.Lookup(g.Target); err != nil {
		return "run this again with --postgres-target to remove it now."
	}
	// The ledger keeps the target's error as text, which names a refused
	// login in pgurl.ErrLoginFailed's words.
	if strings.Contains(g.RevokeError, pgurl.ErrLoginFailed.Error()) {
		return "fix the role or password of --postgres-target " + strings.TrimPrefix(g.Target, policy.PostgresTargetPrefix) +
			"=URL, then run this again to remove it now. " + pgurl.PasswordHint
	}
	return "once " + g.Target + " can be reached with the --postgres-target URL given, run this again to remove it now."
}

// postgresTargets builds the registry of targets from --postgres-target
// values. Messages never repeat a URL, which may hold a password. Nothing
// connects yet: a target connects on first use.
func postgresTargets(values []string, terminateSessions bool) (target.Registry, error) {
	targets := target.NewRegistry()
	for _, v := range values {
		name, u, ok := strings.Cut(v, "=")
		if !ok || !policy.TargetNamePattern.MatchString(name) || u == "" {
			return nil, errors.New("write NAME=URL, such as payments=postgres://governor@db:5432/payments")
		}
		if !pgurl.Is(u) {
			return nil, fmt.Errorf("the URL of PostgreSQL target %q must be a postgres:// or postgresql:// URL", name)
		}
		if _, dup := targets[policy.PostgresTarget(name)]; dup {
			return nil, fmt.Errorf("target %q is given twice", name)
		}
		t, err := target.NewPostgres(name, u, target.PostgresOptions{TerminateSessions: terminateSessions})
		if err != nil {
			return nil, err
		}
		targets[t.Name()] = t
	}
	return targets, nil
}

// closeTargets closes the connections of the PostgreSQL targets.
func closeTargets(targets target.Registry) {
	for _, t := range targets {
		if p, ok := t.(*target.Postgres); ok {
			p.Close()
		}
	}
}

// grantStatuses are the values --status accepts.
var grantStatuses = []string{ledger.StatusActive, ledger.StatusExpired, ledger.StatusRevoked, ledger.StatusPending}

// grants lists grants from the ledger.
func (c *command) grants(ctx context.Context, args []string) int {
	var location, status, within, principal, entitlement string
	var asJSON bool
	fs := c.flags("grants", "[--status S] [--expiring-within D] [--principal P] [--entitlement E] [--json] [--ledger L]", &location)
	fs.StringVar(&status, "status", "", "only grants with this status: "+strings.Join(grantStatuses, ", "))
	fs.StringVar(&within, "expiring-within", "", `only active grants that expire within this duration from now, e.g. "36h", "7d" or "2w"`)
	fs.StringVar(&principal, "principal", "", "only grants to this principal (compared as the policy compares identities)")
	fs.StringVar(&entitlement, "entitlement", "", "only grants of this entitlement")
	fs.BoolVar(&asJSON, "json", false, "print one JSON object per grant instead of a table")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	// Every filter is the store's to apply, through an index. Status is
	// judged at now: a grant past its expiry is expired even before an apply
	// records it. Principals are compared as the policy compares identities,
	// so the filter finds a grant whatever case or Unicode form it was
	// written in.
	f := ledger.GrantFilter{Entitlement: entitlement, Identity: principal}
	if status != "" && !slices.Contains(grantStatuses, status) {
		return c.usageError(fs, "--status %q is not one of %s", status, strings.Join(grantStatuses, ", "))
	}
	if status != "" {
		f.StatusAt, f.At = status, c.now
	}
	if within != "" {
		d, err := policy.ParseDuration(within)
		if err != nil {
			return c.usageError(fs, "--expiring-within: %v", err)
		}
		f.ExpiringBefore = c.now.Add(d)
	}
	if principal != "" && policy.NormalizeIdentity(principal) == "" {
		return c.usageError(fs, "--principal is blank")
	}
	l, err := c.open(ctx, location)
	if err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	defer l.Close()
	// Each grant is written as it is read: with --json, whole; in the
	// table, only the fields it shows are read (EachListedGrant), and the
	// table holds their text until its columns are aligned.
	if asJSON {
		enc := json.NewEncoder(c.stdout)
		err = l.EachGrant(ctx, f, func(g ledger.Grant) error { return enc.Encode(listGrant(g, c.now)) })
		if err != nil {
			return c.fail(exitUsage, "reading grants: %v", err)
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPRINCIPAL\tENTITLEMENT\tTICKET\tSTATUS\tEXPIRES_AT")
	pending, overdue := 0, 0
	err = l.EachListedGrant(ctx, f, func(lg *ledger.Grant) error {
		g := listGrant(*lg, c.now)
		st := g.Status
		switch {
		case g.RevokePending:
			st += " (revocation pending)"
			pending++
		case g.ExpiredNotRevoked:
			st += " (not yet revoked)"
			overdue++
		}
		_, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", g.ID, g.Principal, g.Entitlement, g.TicketID, st, g.ExpiresAt)
		return err
	})
	if err != nil {
		return c.fail(exitUsage, "reading grants: %v", err)
	}
	if err := tw.Flush(); err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	if pending > 0 {
		fmt.Fprintf(c.stdout, "\n%d grant(s) are no longer active but still in force in their target: the next terraform apply that manages them retries the revocation,\n"+
			"or run governed revoke --grant ID, or governed reconcile, with --postgres-target for the grant's PostgreSQL target.\n", pending)
	}
	if overdue > 0 {
		fmt.Fprintf(c.stdout, "\n%d grant(s) are past their expiry but not yet revoked: the ledger has not recorded their expiry, and their\n"+
			"target may still give the access. The next terraform apply that manages them revokes them; for grants no\n"+
			"configuration manages any more, run governed reconcile (with --postgres-target for each PostgreSQL target), or apply\n"+
			"a governed_reconciliation.\n", overdue)
	}
	return exitOK
}

// listedGrant is a grant as governed grants lists it: its status as of now,
// and, apart from it, what the ledger has recorded.
type listedGrant struct {
	ledger.Grant
	// RecordedStatus is the status the ledger records; Status is the one as
	// of now, which is expired for a grant past its expiry even before the
	// expiry is recorded.
	RecordedStatus string `json:"recorded_status"`
	// ExpiredNotRevoked is set for a grant past its expiry that the ledger
	// still records as active or pending: nothing has revoked it yet.
	ExpiredNotRevoked bool `json:"expired_not_revoked"`
}

func listGrant(g ledger.Grant, now time.Time) listedGrant {
	lg := listedGrant{Grant: g, RecordedStatus: g.Status}
	lg.Status = g.StatusAt(now)
	lg.ExpiredNotRevoked = lg.Status == ledger.StatusExpired && lg.RecordedStatus != ledger.StatusExpired
	return lg
}
