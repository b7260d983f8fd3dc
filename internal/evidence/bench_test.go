package evidence_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/evidence"
	"github.com/governed-entitlements/terraform-provider-governed/internal/evidence/evidencetest"
	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
)

// benchGrants is the size of the benchmarks' ledger; scripts/bench-evidence.sh
// measures 100,000.
const benchGrants = 2000

// BenchmarkEvidence measures governed evidence against its baseline in the
// same run, the verification of the same ledger (governed verify), which
// evidence does too: "verify" is the baseline, "evidence-csv" (streamed) and
// "evidence-html" (spooled, then written) the whole report. Compare ns/op;
// grants/s is per grant.
func BenchmarkEvidence(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	if _, err := os.Stat("/dev/shm"); err == nil {
		// Appends sync each transaction; in memory, the fixture takes seconds.
		if d, err := os.MkdirTemp("/dev/shm", "governed-evidence-bench-"); err == nil { //nolint:usetesting
			dir = d
			b.Cleanup(func() { os.RemoveAll(d) })
		}
	}
	l, err := ledger.Open(ctx, filepath.Join(dir, "governed.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	now := time.Now().UTC()
	if err := evidencetest.Populate(ctx, l, benchGrants, now.Add(-30*24*time.Hour)); err != nil {
		b.Fatal(err)
	}
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			if r, err := l.Verify(ctx); err != nil || !r.OK {
				b.Fatal(r, err)
			}
		}
		b.ReportMetric(float64(benchGrants*b.N)/b.Elapsed().Seconds(), "grants/s")
	})
	b.Run("evidence-csv", func(b *testing.B) {
		for b.Loop() {
			rep, err := evidence.StreamCSV(ctx, io.Discard, l, evidence.Options{Now: now}, evidence.Source{Location: "bench"})
			if err != nil || rep.Summary.Grants != benchGrants {
				b.Fatal(rep, err)
			}
		}
		b.ReportMetric(float64(benchGrants*b.N)/b.Elapsed().Seconds(), "grants/s")
	})
	b.Run("evidence-html", func(b *testing.B) {
		for b.Loop() {
			rep, spool, err := evidence.Build(ctx, l, evidence.Options{Now: now}, evidence.Source{Location: "bench"})
			if err != nil || rep.Summary.Grants != benchGrants {
				b.Fatal(rep, err)
			}
			err = evidence.Write(io.Discard, "html", rep, spool)
			spool.Close()
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(benchGrants*b.N)/b.Elapsed().Seconds(), "grants/s")
	})
}
