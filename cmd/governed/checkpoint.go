package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/governed-entitlements/terraform-provider-governed/internal/checkpoint"
	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"golang.org/x/mod/sumdb/note"
)

const checkpointUsage = `Usage: governed checkpoint <keygen|sign|witness> [flags]

  keygen  --name NAME [--signer-key FILE] [--verifier-key FILE]
          make a key pair for signing checkpoints, or for a witness to cosign them
  sign    --key FILE [--out F] [--checkpoint F --checkpoint-key K] [--ledger L]
          sign a checkpoint of the ledger's id, size and head hash
  witness --key FILE --checkpoint F --checkpoint-key K [--previous P] [--out F] [--ledger L]
          cosign a checkpoint as a witness: only one the ledger extends, and that extends
          the checkpoint this witness cosigned last (--previous)
`

// checkpointCmd runs governed checkpoint keygen|sign|witness.
func (c *command) checkpointCmd(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, checkpointUsage)
		return exitUsage
	}
	switch args[0] {
	case "keygen":
		return c.checkpointKeygen(args[1:])
	case "sign":
		return c.checkpointSign(ctx, args[1:])
	case "witness":
		return c.checkpointWitness(ctx, args[1:])
	case "help", "-h", "-help", "--help":
		fmt.Fprint(c.stdout, checkpointUsage)
		return exitOK
	}
	fmt.Fprintf(c.stderr, "governed checkpoint: unknown subcommand %q\n\n%s", args[0], checkpointUsage)
	return exitUsage
}

// checkpointKeygen makes a key pair: the signer key goes to a new file that
// only its owner can read, and the verifier key is printed and written too.
func (c *command) checkpointKeygen(args []string) int {
	var name, signerFile, verifierFile string
	fs := c.newFlags("checkpoint keygen", "--name NAME [--signer-key FILE] [--verifier-key FILE]")
	fs.StringVar(&name, "name", "", "the key's name, such as checkpoints.example.com (required)")
	fs.StringVar(&signerFile, "signer-key", "checkpoint.key", "where to write the signer key, which must stay secret; an existing file is never overwritten")
	fs.StringVar(&verifierFile, "verifier-key", "checkpoint.pub", "where to write the verifier key, which anyone may hold")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if strings.TrimSpace(name) == "" {
		return c.usageError(fs, "--name is required: name the key, such as checkpoints.example.com")
	}
	signer, verifier, err := checkpoint.GenerateKey(name)
	if err != nil {
		return c.usageError(fs, "%v", err)
	}
	if err := writeNew(signerFile, []byte(signer+"\n"), 0o600); err != nil {
		return c.fail(exitUsage, "writing the signer key: %v", err)
	}
	if err := writeFile(verifierFile, []byte(verifier+"\n"), 0o644); err != nil {
		return c.fail(exitUsage, "writing the verifier key: %v", err)
	}
	fmt.Fprintf(c.stdout, "signer key written to %s: keep it secret, only where it signs (the apply job, or the witness that owns it)\n", signerFile)
	fmt.Fprintf(c.stdout, "verifier key written to %s:\n%s\n", verifierFile, verifier)
	return exitOK
}

// checkpointSign signs a checkpoint of a ledger that verifies and, where a
// previous checkpoint is given, extends it.
func (c *command) checkpointSign(ctx context.Context, args []string) int {
	var location, keyFile, out string
	fs := c.flags("checkpoint sign", "--key FILE [--out F] [--checkpoint F --checkpoint-key K] [--ledger L]", &location)
	fs.StringVar(&keyFile, "key", "", "the signer key file, as governed checkpoint keygen writes it (required)")
	fs.StringVar(&out, "out", "", "where to write the signed checkpoint (default: standard output)")
	prev := c.checkpointFlags(fs, "the previous checkpoint: sign only a ledger that extends it")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if keyFile == "" {
		return c.usageError(fs, "--key is required: name the signer key file")
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return c.fail(exitUsage, "reading the signer key: %v", err)
	}
	// The key is checked before the ledger is read, which can take long.
	own, err := checkpoint.VerifierOf(string(key))
	if err != nil {
		return c.fail(exitUsage, "the signer key %s: %v", keyFile, err)
	}
	if code, ok := prev.validate(c, fs); !ok {
		return code
	}
	l, err := c.open(ctx, location)
	if err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	defer l.Close()
	if _, code, ok := c.verified(ctx, l); !ok {
		return code
	}
	if prev.file != "" {
		if _, err := os.Stat(prev.file); errors.Is(err, os.ErrNotExist) {
			return c.fail(exitUsage, "the previous checkpoint %s does not exist: for a ledger's first checkpoint, "+
				"leave out --checkpoint and --checkpoint-key; after that, give the checkpoint the last sign wrote", prev.file)
		}
	}
	if code, ok := prev.check(ctx, c, l); !ok {
		return code
	}
	cp, err := checkpoint.Of(ctx, l)
	if err != nil {
		return c.fail(exitUsage, "reading the ledger: %v", err)
	}
	msg, err := checkpoint.Sign(cp, string(key))
	if err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	if out == "" {
		_, _ = c.stdout.Write(msg)
		return exitOK
	}
	if err := writeFile(out, msg, 0o644); err != nil {
		return c.fail(exitUsage, "writing the checkpoint: %v", err)
	}
	fmt.Fprintf(c.stdout, "checkpoint written to %s: ledger %s, size %d, head hash %s\n", out, cp.LedgerID, cp.Size, cp.Hash)
	c.noteOtherSigner(own, prev.key)
	return exitOK
}

