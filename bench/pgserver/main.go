// Command pgserver runs a throwaway PostgreSQL server for scripts/bench.sh,
// from the installed server binaries (see internal/pgtest), with fsync on so
// that commits cost what they cost in production. It prepares what the
// benchmark's PostgreSQL side needs, prints one line per fact as shell
// assignments, then "READY", and keeps the server up until its standard input
// closes or it is signalled:
//
//	PG_TARGET_URL_<run>  the target database of each run, as the provider's login role
//	PG_LEDGER_URL_<run>  an empty ledger database for each run
//
// Each run gets its own governed role (bench_read_<run>), so that every run
// starts with no memberships; the N principals svc-1 … svc-N are shared.
//
// Usage: go run ./bench/pgserver -n 1000 -runs warmup,1,2,3
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"

	"github.com/governed-entitlements/terraform-provider-governed/internal/pgtest"
)

func main() {
	n := flag.Int("n", 1000, "number of principals (svc-1 … svc-N)")
	runs := flag.String("runs", "1", "comma-separated run names")
	flag.Parse()
	ctx := context.Background()
	srv, err := pgtest.Start(ctx, pgtest.Options{Durable: true})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Stop()
	if err := prepare(ctx, srv, *n, strings.Split(*runs, ",")); err != nil {
		srv.Stop()
		log.Fatal(err)
	}
	fmt.Println("READY")

	done := make(chan struct{})
	go func() {
		// Any end of standard input, closed or failed, means stop.
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(done)
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-done:
	case <-sig:
	}
}

func prepare(ctx context.Context, srv *pgtest.Server, n int, runs []string) error {
	stmts := []string{"CREATE ROLE governor LOGIN"}
	for i := 1; i <= n; i++ {
		stmts = append(stmts, fmt.Sprintf(`CREATE ROLE "svc-%d" LOGIN`, i))
	}
	if err := srv.Exec(ctx, "postgres", stmts...); err != nil {
		return err
	}
	for _, run := range runs {
		target, err := srv.CreateDatabase(ctx, "target")
		if err != nil {
			return err
		}
		ledgerDB, err := srv.CreateDatabase(ctx, "ledger")
		if err != nil {
			return err
		}
		role := pgx.Identifier{"bench_read_" + run}.Sanitize()
		if err := srv.Exec(ctx, "postgres",
			"CREATE ROLE "+role+" NOLOGIN",
			"GRANT "+role+" TO governor WITH ADMIN OPTION",
			"GRANT ALL ON DATABASE "+pgx.Identifier{ledgerDB}.Sanitize()+" TO governor",
		); err != nil {
			return err
		}
		if err := srv.Exec(ctx, ledgerDB, "GRANT ALL ON SCHEMA public TO governor"); err != nil {
			return err
		}
		fmt.Printf("PG_TARGET_URL_%s=%s\n", run, srv.URLAs("governor", target))
		fmt.Printf("PG_LEDGER_URL_%s=%s\n", run, srv.URLAs("governor", ledgerDB))
	}
	return nil
}
