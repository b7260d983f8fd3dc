package ledger

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
// name one too, so that dropping the name does not escape the check. It
// returns the kept documents, and false when there is a problem.
func (m *meaning) approvalSigners(seq int64, subject []byte) (SignersDocuments, bool) {
	f := &m.fields
	allowed, revoked := f[fAllowedSigners], f[fRevokedKeys]
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
