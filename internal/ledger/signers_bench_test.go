package ledger

import (
	"context"
	"testing"
)

// BenchmarkSignersBefore measures the backward read that verification from a
// trusted point makes when a signed approval after it names no key files,
// in its worst case: no approval before the point named any, so that it
// reads every event up to it (the verification fixture, benchEvents events).
// Compare with BenchmarkVerify on the same fixture, in the same run.
func BenchmarkSignersBefore(b *testing.B) {
	path := verifyFixture(b)
	s, err := openSQLite(context.Background(), path, false, Origin{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for b.Loop() {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		seq, err := signersBefore(ctx, sqliteTx{tx: tx}, benchEvents)
		if err != nil || seq != 0 {
			b.Fatalf("signersBefore = %d, %v", seq, err)
		}
		tx.Rollback()
	}
	b.ReportMetric(float64(benchEvents)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
