package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestVerifyReplayedStatement: an insider who can append to the ledger reads
// a legitimate signed approval (alice's, for svc-good) and records a copy for
// svc-evil: the same statement, signatures, keys and key documents, under
// another id and principal, then a grant under it. Every signature verifies
// over the statement with a key the organisation lists for alice, so only
// the statement's own fields tell: it names svc-good. governed verify, with
// or without a trusted allowed_signers, reports the copy as the first bad
// event, and evidence does not call its grant authorised. So does verify a
// record copied whole into another ledger, whose statement names the ledger
// it was signed for. On both stores.
func TestVerifyReplayedStatement(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			w := newSignersWorld(t)
			at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
			l, location := signersLedger(t, store)
			good := w.recordLegitimate(t, l, at)

			evil := good
			evil.ID, evil.Principal, evil.Seq, evil.GrantID, evil.Status = "apr_svc-evil", "svc-evil", 0, "", ""
			evil = w.recordWithGrant(t, l, evil, at)

			trust := []string{"--allowed-signers", w.trusted, "--revoked-keys", w.revoked, "--signers-sha256", w.pol.Signers.Pin()}
			firstBad := fmt.Sprintf("first bad sequence number %d: event %d records approval %q", evil.Seq, evil.Seq, evil.ID)
			for _, args := range [][]string{nil, trust} {
				code, out, errOut := runCLI(append([]string{"verify", "--ledger", location}, args...)...)
				if code != 1 || !strings.Contains(errOut, firstBad) || !strings.Contains(errOut, `principal is "svc-good", not "svc-evil"`) {
					t.Errorf("verify %v of a replayed statement = %d, %q, %q; want exit 1 naming event %d", args, code, out, errOut, evil.Seq)
				}
			}
			code, out, errOut := runCLI(append([]string{"evidence", "--ledger", location, "--format", "csv"}, trust...)...)
			if code != 1 || !strings.Contains(errOut, firstBad) {
				t.Errorf("evidence of a replayed statement = %d, %q", code, errOut)
			}
			rows := csvRows(t, out)
			if r := rows["grt_svc-evil"]; r["authorised"] != "no" {
				t.Errorf("the replayed approval's grant in evidence: authorised %q, %q", r["authorised"], r["authorised_note"])
			}
			if r := rows["grt_svc-good"]; r["authorised"] != "signed" {
				t.Errorf("the legitimate grant in evidence: authorised %q, %q", r["authorised"], r["authorised_note"])
			}

			// The same record copied whole into another ledger: its
			// statement names the ledger alice signed it for.
			other, otherLocation := signersLedger(t, store)
			keep(t, other, at, w.pol.Document, w.pol.Signers.AllowedSignersDocument, w.pol.Signers.RevokedKeysDocument)
			copied := good
			copied.Seq, copied.GrantID, copied.Status = 0, "", ""
			copied = w.recordWithGrant(t, other, copied, at)
			firstBad = fmt.Sprintf("first bad sequence number %d: event %d records approval %q", copied.Seq, copied.Seq, copied.ID)
			for _, args := range [][]string{nil, trust} {
				code, out, errOut := runCLI(append([]string{"verify", "--ledger", otherLocation}, args...)...)
				if code != 1 || !strings.Contains(errOut, firstBad) || !strings.Contains(errOut, "its statement was signed for ledger") {
					t.Errorf("verify %v of a record copied from another ledger = %d, %q, %q", args, code, out, errOut)
				}
			}
		})
	}
}
