package evidence

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Report is what every format says around the rows: which ledger, whether
// it verified, the selection, and the counts.
type Report struct {
	GeneratedAt time.Time `json:"generated_at"`
	Ledger      Ledger    `json:"ledger"`
	Period      Period    `json:"period"`
	Principal   string    `json:"principal,omitempty"`
	Entitlement string    `json:"entitlement,omitempty"`
	MaxLateness string    `json:"max_lateness"`
	Summary     Summary   `json:"summary"`
}

// Ledger says which ledger the evidence comes from and how far it was
// verified.
type Ledger struct {
	ID       string `json:"id"`
	Location string `json:"location"`
	Events   int64  `json:"events"`
	HeadSeq  int64  `json:"head_seq"`
	HeadHash string `json:"head_hash"`
	// Verified: the whole hash chain, the recorded head and the current
	// state verified (governed verify); Problem says what did not.
	Verified bool   `json:"verified"`
	Problem  string `json:"problem,omitempty"`
	// Checkpoint is the signed checkpoint checked, "" when none was given;
	// CheckpointResult says whether the ledger extends it.
	Checkpoint         string `json:"checkpoint,omitempty"`
	CheckpointExtended bool   `json:"checkpoint_extended,omitempty"`
	CheckpointResult   string `json:"checkpoint_result,omitempty"`
	// CheckpointSigner is the key whose signature on the checkpoint
	// verified, and CheckpointCosignatures the witnesses whose cosignatures
	// verified, in the order their keys were given; nil when the checkpoint's
	// own signature does not verify.
	CheckpointSigner       *KeyName      `json:"checkpoint_signer,omitempty"`
	CheckpointCosignatures []Cosignature `json:"checkpoint_cosignatures,omitempty"`
	// PinnedPolicies are the policy digests (SHA-256 of each document,
	// lowercase hex) every decision was held to (--policy-sha256, --policy);
	// empty when none were pinned.
	PinnedPolicies []string `json:"pinned_policies,omitempty"`
	// TrustedSigners is the SHA-256 of the allowed_signers file (then, after
	// a comma, of the revoked keys list) every signed approval was held to
	// (--allowed-signers, --revoked-keys), as GOVERNED_SIGNERS_SHA256 writes
	// it; PinnedSigners are the kept key files accepted by digest
	// (--signers-sha256). Empty when none were given.
	TrustedSigners string   `json:"trusted_signers,omitempty"`
	PinnedSigners  []string `json:"pinned_signers,omitempty"`
}

// trustLines says, one line each, what the report held the ledger to
// beyond its own copies: pinned policies and trusted key files; "" when
// nothing.
func (l Ledger) trustLines() string {
	var b strings.Builder
	if len(l.PinnedPolicies) > 0 {
		fmt.Fprintf(&b, "every decision was held to the pinned policies: %s\n", strings.Join(l.PinnedPolicies, " or "))
	}
	if l.TrustedSigners != "" {
		fmt.Fprintf(&b, "every signed approval was held to the trusted key files with SHA-256 %s\n", l.TrustedSigners)
	}
	if len(l.PinnedSigners) > 0 {
		fmt.Fprintf(&b, "every signed approval was held to the pinned key files: %s\n", strings.Join(l.PinnedSigners, " or "))
	}
	return b.String()
}

// KeyName names a signed-note key as its verifier key text (NAME+HASH+KEY)
// does: its name and its key hash in eight lowercase hex digits.
type KeyName struct {
	Name    string `json:"name"`
	KeyHash string `json:"key_hash"`
}

// Cosignature is a witness's cosignature of the checkpoint that verifies.
type Cosignature struct {
	KeyName
	// CosignedAt is when the witness says it saw the checkpoint, RFC 3339
	// in UTC; "" for a plain cosignature, which carries no time.
	CosignedAt string `json:"cosigned_at,omitempty"`
}

