package ledger

import (
	"context"
	"encoding/json"
	"fmt"
)

// MaxSuffix is the most events VerifySince verifies after its trusted
// point; beyond it, it verifies the whole ledger instead, as Verify does.
// The events after the point are held in memory while they are checked.
const MaxSuffix = 200_000

// VerifySince verifies the ledger from a point the caller trusts: from is
// an event the caller knows to be part of a verified ledger (the one a
// signed checkpoint names, whose signer verified the whole ledger before
// signing). The event at from.Seq must still have from.Hash; the events
// after it must chain onto it and end at the recorded head; the current-state
// rows of what they touched must match them (a row made up for an id that
// has no events is left to Verify); every event after it must make
// sense after the lives that the ledger's events up to from give the grants
// and approvals it touches (with the Judge, when one is set); and the
// store's protections must be in place. Current-state rows that nothing
// after from touched are not read: Verify reads them all. Report.From is
// from.Seq, or 0 when the whole ledger was verified instead (more than
// MaxSuffix events after from).
func (l *Ledger) VerifySince(ctx context.Context, from Head) (Report, error) {
	head, err := l.s.Head(ctx)
	if err != nil {
		return Report{}, err
	}
	jv, ok := l.s.(judgedVerifier)
	if !ok || from.Seq <= 0 || head.Seq-from.Seq > MaxSuffix {
		return l.Verify(ctx)
	}
	r, err := jv.verify(ctx, l.judge, &from)
	if err != nil || !r.OK {
		return r, err
	}
	return l.checkPolicies(ctx, r)
}

// suffixEvent is an event after the trusted point, kept for the checks of
// meaning, which run once the lives before the point are read.
type suffixEvent struct {
	kind, i                int
	seq                    int64
	at, typ, subject, data []byte
}

// lastEventAtOrBeforeQuery reads the last event of one kind about a subject
// at or before a sequence number.
func lastEventAtOrBeforeQuery(d dialect) string {
	return `SELECT seq, data FROM events WHERE subject = ` + d.param(1) + ` AND type LIKE ` + d.param(2) +
		` AND seq <= ` + d.param(3) + ` ORDER BY seq DESC LIMIT 1`
}

// verifySuffix is verifySnapshot from a trusted event (see VerifySince).
func verifySuffix(ctx context.Context, r snapshotReader, judge Judge, from Head, policies map[string][]byte) (Report, error) {
	v := newVerification()
	v.meaning = newMeaning(v.seed, judge, policies)
	v.expiresAgree = r.dialect().expiresAgree
	v.times = newTimeline(ctx)
	if len(policies) > 0 {
		v.meaning.sawDigest = -1
	}
	v.chain = newChainVerifierFrom(from)
	v.suffix = []suffixEvent{}
	var hash string
	found, err := r.queryRowArgs(ctx, eventHashQuery(r.dialect()), []any{from.Seq}, &hash)
	if err != nil {
		return Report{}, err
	}
	switch {
	case !found:
		v.fail(from.Seq, fmt.Sprintf("event %d, from which the ledger is verified, is missing", from.Seq))
	case hash != from.Hash:
		v.fail(from.Seq, fmt.Sprintf("event %d, from which the ledger is verified, has hash %.16s…, not %.16s…", from.Seq, hash, from.Hash))
	}
	if !v.failed {
		var rec string
		if _, err := r.queryRowArgs(ctx, recordedAtQuery(r.dialect()), []any{from.Seq}, &rec); err != nil {
			return Report{}, err
		}
		v.times.from(from.Seq, rec)
		if err := v.identifiedBefore(ctx, r, from.Seq); err != nil {
			return Report{}, err
		}
	}
	if !v.failed {
		if _, err := r.walkEvents(ctx, v, from.Seq, false); err != nil {
			return Report{}, err
		}
	}
	var head Head
	found, err = r.queryRow(ctx, `SELECT seq, hash FROM ledger_head WHERE id = 1`, &head.Seq, &head.Hash)
	if err != nil {
		return Report{}, err
	}
	if found {
		v.head(&head)
	} else {
		v.head(nil)
	}
	if !v.failed {
		// The current-state row of each grant and approval touched since,
		// read by its id: a read of every row would cost what the history
		// costs.
		for _, kind := range []int{kindGrant, kindApproval} {
			q := r.dialect().stateRowsQuery(kindTables[kind]) + ` WHERE g.id = ` + r.dialect().param(1)
			for _, st := range v.subjects[kind].last {
				var row stateRow
				found, err := r.queryRowArgs(ctx, q, []any{st.id}, row.dest()...)
				if err != nil {
					return Report{}, err
				}
				if found {
					v.row(kind, &row)
				}
			}
			if err := v.checkRows(ctx, r, kind); err != nil {
				return Report{}, err
			}
		}
		if err := v.nameMismatch(ctx, r); err != nil {
			return Report{}, err
		}
	}
	if err := v.suffixMeaning(ctx, r, from.Seq); err != nil {
		return Report{}, err
	}
	if !v.failed {
		problem, err := r.schemaProblem(ctx)
		if err != nil {
			return Report{}, err
		}
		if problem != "" {
			v.fail(0, problem)
		}
	}
	rep := v.report(head)
	rep.From = from.Seq
	return rep, nil
}

