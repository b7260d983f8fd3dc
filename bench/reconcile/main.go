// Command reconcile writes the ledger that scripts/bench-reconcile.sh measures
// `governed reconcile` on: TOTAL grants in a SQLite ledger, of which ORPHANS
// are past their expiry and still recorded active, as grants whose
// configuration is gone are. The others expire in a week. Grants are recorded
// only in the ledger, so the measure is of finding and recording, which is
// what reconcile adds to the REVOKE a target would run anyway.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
)

func main() {
	path := flag.String("ledger", "", "the SQLite ledger to write (a new file)")
	total := flag.Int("total", 100000, "grants in the ledger")
	orphans := flag.Int("orphans", 1000, "grants among them past their expiry and still recorded active")
	flag.Parse()
	if *path == "" || *orphans > *total {
		log.Fatal("usage: reconcile -ledger PATH [-total N] [-orphans M], M <= N")
	}
	ctx := context.Background()
	l, err := ledger.Open(ctx, *path)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	now := time.Now().UTC()
	every := *total / *orphans // one grant in every is an orphan
	for i := range *total {
		expires, at := now.Add(7*24*time.Hour), now
		if i%every == 0 && i/every < *orphans {
			// Issued two hours ago for one hour: past its expiry, never revoked.
			at, expires = now.Add(-2*time.Hour), now.Add(-time.Hour)
		}
		g := ledger.Grant{ID: fmt.Sprintf("grt_%020d", i), Principal: fmt.Sprintf("svc-%d", i%1000),
			Entitlement: "bench-read", TicketID: fmt.Sprintf("SEC-%d", i), Approvers: []string{"alice@example.com"},
			Target: "ledger", Role: "bench_read", ExpiresAt: expires.Format(time.RFC3339)}
		if _, err := l.IssueGrant(ctx, g, at); err != nil {
			log.Fatal(err)
		}
	}
}