// Period is the selected period; empty sides are open.
type Period struct {
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// Failed reports whether the report holds a finding: a grant that fails a
// verdict, a ledger that does not verify or does not extend its checkpoint.
func (r *Report) Failed() bool {
	return r.Summary.Failed > 0 || !r.Ledger.Verified || r.Ledger.Checkpoint != "" && !r.Ledger.CheckpointExtended
}

// Spool keeps the rows of a report in a temporary file, one JSON line each,
// so that a report can be written after its summary is known without holding
// every row in memory.
type Spool struct {
	all, failed spoolFile
	n           int
}

// spoolFile is one file of a spool: a gob stream of spoolRows.
type spoolFile struct {
	f   *os.File
	w   *bufio.Writer
	enc *gob.Encoder
}

func newSpoolFile() (spoolFile, error) {
	f, err := os.CreateTemp("", "governed-evidence-*.gob")
	if err != nil {
		return spoolFile{}, err
	}
	w := bufio.NewWriterSize(f, 1<<16)
	return spoolFile{f: f, w: w, enc: gob.NewEncoder(w)}, nil
}

// spoolRow is a row with the instants its timeline is drawn from, in gob:
// gob sends no zero values, so the row's min_approvals travels apart.
type spoolRow struct {
	Row                         *Row
	MinApprovals                int
	HasMinApprovals             bool
	Start, Expiry, Removed, Now time.Time
}

// NewSpool makes a spool in the temporary directory; Close removes it.
func NewSpool() (*Spool, error) {
	all, err := newSpoolFile()
	if err != nil {
		return nil, err
	}
	failed, err := newSpoolFile()
	if err != nil {
		all.close()
		return nil, err
	}
	return &Spool{all: all, failed: failed}, nil
}

// Add appends a row; a row that fails a verdict is kept apart as well, for
// the findings that reports list first.
func (s *Spool) Add(r *Row) error {
	sr := spoolRow{Row: r, Start: r.start, Expiry: r.expiry, Removed: r.removed, Now: r.now}
	if r.MinApprovals != nil {
		sr.MinApprovals, sr.HasMinApprovals = *r.MinApprovals, true
	}
	s.n++
	if r.Failed() {
		if err := s.failed.enc.Encode(&sr); err != nil {
			return err
		}
	}
	return s.all.enc.Encode(&sr)
}

// Len is the number of rows added.
func (s *Spool) Len() int { return s.n }

// Each calls fn for every row, in the order they were added.
func (s *Spool) Each(fn func(*Row) error) error { return s.all.each(fn) }

// EachFailed calls fn for every row that fails a verdict, in order.
func (s *Spool) EachFailed(fn func(*Row) error) error { return s.failed.each(fn) }

func (s *spoolFile) each(fn func(*Row) error) error {
	if err := s.w.Flush(); err != nil {
		return err
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	// Each pass decodes from the start, with a new decoder (the stream
	// carries its types once, at its start); the writer goes on at the end.
	defer func() { _, _ = s.f.Seek(0, io.SeekEnd) }() // the next Add would fail on an error here
	dec := gob.NewDecoder(bufio.NewReaderSize(s.f, 1<<16))
	for {
		var sr spoolRow
		if err := dec.Decode(&sr); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading back the report's rows: %w", err)
		}
		r := sr.Row
		r.start, r.expiry, r.removed, r.now = sr.Start, sr.Expiry, sr.Removed, sr.Now
		if sr.HasMinApprovals {
			r.MinApprovals = &sr.MinApprovals
		}
		r.Requesters, r.Approvers, r.SignerKeys = nonNil(r.Requesters), nonNil(r.Approvers), nonNil(r.SignerKeys)
		if err := fn(r); err != nil {
			return err
		}
	}
}

// Close removes the spool's files.
func (s *Spool) Close() error { return errors.Join(s.all.close(), s.failed.close()) }

func (s *spoolFile) close() error {
	err := s.f.Close()
	return errors.Join(err, os.Remove(s.f.Name()))
}

// Rows are the rows a report is written from: a Spool.
type Rows interface {
	// Each calls fn for every row, in order.
	Each(fn func(*Row) error) error
	// EachFailed calls fn for every row that fails a verdict, in order.
	EachFailed(fn func(*Row) error) error
}

// Formats are the formats Write renders.
var Formats = []string{"csv", "json", "md", "html"}

// Write renders the report with its rows in format (one of Formats).
func Write(w io.Writer, format string, rep *Report, rows Rows) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	var err error
	switch format {
	case "csv":
		err = writeCSV(bw, rows.Each)
	case "json":
		err = writeJSON(bw, rep, rows.Each)
	case "md":
		err = writeMarkdown(bw, rep, rows)
	case "html":
		err = writeHTML(bw, rep, rows)
	default:
		return fmt.Errorf("unknown format %q: use one of %s", format, strings.Join(Formats, ", "))
	}
	if err != nil {
		return err
	}
	return bw.Flush()
}

