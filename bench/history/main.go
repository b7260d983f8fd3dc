// Command history gives a SQLite ledger a long history, for scripts/bench.sh:
// it appends N events of other grants (benchledger.AppendHistory) after the
// ledger's head, in one transaction, so that a plan can be measured against a
// ledger of that length.
//
//	go run ./bench/history -ledger governed.db -events 1000000
//
// With -events 0 it only creates the ledger, as governed would, so that a
// new ledger and a long one are made the same way.
package main

import (
	"context"
	"flag"
	"log"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/benchledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
)

func main() {
	path := flag.String("ledger", "governed.db", "the SQLite ledger file to append to (created when missing)")
	events := flag.Int("events", 1_000_000, "how many events to append (0: only create the ledger)")
	flag.Parse()
	ctx := context.Background()
	if *events == 0 {
		l, err := ledger.Open(ctx, *path)
		if err != nil {
			log.Fatal(err)
		}
		if err := l.Close(); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := benchledger.AppendHistory(ctx, *path, *events, time.Now()); err != nil {
		log.Fatal(err)
	}
}