// noteOtherSigner writes one line to standard error when the checkpoint was
// signed with a key other than prevKey, the verifier key of the previous
// checkpoint: runs that check checkpoints with prevKey will refuse it. It is
// a note, not a refusal, since moving to a new key signs exactly so.
func (c *command) noteOtherSigner(own note.Verifier, prevKey string) {
	if prevKey == "" {
		return
	}
	pk, err := checkpoint.ParseVerifierKey(prevKey)
	if err != nil || (pk.Name() == own.Name() && pk.KeyHash() == own.KeyHash()) {
		return
	}
	fmt.Fprintf(c.stderr, "note: signed with key %s+%08x, not %s+%08x, the key of --checkpoint-key: plans given that "+
		"key in GOVERNED_CHECKPOINT_KEY will refuse this checkpoint; unless you are moving to the new key, sign "+
		"with the signer key that belongs to --checkpoint-key\n", own.Name(), own.KeyHash(), pk.Name(), pk.KeyHash())
}

// checkpointWitness cosigns a checkpoint as a witness. It cosigns only a
// checkpoint whose log signature verifies, of a ledger that verifies and
// extends it, and, given the checkpoint this witness cosigned last
// (--previous), one of the same ledger, no smaller, whose ledger holds at the
// old size the event the old checkpoint records: never a fork or a rollback.
func (c *command) checkpointWitness(ctx context.Context, args []string) int {
	var location, keyFile, previous, out string
	fs := c.flags("checkpoint witness", "--key FILE --checkpoint F --checkpoint-key K [--previous P] [--out F] [--ledger L]", &location)
	fs.StringVar(&keyFile, "key", "", "the witness's signer key file, as governed checkpoint keygen writes it (required)")
	fs.StringVar(&previous, "previous", "", "the checkpoint this witness cosigned last, as it wrote it: cosign only a checkpoint\n"+
		"that extends it (leave it out for the witness's first cosignature)")
	fs.StringVar(&out, "out", "", "where to write the cosigned checkpoint (default: standard output)")
	cp := c.checkpointFlags(fs, "the checkpoint to cosign (required)")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	if keyFile == "" {
		return c.usageError(fs, "--key is required: name the witness's signer key file")
	}
	if cp.file == "" || cp.key == "" {
		return c.usageError(fs, "--checkpoint and --checkpoint-key are required: the checkpoint to cosign and the "+
			"verifier key of the log that signed it")
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return c.fail(exitUsage, "reading the witness key: %v", err)
	}
	own, err := checkpoint.VerifierOf(string(key))
	if err != nil {
		return c.fail(exitUsage, "the witness key %s: %v", keyFile, err)
	}
	logKey, err := checkpoint.ParseVerifierKey(cp.key)
	if err != nil {
		return c.fail(exitUsage, "--checkpoint-key: %v", err)
	}
	msg, err := os.ReadFile(cp.file)
	if err != nil {
		return c.fail(exitUsage, "reading the checkpoint: %v", err)
	}
	next, err := checkpoint.Open(msg, logKey)
	if err != nil {
		fmt.Fprintf(c.stderr, "checkpoint NOT cosigned: the checkpoint %s is not valid: %v\n", cp.file, err)
		return exitProblem
	}
	var prev *checkpoint.Checkpoint
	if previous != "" {
		prevMsg, err := os.ReadFile(previous)
		if errors.Is(err, os.ErrNotExist) {
			return c.fail(exitUsage, "the previous checkpoint %s does not exist: for this witness's first "+
				"cosignature, leave out --previous; after that, give the checkpoint it cosigned last", previous)
		}
		if err != nil {
			return c.fail(exitUsage, "reading the previous checkpoint: %v", err)
		}
		p, err := checkpoint.Open(prevMsg, logKey)
		if err != nil {
			fmt.Fprintf(c.stderr, "checkpoint NOT cosigned: the previous checkpoint %s is not valid: %v\n", previous, err)
			return exitProblem
		}
		if mine := (checkpoint.Witnesses{Keys: []note.Verifier{own}}).Cosigners(prevMsg); len(mine.Cosigned) == 0 {
			fmt.Fprintf(c.stderr, "checkpoint NOT cosigned: the previous checkpoint %s carries no valid cosignature by "+
				"this witness (%s): give the checkpoint this witness cosigned last, as it wrote it\n", previous, own.Name())
			return exitProblem
		}
		prev = &p
	}
	l, err := c.open(ctx, location)
	if err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	defer l.Close()
	if _, code, ok := c.verified(ctx, l); !ok {
		return code
	}
	problem, err := checkpoint.Check(ctx, l, next)
	if err == nil && problem == "" && prev != nil {
		problem, err = checkpoint.Extends(ctx, l, *prev, next)
	}
	if err == nil && problem == "" {
		// The cosignature is dated now, read before the ledger was: it
		// says that the ledger's head was at the checkpoint's size then,
		// which holds only while no event was appended since.
		var head ledger.Head
		if head, err = l.Head(ctx); err == nil && head.Seq != next.Size {
			problem = fmt.Sprintf("the ledger's head is at sequence number %d, past the checkpoint's size %d: a witness "+
				"dates its cosignature, and it would date events appended since the checkpoint as older than they are; "+
				"sign a checkpoint of the ledger as it is now and cosign that", head.Seq, next.Size)
		}
	}
	if err != nil {
		return c.fail(exitUsage, "reading the ledger: %v", err)
	}
	if problem != "" {
		fmt.Fprintf(c.stderr, "checkpoint NOT cosigned: %s (ledger %s, size %d): %s\n", cp.file, next.LedgerID, next.Size, problem)
		return exitProblem
	}
	cosigned, _, err := checkpoint.CosignAt(msg, logKey, string(key), c.now)
	if err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	if out == "" {
		_, _ = c.stdout.Write(cosigned)
		return exitOK
	}
	if err := writeFile(out, cosigned, 0o644); err != nil {
		return c.fail(exitUsage, "writing the cosigned checkpoint: %v", err)
	}
	fmt.Fprintf(c.stdout, "checkpoint cosigned by %s, written to %s: ledger %s, size %d, head hash %s\n",
		own.Name(), out, next.LedgerID, next.Size, next.Hash)
	return exitOK
}

