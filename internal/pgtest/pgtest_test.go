package pgtest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestStartServesQueries(t *testing.T) {
	Require(t)
	ctx := context.Background()
	s, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	db, err := s.CreateDatabase(ctx, "probe")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, s.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := conn.Close(ctx); err != nil {
			t.Errorf("closing the connection: %v", err)
		}
	}()
	var got string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != db {
		t.Fatalf("connected to %q, want %q", got, db)
	}
}

// outcome records what require did to a test.
type outcome struct {
	testing.TB
	skipped, failed string
}

func (o *outcome) Helper() {}

func (o *outcome) Skipf(format string, args ...any) {
	o.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (o *outcome) Fatalf(format string, args ...any) {
	o.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// runRequire runs require as a test would, in a goroutine of its own, since
// Skipf and Fatalf end the goroutine that calls them.
func runRequire(find func() (string, error)) (dir string, o *outcome) {
	o = &outcome{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		dir = require(o, find)
	}()
	<-done
	return dir, o
}

func TestRequire(t *testing.T) {
	found := func() (string, error) { return "/opt/pg/bin", nil }
	missing := func() (string, error) { return firstWithServer(nil) }
	for _, tc := range []struct {
		name       string
		require    string // GOVERNED_REQUIRE_POSTGRES
		find       func() (string, error)
		wantDir    string
		wantSkip   bool
		wantFailed bool
	}{
		{name: "found", find: found, wantDir: "/opt/pg/bin"},
		{name: "found, required", require: "1", find: found, wantDir: "/opt/pg/bin"},
		{name: "missing", find: missing, wantSkip: true},
		{name: "missing, required", require: "1", find: missing, wantFailed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvRequire, tc.require)
			dir, o := runRequire(tc.find)
			if dir != tc.wantDir {
				t.Errorf("dir = %q, want %q", dir, tc.wantDir)
			}
			if got := o.skipped != ""; got != tc.wantSkip {
				t.Errorf("skipped = %v (%q), want %v", got, o.skipped, tc.wantSkip)
			}
			if got := o.failed != ""; got != tc.wantFailed {
				t.Errorf("failed = %v (%q), want %v", got, o.failed, tc.wantFailed)
			}
			// Either way, the message names the binaries and how to get them.
			for _, msg := range []string{o.skipped, o.failed} {
				if msg != "" && (!strings.Contains(msg, "initdb, pg_ctl, postgres") || !strings.Contains(msg, "make postgres") ||
					!strings.Contains(msg, EnvRequire)) {
					t.Errorf("message %q does not name the binaries, `make postgres` and %s", msg, EnvRequire)
				}
			}
		})
	}
}

func TestFirstWithServerNamesWhatIsMissing(t *testing.T) {
	_, err := firstWithServer([]string{t.TempDir()})
	if !errors.Is(err, ErrNoServerBinaries) || !strings.Contains(err.Error(), "make postgres") ||
		!strings.Contains(err.Error(), EnvBinDir) {
		t.Fatalf("error = %v, want ErrNoServerBinaries naming `make postgres` and %s", err, EnvBinDir)
	}
}
