// Command history gives a SQLite ledger a long history, for scripts/bench.sh:
// it appends N events of other grants (benchledger.AppendHistory) after the
// ledger's head, in one transaction, so that a plan can be measured against a
// ledger of that length.
//
//	go run ./bench/history -ledger governed.db -events 1000000
package main

import (
	"context"
	"flag"
	"log"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/benchledger"
)

func main() {
	path := flag.String("ledger", "governed.db", "the SQLite ledger file to append to (created when missing)")
	events := flag.Int("events", 1_000_000, "how many events to append")
	flag.Parse()
	if err := benchledger.AppendHistory(context.Background(), *path, *events, time.Now()); err != nil {
		log.Fatal(err)
	}
}