// witnessFlags are verify's --witness-key (repeatable) and --witnesses.
type witnessFlags struct {
	keys      []string
	threshold int
}

func (c *command) witnessFlags(fs *flag.FlagSet) *witnessFlags {
	f := &witnessFlags{threshold: -1}
	fs.Func("witness-key", "the verifier key of a witness whose cosignature --checkpoint must carry: its text\n"+
		"(NAME+HASH+KEY) or a file that holds it (repeatable)", func(v string) error {
		f.keys = append(f.keys, v)
		return nil
	})
	fs.IntVar(&f.threshold, "witnesses", -1, "how many of the --witness-key witnesses must have cosigned (default: all of them)")
	return f
}

// parse reads the witness keys into what the checkpoint must carry. It
// returns a zero Witnesses without --witness-key.
func (f *witnessFlags) parse(c *command, fs *flag.FlagSet, cp *checkpointFlags) (checkpoint.Witnesses, int, bool) {
	var w checkpoint.Witnesses
	if len(f.keys) == 0 {
		if f.threshold >= 0 {
			return w, c.usageError(fs, "--witnesses needs --witness-key: name the witnesses' verifier keys"), false
		}
		return w, exitOK, true
	}
	if cp.file == "" {
		return w, c.usageError(fs, "--witness-key needs --checkpoint and --checkpoint-key: the checkpoint whose "+
			"cosignatures to check"), false
	}
	for _, k := range f.keys {
		v, err := checkpoint.ParseVerifierKey(k)
		if err != nil {
			return w, c.fail(exitUsage, "--witness-key %s: %v", k, err), false
		}
		w.Keys = append(w.Keys, v)
	}
	w.Threshold = f.threshold
	if w.Threshold < 0 {
		w.Threshold = len(w.Keys)
	}
	logKey, err := checkpoint.ParseVerifierKey(cp.key)
	if err != nil {
		return w, c.fail(exitUsage, "--checkpoint-key: %v", err), false
	}
	if err := w.CheckKeys(logKey); err != nil {
		return w, c.usageError(fs, "%v", err), false
	}
	return w, exitOK, true
}

