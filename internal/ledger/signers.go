package ledger

import "context"

// SignersDocuments are the key documents an approval record's signatures
// were verified against, as the ledger keeps them under the digests the
// record names (Approval.AllowedSignersSHA256, RevokedKeysSHA256): an
// OpenSSH allowed_signers file and a list of revoked public keys, byte for
// byte. A member is nil where the record names no such document.
type SignersDocuments struct {
	AllowedSigners, RevokedKeys []byte
}

// approvalSigners checks the key documents that the approval.recorded event
// whose payload was read last names: each digest must be one the ledger keeps
// (a revoked keys list only beside an allowed_signers file), and once an
// approval has named its allowed_signers, every later signed approval must
// name one too, so that dropping the name does not escape the check (when
// verifying from a trusted point, an approval before it counts: see
// signersBefore). It returns the kept documents, and false when there is a
// problem.
func (m *meaning) approvalSigners(seq int64, subject []byte) (SignersDocuments, bool) {
	f := &m.fields
	allowed, revoked := f[fAllowedSigners], f[fRevokedKeys]
	if len(allowed) == 0 && m.sawSigners == 0 && m.signersBefore != nil && string(f[fEvidence]) == "signed" {
		// Verifying from a trusted point: whether an approval before it
		// named its key files is asked once, when it matters.
		lookup := m.signersBefore
		m.signersBefore = nil
		if m.sawSigners, m.lookupErr = lookup(); m.lookupErr != nil {
			return SignersDocuments{}, false
		}
	}
	if len(allowed) == 0 {
		switch {
		case len(revoked) > 0:
			m.fail(seq, "records approval %q with a revoked keys digest but no allowed_signers digest", subject)
			return SignersDocuments{}, false
		case m.sawSigners > 0 && string(f[fEvidence]) == "signed":
			m.fail(seq, "records signed approval %q without naming the allowed_signers its signatures were verified against, "+
				"where approvals since event %d name it", subject, m.sawSigners)
			return SignersDocuments{}, false
		}
		return SignersDocuments{}, true
	}
	if m.sawSigners == 0 {
		m.sawSigners = seq
	}
	var docs SignersDocuments
	var ok bool
	if docs.AllowedSigners, ok = m.policies[string(allowed)]; !ok {
		m.fail(seq, "records approval %q verified against allowed_signers digest %s, which the ledger does not keep", subject, allowed)
		return SignersDocuments{}, false
	}
	if len(revoked) > 0 {
		if docs.RevokedKeys, ok = m.policies[string(revoked)]; !ok {
			m.fail(seq, "records approval %q verified against revoked keys digest %s, which the ledger does not keep", subject, revoked)
			return SignersDocuments{}, false
		}
	}
	return docs, true
}

// signersBeforeQuery reads the last approval.recorded event at or before a
// sequence number whose payload names an allowed_signers digest, reading
// the log backwards from that number (the underscores of the pattern match
// any character: the payload is read again to be sure).
func signersBeforeQuery(d dialect) string {
	return `SELECT seq, data FROM events WHERE type = ` + d.param(1) + ` AND seq <= ` + d.param(2) +
		` AND data LIKE ` + d.param(3) + ` ORDER BY seq DESC LIMIT 1`
}

// signersBefore returns the sequence number of the last approval at or
// before the trusted event at seq from that named the allowed_signers its
// signatures were verified against, 0 when none did. The events up to from
// are trusted, so that once one of them named its key files, a signed
// approval after from that names none fails as it would in a whole
// verification. It reads backwards from from: a ledger whose approvals name
// their key files finds one among its last approvals, and only a ledger
// none of whose approvals ever did reads its whole prefix, once.
func signersBefore(ctx context.Context, r snapshotReader, from int64) (int64, error) {
	q := signersBeforeQuery(r.dialect())
	var fields payloadFields
	for upTo := from; upTo > 0; {
		var seq int64
		var data []byte
		found, err := r.queryRowArgs(ctx, q, []any{EventApprovalRecorded, upTo, `%"allowed_signers_sha256":"%`}, &seq, &data)
		if err != nil || !found {
			return 0, err
		}
		if readPayload(data, &fields) == "" && len(fields[fAllowedSigners]) > 0 {
			return seq, nil
		}
		upTo = seq - 1
	}
	return 0, nil
}