// column is one column of the tabular formats, named as the JSON field.
type column struct {
	name string
	get  func(*Row) string
}

func list(s []string) string { return strings.Join(s, "; ") }

func seqs(s []int64) string {
	parts := make([]string, len(s))
	for i, n := range s {
		parts[i] = strconv.FormatInt(n, 10)
	}
	return strings.Join(parts, " ")
}

// Columns are the columns of the CSV, in order: what identifies the grant,
// what authorised it, its time bound, its revocation, its lateness, then the
// three verdicts with the events that prove them.
var columns = []column{
	{"grant_id", func(r *Row) string { return r.GrantID }},
	{"principal", func(r *Row) string { return r.Principal }},
	{"entitlement", func(r *Row) string { return r.Entitlement }},
	{"target", func(r *Row) string { return r.Target }},
	{"role", func(r *Row) string { return r.Role }},
	{"ticket_id", func(r *Row) string { return r.TicketID }},
	{"requesters", func(r *Row) string { return list(r.Requesters) }},
	{"approvers", func(r *Row) string { return list(r.Approvers) }},
	{"min_approvals", func(r *Row) string {
		if r.MinApprovals == nil {
			return ""
		}
		return strconv.Itoa(*r.MinApprovals)
	}},
	{"signatures", func(r *Row) string { return r.Signatures }},
	{"signer_keys", func(r *Row) string { return list(r.SignerKeys) }},
	{"approval_id", func(r *Row) string { return r.ApprovalID }},
	{"statement_digest", func(r *Row) string { return r.StatementDigest }},
	{"policy_digest", func(r *Row) string { return r.PolicyDigest }},
	{"break_glass", func(r *Row) string { return strconv.FormatBool(r.BreakGlass) }},
	{"justification", func(r *Row) string { return r.Justification }},
	{"granted_at", func(r *Row) string { return r.GrantedAt }},
	{"ttl", func(r *Row) string { return r.TTL }},
	{"expires_at", func(r *Row) string { return r.ExpiresAt }},
	{"max_ttl", func(r *Row) string { return r.MaxTTL }},
	{"status", func(r *Row) string { return r.Status }},
	{"decided_at", func(r *Row) string { return r.DecidedAt }},
	{"access_removed_at", func(r *Row) string { return r.AccessRemovedAt }},
	{"reason", func(r *Row) string { return r.Reason }},
	{"lateness", func(r *Row) string { return r.Lateness }},
	{"overdue", func(r *Row) string { return strconv.FormatBool(r.Overdue) }},
	{"issued_by", func(r *Row) string { return r.IssuedBy }},
	{"removed_by", func(r *Row) string { return r.RemovedBy }},
	{"authorised", func(r *Row) string { return r.Authorised }},
	{"authorised_events", func(r *Row) string { return seqs(r.AuthorisedEvents) }},
	{"authorised_note", func(r *Row) string { return r.AuthorisedNote }},
	{"time_bound", func(r *Row) string { return r.TimeBound }},
	{"time_bound_events", func(r *Row) string { return seqs(r.TimeBoundEvents) }},
	{"time_bound_note", func(r *Row) string { return r.TimeBoundNote }},
	{"revoked_on_time", func(r *Row) string { return r.RevokedOnTime }},
	{"revoked_on_time_events", func(r *Row) string { return seqs(r.RevokedOnTimeEvents) }},
	{"revoked_on_time_note", func(r *Row) string { return r.RevokedOnTimeNote }},
}

// ColumnNames are the names of the CSV's columns, in order.
func ColumnNames() []string {
	names := make([]string, len(columns))
	for i, c := range columns {
		names[i] = c.name
	}
	return names
}