// identifiedQuery reads the first ledger.identified event at or before a
// sequence number, through the events' subject index.
func identifiedQuery(d dialect) string {
	return `SELECT seq, data FROM events WHERE subject = ` + d.param(1) + ` AND type = ` + d.param(2) +
		` AND seq <= ` + d.param(3) + ` ORDER BY seq LIMIT 1`
}

// identifiedBefore checks the ledger.identified event at or before the
// trusted event at seq from, if there is one, against the id the ledger
// keeps: one indexed read. The event is part of the trusted chain, which
// the checkpoint's signer verified whole, so that a changed ledger_identity
// no longer matches it. A second one after from is caught by the walk.
func (v *verification) identifiedBefore(ctx context.Context, r snapshotReader, from int64) error {
	if err := v.readLedgerID(ctx, r); err != nil {
		return err
	}
	v.meaning.ledgerID = v.ledgerID
	var seq int64
	var data []byte
	found, err := r.queryRowArgs(ctx, identifiedQuery(r.dialect()), []any{LedgerSubject, EventLedgerIdentified, from}, &seq, &data)
	if err != nil || !found {
		return err
	}
	v.identify(seq, []byte(LedgerSubject), data)
	return nil
}

// suffixMeaning runs the checks of meaning over the events kept after the
// trusted point at seq from, each grant and approval they touch starting
// from its last event at or before it.
func (v *verification) suffixMeaning(ctx context.Context, r snapshotReader, from int64) error {
	m := v.meaning
	m.signersBefore = func() (int64, error) { return signersBefore(ctx, r, from) }
	var lastSeq [2][]int64
	q := lastEventAtOrBeforeQuery(r.dialect())
	for kind, prefix := range []string{kindGrant: "grant.%", kindApproval: "approval.%"} {
		lastSeq[kind] = make([]int64, len(v.subjects[kind].last))
		for i, st := range v.subjects[kind].last {
			var seq int64
			var data []byte
			found, err := r.queryRowArgs(ctx, q, []any{st.id, prefix, from}, &seq, &data)
			if err != nil {
				return err
			}
			if found {
				lastSeq[kind][i] = seq
				m.seed(kind, i, seq, data)
			}
		}
	}
	for _, e := range v.suffix {
		prev := lastSeq[e.kind][e.i]
		m.event(v, e.kind, e.i, prev == 0, prev, e.seq, e.at, e.typ, e.subject, e.data, readPayload(e.data, &m.fields))
		if m.lookupErr != nil {
			return m.lookupErr
		}
		lastSeq[e.kind][e.i] = e.seq
	}
	return nil
}

// seed sets what meaning knows of the subject at index i of kind from its
// last event before the trusted point (seq, its payload data).
func (m *meaning) seed(kind, i int, seq int64, data []byte) {
	if problem := readPayload(data, &m.fields); problem != "" {
		m.fail(seq, "about %s %s cannot be read: %s", kindNames[kind], m.fields[fID], problem)
		return
	}
	f := &m.fields
	if kind == kindGrant {
		m.grantSlot(i)
		m.grants[i] = grantLife{status: lifeStatus(f[fStatus]), retired: len(f[fRetiredAt]) > 0,
			revokePending: string(f[fRevokePending]) == "true", fixed: m.fixedDigest(grantFixed...)}
		return
	}
	m.approvalSlot(i)
	a := approvalLife{status: lifeStatus(f[fStatus]), grantID: string(f[fGrantID]), fixed: m.fixedDigest(approvalFixed...),
		scope: m.newApprovalScope()}
	var keys struct {
		SignerKeys map[string]string `json:"signer_keys"`
	}
	if json.Unmarshal(data, &keys) == nil {
		a.signers = len(keys.SignerKeys)
	}
	m.approvals[i] = a
}

// newChainVerifierFrom returns a verifier expecting the event after head,
// an event it trusts.
func newChainVerifierFrom(head Head) *ChainVerifier {
	v := NewChainVerifier()
	v.next = head.Seq + 1
	v.prevLen = copy(v.prev[:], head.Hash)
	return v
}
