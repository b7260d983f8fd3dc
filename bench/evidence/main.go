// Command evidence writes the ledger that scripts/bench-evidence.sh measures
// `governed evidence` on: TOTAL grants in a SQLite ledger, each with its life
// (evidencetest.Populate), appended through the ledger's own API as the
// provider appends them.
package main

import (
	"context"
	"flag"
	"log"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/evidence/evidencetest"
	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
)

func main() {
	path := flag.String("ledger", "", "the SQLite ledger to write (a new file)")
	total := flag.Int("total", 100000, "grants in the ledger")
	flag.Parse()
	if *path == "" {
		log.Fatal("usage: evidence -ledger PATH [-total N]")
	}
	ctx := context.Background()
	l, err := ledger.Open(ctx, *path)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	t0 := time.Now().UTC().Add(-30 * 24 * time.Hour).Truncate(time.Hour)
	if err := evidencetest.Populate(ctx, l, *total, t0); err != nil {
		log.Fatal(err)
	}
}