// check reports, and exits 1 on, a checkpoint short of its witnesses. It
// does nothing without witness keys; file's own signature is checked first.
func (f *witnessFlags) check(c *command, w checkpoint.Witnesses, file string) (checkpoint.Witnessed, int, bool) {
	if len(w.Keys) == 0 {
		return checkpoint.Witnessed{}, exitOK, true
	}
	msg, err := os.ReadFile(file)
	if err != nil {
		return checkpoint.Witnessed{}, c.fail(exitUsage, "reading the checkpoint: %v", err), false
	}
	r := w.Cosigners(msg)
	if short := r.Short(w.Threshold); short != "" {
		fmt.Fprintf(c.stderr, "checkpoint is NOT witnessed: %s: %s\n", file, short)
		return r, exitProblem, false
	}
	return r, exitOK, true
}

// checkAnchors reports, and exits 1 on, recording times that contradict the
// times at which the witnesses cosigned the checkpoint at file.
func (f *witnessFlags) checkAnchors(ctx context.Context, c *command, l *ledger.Ledger, cp *checkpointFlags, r checkpoint.Witnessed) (int, bool) {
	if len(r.Times) == 0 {
		return exitOK, true
	}
	v, err := checkpoint.ParseVerifierKey(cp.key)
	if err != nil {
		return c.fail(exitUsage, "--checkpoint-key: %v", err), false
	}
	at, err := checkpoint.Load(cp.file, v)
	if err != nil {
		return c.fail(exitUsage, "%v", err), false
	}
	problem, err := checkpoint.CheckAnchors(ctx, l, at, r)
	if err != nil {
		return c.fail(exitUsage, "reading the ledger: %v", err), false
	}
	if problem != "" {
		fmt.Fprintf(c.stderr, "ledger's recording times contradict the witnesses of %s: %s\n", cp.file, problem)
		return exitProblem, false
	}
	return exitOK, true
}

// checkpointFlags are --checkpoint and --checkpoint-key.
type checkpointFlags struct {
	file, key string
	// signedBy is the key whose signature on the checkpoint verified, once
	// check has passed.
	signedBy checkpoint.Signer
}

func (c *command) checkpointFlags(fs *flag.FlagSet, what string) *checkpointFlags {
	f := &checkpointFlags{}
	fs.StringVar(&f.file, "checkpoint", "", what+" (a signed checkpoint file; needs --checkpoint-key)")
	fs.StringVar(&f.key, "checkpoint-key", "", "the verifier key of --checkpoint: its text (NAME+HASH+KEY) or a file that holds it")
	return f
}

// validate checks that the flags come together.
func (f *checkpointFlags) validate(c *command, fs *flag.FlagSet) (int, bool) {
	if (f.file == "") != (f.key == "") {
		return c.usageError(fs, "--checkpoint and --checkpoint-key go together: give both, or neither"), false
	}
	return 0, true
}

// check reports, and exits 1 on, a checkpoint whose signature does not
// verify or that the ledger does not extend. It does nothing without flags.
func (f *checkpointFlags) check(ctx context.Context, c *command, l *ledger.Ledger) (int, bool) {
	if f.file == "" {
		return exitOK, true
	}
	v, err := checkpoint.ParseVerifierKey(f.key)
	if err != nil {
		return c.fail(exitUsage, "--checkpoint-key: %v", err), false
	}
	cp, err := checkpoint.Load(f.file, v)
	if errors.Is(err, os.ErrNotExist) {
		return c.fail(exitUsage, "%v", err), false
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "checkpoint does NOT verify: %v\n", err)
		return exitProblem, false
	}
	problem, err := checkpoint.Check(ctx, l, cp)
	if err != nil {
		return c.fail(exitUsage, "reading the ledger: %v", err), false
	}
	if problem != "" {
		fmt.Fprintf(c.stderr, "ledger does NOT extend the checkpoint %s (ledger %s, size %d): %s\n", f.file, cp.LedgerID, cp.Size, problem)
		return exitProblem, false
	}
	f.signedBy = checkpoint.SignerOf(v)
	return exitOK, true
}

// verified verifies the ledger's chain and reports a failure (exit 1).
func (c *command) verified(ctx context.Context, l *ledger.Ledger) (ledger.Report, int, bool) {
	r, err := l.Verify(ctx)
	if err != nil {
		return r, c.fail(exitUsage, "reading the ledger: %v", err), false
	}
	if !r.OK {
		if r.FirstBad > 0 {
			fmt.Fprintf(c.stderr, "ledger does NOT verify: first bad sequence number %d: %s\n", r.FirstBad, r.Problem)
		} else {
			fmt.Fprintf(c.stderr, "ledger does NOT verify: %s\n", r.Problem)
		}
		return r, exitProblem, false
	}
	return r, exitOK, true
}

// writeNew writes a file that must not exist yet, making its directory.
func writeNew(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// writeFile replaces a file whole: it writes a temporary file beside it and
// renames it into place, so that a reader never sees half a file.
func writeFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
