package evidence

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/governed-entitlements/terraform-provider-governed/internal/checkpoint"
	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// Source is where the evidence comes from and what anchors it.
type Source struct {
	// Location names the ledger in the report (redacted: no password).
	Location string
	// Checkpoint is the path of a signed checkpoint the ledger must extend,
	// and CheckpointKey the key its signature must verify with; "" and nil
	// for none.
	Checkpoint    string
	CheckpointKey note.Verifier
	// Witnesses are the cosignatures the checkpoint must carry; their
	// timestamps (cosignature/v1) also bound the ledger's recording times
	// (checkpoint.CheckAnchors). None when Keys is empty.
	Witnesses checkpoint.Witnesses
}

// ErrCheckpointUnreadable is returned by Build for a checkpoint file that
// cannot be read at all (as opposed to one that does not verify, which the
// report records as a finding).
var ErrCheckpointUnreadable = errors.New("the checkpoint cannot be read")

// Build verifies the ledger, checks it against the checkpoint, and judges
// every grant that opts select into a spool, returning the report and the
// spool (which the caller closes). A ledger that does not verify or does not
// extend the checkpoint is a finding in the report (Report.Failed), not an
// error; the error is for a ledger or checkpoint that cannot be read.
func Build(ctx context.Context, l *ledger.Ledger, opts Options, src Source) (*Report, *Spool, error) {
	spool, err := NewSpool()
	if err != nil {
		return nil, nil, err
	}
	rep, err := judgeLedger(ctx, l, opts, src, spool.Add)
	if err != nil {
		spool.Close()
		return nil, nil, err
	}
	return rep, spool, nil
}

// StreamCSV is Build for the CSV alone: it writes each row as it is judged,
// without spooling, since the CSV has nothing ahead of its rows. The report
// it returns has its summary and the ledger's verification.
func StreamCSV(ctx context.Context, w io.Writer, l *ledger.Ledger, opts Options, src Source) (*Report, error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	cw, write := csvRows(bw)
	if err := cw.Write(ColumnNames()); err != nil {
		return nil, err
	}
	rep, err := judgeLedger(ctx, l, opts, src, write)
	if err != nil {
		return nil, err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return nil, err
	}
	return rep, bw.Flush()
}

// judgeLedger verifies the ledger while it judges its grants (two reads of
// their own, one the other's baseline; on two cores they overlap), then
// checks the checkpoint.
func judgeLedger(ctx context.Context, l *ledger.Ledger, opts Options, src Source, emit func(*Row) error) (*Report, error) {
	if opts.MaxLateness <= 0 {
		opts.MaxLateness = DefaultMaxLateness
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	type verified struct {
		rep *Report
		err error
	}
	done := make(chan verified, 1)
	go func() {
		rep, err := Prepare(ctx, l, opts, src)
		done <- verified{rep, err}
	}()
	sum, err := Collect(ctx, l, opts, emit)
	v := <-done
	if err != nil {
		return nil, err
	}
	if v.err != nil {
		return nil, v.err
	}
	v.rep.Summary = sum
	return v.rep, nil
}

// Prepare verifies the ledger and checks it against the checkpoint: the
// report without its rows and summary (see Build).
func Prepare(ctx context.Context, l *ledger.Ledger, opts Options, src Source) (*Report, error) {
	if opts.MaxLateness <= 0 {
		opts.MaxLateness = DefaultMaxLateness
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	rep := &Report{
		GeneratedAt: opts.Now.UTC(), Principal: opts.Principal, Entitlement: opts.Entitlement,
		MaxLateness: policy.FormatDuration(opts.MaxLateness),
		Period:      Period{From: stamp(opts.From), To: stamp(opts.To)},
	}
	id, err := l.ID(ctx)
	if err != nil {
		return nil, err
	}
	v, err := l.Verify(ctx)
	if err != nil {
		return nil, err
	}
	rep.Ledger = Ledger{ID: id, Location: src.Location, Events: v.Events, HeadSeq: v.Head.Seq, HeadHash: v.Head.Hash,
		Verified: v.OK, PinnedPolicies: opts.Trust.PolicyPins, PinnedSigners: opts.Trust.SignersPins}
	if opts.Trust.Signers != nil {
		rep.Ledger.TrustedSigners = opts.Trust.Signers.Pin()
	}
	if !v.OK {
		rep.Ledger.Problem = v.Problem
		if v.FirstBad > 0 {
			rep.Ledger.Problem = fmt.Sprintf("first bad sequence number %d: %s", v.FirstBad, v.Problem)
		}
	}
	if src.Checkpoint != "" {
		rep.Ledger.Checkpoint = src.Checkpoint
		cp, cosigned, short, err := checkpoint.LoadCosigned(src.Checkpoint, src.CheckpointKey, src.Witnesses)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("%w: %w", ErrCheckpointUnreadable, err)
		case err != nil:
			rep.Ledger.CheckpointResult = "the checkpoint does not verify: " + err.Error()
		default:
			signer := checkpoint.SignerOf(src.CheckpointKey)
			rep.Ledger.CheckpointSigner = &KeyName{Name: signer.Name, KeyHash: signer.Hash()}
			for _, w := range cosigned.Cosignatures {
				c := Cosignature{KeyName: KeyName{Name: w.Name, KeyHash: w.Hash()}}
				if !w.At.IsZero() {
					c.CosignedAt = w.At.UTC().Format(time.RFC3339)
				}
				rep.Ledger.CheckpointCosignatures = append(rep.Ledger.CheckpointCosignatures, c)
			}
			problem, err := checkpoint.Check(ctx, l, cp)
			if err != nil {
				return nil, err
			}
			rep.Ledger.CheckpointExtended = problem == ""
			rep.Ledger.CheckpointResult = "the ledger does NOT extend the checkpoint: " + problem
			if problem == "" {
				rep.Ledger.CheckpointResult = fmt.Sprintf("the signature verifies with key %s key hash %s and the ledger "+
					"extends the checkpoint (ledger %s, size %d, head hash %s)", signer.Name, signer.Hash(), cp.LedgerID, cp.Size, cp.Hash)
			}
			if problem == "" && short != "" {
				rep.Ledger.CheckpointExtended = false
				rep.Ledger.CheckpointResult = short
			}
			if problem == "" && short == "" && len(src.Witnesses.Keys) > 0 {
				timeProblem, err := checkpoint.CheckAnchors(ctx, l, cp, cosigned)
				if err != nil {
					return nil, err
				}
				if timeProblem != "" {
					rep.Ledger.CheckpointExtended = false
					rep.Ledger.CheckpointResult = "the ledger's recording times contradict the checkpoint's witnesses: " + timeProblem
				} else {
					names := make([]string, len(cosigned.Cosignatures))
					for i, w := range cosigned.Cosignatures {
						names[i] = fmt.Sprintf("%s key hash %s", w.Name, w.Hash())
					}
					rep.Ledger.CheckpointResult += fmt.Sprintf("; cosigned by %s", strings.Join(names, ", "))
					for _, a := range cosigned.Anchors(cp) {
						rep.Ledger.CheckpointResult += fmt.Sprintf("; witness %s saw it at %s", a.Witness, a.Time.Format(time.RFC3339))
					}
				}
			}
		}
	}
	return rep, nil
}
