package ledger

import (
	"context"
	"database/sql"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestZZExp(t *testing.T) {
	path := verifyFixture(&testing.B{})
	s, err := openSQLite(context.Background(), path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	c, _ := s.db.Conn(ctx)
	defer c.Close()
	var qs [][2]string
	for _, l := range strings.Split(os.Getenv("ZZQ"), "\n") {
		if name, q, ok := strings.Cut(l, "|"); ok {
			qs = append(qs, [2]string{name, q})
		}
	}
	times := make([][]time.Duration, len(qs))
	counts := make([]int, len(qs))
	for range 9 {
		for i, q := range qs {
			tx, _ := c.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
			start := time.Now()
			rows, err := tx.QueryContext(ctx, q[1])
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			var raw sql.RawBytes
			var seq int64
			for rows.Next() {
				n++
				if len(os.Getenv("ZZSCAN")) > 0 {
					if err := rows.Scan(&seq, &raw); err != nil {
						t.Fatal(err)
					}
				}
			}
			rows.Close()
			times[i] = append(times[i], time.Since(start))
			counts[i] = n
			tx.Rollback()
		}
	}
	for i, q := range qs {
		slices.Sort(times[i])
		t.Logf("%-28s %6d rows min %6.1fms med %6.1fms", q[0], counts[i], float64(times[i][0].Microseconds())/1000, float64(times[i][len(times[i])/2].Microseconds())/1000)
	}
}
