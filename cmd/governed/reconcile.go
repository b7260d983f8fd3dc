package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/lifecycle"
)

// reconciled is what reconcile did, or would do, about one due grant.
type reconciled struct {
	due     lifecycle.Due
	outcome string
	// left is set when the access may still be in place afterwards: a target
	// this command was not given, a target that refused or could not be
	// reached, or a failure to record the outcome.
	left bool
}

// reconcile removes, in the targets it is given, the access of every grant
// that the ledger says must go: past its expiry but still recorded active or
// pending, made under a withdrawn approval, or with a revocation pending. It
// needs no Terraform state and no configuration, so that a grant whose
// configuration is gone is still revoked. A grant in a target it was not
// given is reported and left as the ledger holds it.
func (c *command) reconcile(ctx context.Context, args []string) int {
	var location string
	var targetValues []string
	var terminate, dryRun bool
	fs := c.flags("reconcile", "[--postgres-target NAME=URL]... [--terminate-sessions=false] [--dry-run] [--ledger L]", &location)
	fs.Func("postgres-target", "a PostgreSQL target as the provider's postgres_targets names it, NAME=URL (repeatable);\n"+
		"grants in a target that is not given are reported, left as they are, and make the command exit 1", func(v string) error {
		targetValues = append(targetValues, v)
		return nil
	})
	fs.BoolVar(&terminate, "terminate-sessions", true, "end the principal's open sessions in the target once a membership is revoked, as the\n"+
		"provider's terminate_sessions_on_revoke does by default; --terminate-sessions=false leaves them open")
	fs.BoolVar(&dryRun, "dry-run", false, "list what is due and what would be done, and change nothing")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	targets, err := postgresTargets(targetValues, terminate)
	if err != nil {
		return c.usageError(fs, "--postgres-target: %v", err)
	}
	defer closeTargets(targets)
	l, err := c.open(ctx, location)
	if err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	defer l.Close()
	run := lifecycle.NewRun(l, targets, c.now, lifecycle.WithUnconfiguredTarget(func(name string) error {
		return fmt.Errorf("governed reconcile was not given target %s (--postgres-target)", name)
	}))
	// From the events, not the current-state rows, which an insider may
	// edit to hide a grant from a removal (DueFromEvents).
	due, err := run.DueFromEvents(ctx)
	if err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	if len(due) == 0 {
		fmt.Fprintln(c.stdout, "Nothing to reconcile: no grant is past its expiry and still in force, under a withdrawn approval, or pending revocation.")
		return exitOK
	}

	// Grants in targets this command was not given are left as the ledger
	// holds them; the others are settled, unless this is a dry run.
	results := make([]reconciled, len(due))
	var todo []lifecycle.Due
	var at []int
	for i, d := range due {
		results[i].due = d
		switch _, err := targets.Lookup(d.Grant.Target); {
		case err != nil:
			results[i].left = true
			results[i].outcome = "left in place: target " + d.Grant.Target + " not given (--postgres-target)"
		case dryRun:
			results[i].outcome = dueAction(d, true)
		default:
			todo, at = append(todo, d), append(at, i)
		}
	}
	settled, errs := run.ReconcileAll(ctx, todo)
	for j, i := range at {
		results[i] = reconciledOutcome(ctx, run, todo[j], settled[j], errs[j])
	}

	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPRINCIPAL\tENTITLEMENT\tTICKET\tTARGET\tEXPIRES_AT\tDUE\tOUTCOME")
	left := 0
	for _, r := range results {
		g := r.due.Grant
		if r.left {
			left++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", g.ID, g.Principal, g.Entitlement, g.TicketID, g.Target, g.ExpiresAt,
			r.due.Why(), r.outcome)
	}
	if err := tw.Flush(); err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	switch {
	case dryRun:
		fmt.Fprintf(c.stdout, "\n%d grant(s) due; nothing was changed (--dry-run).\n", len(due))
		return exitProblem
	case left > 0:
		fmt.Fprintf(c.stdout, "\n%d grant(s) reconciled; %d left with their access possibly in place. Give every target with\n"+
			"--postgres-target, or fix what the outcome names, and run this again.\n", len(due)-left, left)
		return exitProblem
	}
	fmt.Fprintf(c.stdout, "\n%d grant(s) reconciled.\n", len(due))
	return exitOK
}

// reconciledOutcome says what reconciling d did, from its result res and
// error err, and whether other grants keep the same access in place.
func reconciledOutcome(ctx context.Context, run *lifecycle.Run, d lifecycle.Due, res lifecycle.Result, err error) reconciled {
	g := d.Grant
	switch {
	case err != nil:
		return reconciled{due: d, left: true, outcome: "failed: " + err.Error()}
	case res.Grant.RevokePending:
		return reconciled{due: d, left: true, outcome: fmt.Sprintf("left in place: %s did not remove the access: %s", g.Target, res.Grant.RevokeError)}
	case !res.Appended:
		return reconciled{due: d, outcome: "nothing to do: already " + res.Grant.Status}
	}
	outcome := dueAction(d, false)
	if run.Enforced(res.Grant) {
		outcome += ", removed from " + g.Target
		covering, err := run.Covering(ctx, res.Grant)
		if err != nil {
			return reconciled{due: d, left: true, outcome: outcome + "; checking other grants of the same access failed: " + err.Error()}
		}
		if len(covering) > 0 {
			ids := make([]string, len(covering))
			for i, o := range covering {
				ids[i] = o.ID
			}
			outcome += "; the access stays under " + strings.Join(ids, ", ")
		}
	}
	return reconciled{due: d, outcome: outcome}
}

// dueAction says what reconciling d records, or would record.
func dueAction(d lifecycle.Due, would bool) string {
	switch {
	case d.Ending == ledger.ReasonExpired && would:
		return "would expire"
	case d.Ending == ledger.ReasonExpired:
		return "expired"
	case d.Ending == ledger.ReasonApprovalWithdrawn && would:
		return "would revoke (" + ledger.ReasonApprovalWithdrawn + ")"
	case d.Ending == ledger.ReasonApprovalWithdrawn:
		return "revoked (" + ledger.ReasonApprovalWithdrawn + ")"
	case would:
		return "would complete the revocation"
	}
	return "revocation completed"
}
