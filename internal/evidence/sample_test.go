package evidence_test

import (
	"context"
	"os"
	"testing"

	"github.com/governed-entitlements/terraform-provider-governed/internal/evidence"
	"github.com/governed-entitlements/terraform-provider-governed/internal/evidence/evidencetest"
	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
)

// TestWriteSample writes the fixture's report to $GOVERNED_EVIDENCE_SAMPLE
// (an HTML file), to look at in a browser; it is skipped without it.
func TestWriteSample(t *testing.T) {
	out := os.Getenv("GOVERNED_EVIDENCE_SAMPLE")
	if out == "" {
		t.Skip("set GOVERNED_EVIDENCE_SAMPLE=FILE.html to write a sample report")
	}
	f := evidencetest.BuildTampered(t)
	if _, _, err := f.Ledger.RevokeGrant(context.Background(), f.OutOfBand, f.Now, ledger.ReasonOutOfBand, "INC-9", nil); err != nil {
		t.Fatal(err)
	}
	rep, spool, err := evidence.Build(context.Background(), f.Ledger, evidence.Options{Now: f.Now}, evidence.Source{Location: "governed.db"})
	if err != nil {
		t.Fatal(err)
	}
	defer spool.Close()
	w, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := evidence.Write(w, "html", rep, spool); err != nil {
		t.Fatal(err)
	}
}
