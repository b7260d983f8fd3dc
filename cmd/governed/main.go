// Command governed serves the people around the pipeline: it verifies the
// ledger and anchors it with signed checkpoints, revokes a grant during an
// incident, lists what is granted, revokes, on a schedule, what the ledger
// says must go, and reviews a pull request's grant diff from its plan.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/evidence"
	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
)

// Exit codes.
const (
	exitOK       = 0
	exitProblem  = 1 // the ledger does not verify, the grant is unknown, or access is left in place
	exitUsage    = 2 // bad arguments, or the ledger or a plan file cannot be read
	ledgerUsage  = "the ledger: a SQLite file path, sqlite:PATH or a postgres:// URL (default $" + ledger.EnvLocation + ", then " + ledger.DefaultLocation + ")"
	usageSummary = `Usage: governed <command> [flags]

Commands:
  verify   [--checkpoint F --checkpoint-key K [--witness-key W]... [--witnesses N]]
           [--allowed-signers F [--revoked-keys R]] [--signers-sha256 A[,R]]...
           [--policy-sha256 HEX[,HEX...]]... [--policy F]... [--ledger L]
                                         verify the whole ledger (its hash chain and the meaning of its
                                         events) and print its head; with a checkpoint, check that the
                                         ledger extends it and that enough witnesses cosigned it; with
                                         --allowed-signers, that every approver's key is one you trust;
                                         with --policy-sha256 or --policy, that every decision was judged
                                         by a policy you pinned
  checkpoint keygen --name NAME [--signer-key FILE] [--verifier-key FILE]
                                         make a key pair for signing or cosigning checkpoints
  checkpoint sign --key FILE [--out F] [--checkpoint F --checkpoint-key K] [--ledger L]
                                         sign a checkpoint of the ledger (its id, size and head hash)
  checkpoint witness --key FILE --checkpoint F --checkpoint-key K [--previous P] [--out F] [--ledger L]
                                         cosign a checkpoint as a witness, never a fork or a rollback
  revoke   --grant ID --reason TEXT [--postgres-target NAME=URL]... [--terminate-sessions=false] [--ledger L]
                                         revoke a grant now, outside Terraform (incident response)
  grants   [--status S] [--expiring-within D] [--principal P] [--entitlement E] [--json] [--ledger L]
                                         list grants from the ledger
  reconcile [--postgres-target NAME=URL]... [--terminate-sessions=false] [--dry-run] [--ledger L]
                                         revoke every grant past its expiry, under a withdrawn approval or
                                         pending revocation, whether or not a configuration still manages it
  review   --plan plan.json [--plan-log plan.jsonl] [--format md|json|github|sarif] [--expiring-within D]
           [--detailed-exitcode]        a pull request's grant diff, from terraform show -json of a saved plan
                                         and the log of terraform plan -json; exit 1 when something blocks
  evidence [--from T --to T] [--principal P] [--entitlement E] [--format csv|json|md|html] [--out F]
           [--as-of T] [--max-lateness D] [--checkpoint F --checkpoint-key K [--witness-key W]... [--witnesses N]]
           [--bundle DIR] [--allowed-signers F [--revoked-keys R]] [--signers-sha256 A[,R]]...
           [--policy-sha256 HEX[,HEX...]]... [--policy F]... [--ledger L]
                                         per grant: authorised, time bound, revoked on time, with the events
                                         that prove it; exit 1 when any grant fails
  history  [--json] [--ledger L] GRANT   every event of one grant (and its approval), verified
  approvals [--status S] [--principal P] [--entitlement E] [--ticket T] [--json] [--ledger L]
                                         approval records and the grants they authorised
  version                                print governed's version
  help                                   show this text

Run "governed <command> -h" for a command's flags.
`
)

// version is set by the release build and by make build.
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the exit code. Output that could
// not be written (a closed pipe, a full disk) makes it exit 2, whatever the
// command decided: a listing or report that did not reach its reader must not
// pass for one that did.
func run(args []string, stdout, stderr io.Writer) int {
	out := &checkedWriter{w: stdout}
	code := dispatch(args, out, stderr)
	if out.err != nil {
		fmt.Fprintf(stderr, "governed: writing the output failed: %v\n", out.err)
		return exitUsage
	}
	return code
}

// checkedWriter remembers the first error of the writes to w, and writes
// nothing after it.
type checkedWriter struct {
	w   io.Writer
	err error
}

func (c *checkedWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.err = err
	return n, err
}

// dispatch runs the command args name. Everything it prints goes through
// escaping.
func dispatch(args []string, stdout, stderr io.Writer) int {
	stdout, stderr = escaping{stdout}, escaping{stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, usageSummary)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	c := &command{stdout: stdout, stderr: stderr, now: time.Now().UTC()}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usageSummary)
		return exitOK
	case "verify":
		return c.verify(ctx, args[1:])
	case "checkpoint":
		return c.checkpointCmd(ctx, args[1:])
	case "revoke":
		return c.revoke(ctx, args[1:])
	case "grants":
		return c.grants(ctx, args[1:])
	case "reconcile":
		return c.reconcile(ctx, args[1:])
	case "review":
		return c.review(args[1:])
	case "evidence":
		return c.evidenceCmd(ctx, args[1:])
	case "history":
		return c.history(ctx, args[1:])
	case "approvals":
		return c.approvals(ctx, args[1:])
	case "version":
		fmt.Fprintf(stdout, "governed %s\n", version)
		return exitOK
	}
	fmt.Fprintf(stderr, "governed: unknown command %q\n\n%s", args[0], usageSummary)
	return exitUsage
}

// command holds what every subcommand uses.
type command struct {
	stdout, stderr io.Writer
	now            time.Time
	name           string
	synopsis       string // the subcommand's arguments, as its help shows them
	helpNote       string // what its help says between the synopsis and the flags, if anything
	// trust is what verification holds signed approvals to beyond the
	// ledger (--allowed-signers, --signers-sha256); zero for nothing.
	trust evidence.Trust
}

// flags returns a flag set for the subcommand, with --ledger.
func (c *command) flags(name, synopsis string, location *string) *flag.FlagSet {
	fs := c.newFlags(name, synopsis)
	fs.StringVar(location, "ledger", "", ledgerUsage)
	return fs
}

func (c *command) fail(code int, format string, a ...any) int {
	fmt.Fprintf(c.stderr, "%s: %s\n", c.name, fmt.Sprintf(format, a...))
	return code
}

// open opens an existing ledger; a location that does not exist is an error,
// not a new ledger.
func (c *command) open(ctx context.Context, location string) (*ledger.Ledger, error) {
	l, err := ledger.OpenExisting(ctx, ledger.Resolve(location))
	if errors.Is(err, ledger.ErrNoLedger) {
		return nil, fmt.Errorf("%w: run governed in the directory where terraform apply ran, or name the ledger with "+
			"--ledger or $%s", err, ledger.EnvLocation)
	}
	if err == nil {
		// Verification judges every recorded decision against its policy,
		// and signed approvals against what the auditor trusts, if anything.
		l.SetJudge(evidence.NewTrustingJudge(c.trust))
	}
	return l, err
}
