package pgtest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// startTimeout bounds how long starting a shared server may take.
const startTimeout = 2 * time.Minute

// The servers shared by the tests of one process, one per set of options,
// started on first use and stopped by Main.
var (
	sharedMu      sync.Mutex
	sharedServers = map[Options]*sharedServer{}
	mainRunning   atomic.Bool
)

type sharedServer struct {
	once sync.Once
	srv  *Server
	err  error
}

// Main runs the tests of a package whose tests use Shared or SharedWith, then
// stops the servers they started. Call it from the package's TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// It returns m.Run's exit code; when TestMain returns, the test binary exits
// with that code, so a TestMain with more to clean up can do so after Main.
func Main(m *testing.M) int {
	mainRunning.Store(true)
	defer mainRunning.Store(false)
	defer stopShared()
	return m.Run()
}

// Shared returns the PostgreSQL server every test of the process shares,
// started on first use with the default options. On a machine without the
// server binaries it skips the test, or fails it where
// GOVERNED_REQUIRE_POSTGRES is set (see Require).
func Shared(t testing.TB) *Server {
	t.Helper()
	return SharedWith(t, Options{})
}

// SharedWith is Shared for a server with other options, such as a durable one
// for benchmarks. Each distinct Options value has a server of its own.
func SharedWith(t testing.TB, opts Options) *Server {
	t.Helper()
	Require(t)
	if !mainRunning.Load() {
		t.Fatal("pgtest: the package's TestMain must call pgtest.Main, which stops the shared PostgreSQL servers when the tests end")
	}
	sharedMu.Lock()
	s, ok := sharedServers[opts]
	if !ok {
		s = &sharedServer{}
		sharedServers[opts] = s
	}
	sharedMu.Unlock()
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		s.srv, s.err = Start(ctx, opts)
	})
	if s.err != nil {
		t.Fatalf("starting PostgreSQL for the tests: %v", s.err)
	}
	return s.srv
}

// stopShared stops every shared server that was started.
func stopShared() {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	for opts, s := range sharedServers {
		s.srv.Stop() // Stop accepts a server that never started
		delete(sharedServers, opts)
	}
}

// NewDatabase creates an empty database for one test and returns its name and
// its URL as the superuser. The name starts with prefix and is unique on the
// server. The database outlives the test: the server is thrown away whole.
func (s *Server) NewDatabase(t testing.TB, prefix string) (name, url string) {
	t.Helper()
	name, err := s.CreateDatabase(context.Background(), prefix)
	if err != nil {
		t.Fatalf("creating a database: %v", err)
	}
	return name, s.URL(name)
}

// MustExec runs SQL statements in database db as the superuser and fails the
// test if one fails.
func (s *Server) MustExec(t testing.TB, db string, statements ...string) {
	t.Helper()
	if err := s.Exec(context.Background(), db, statements...); err != nil {
		t.Fatal(err)
	}
}

// MustQueryRow runs a query that returns one row in database db as the
// superuser, scans the row into dst, and fails the test on any error,
// including no row.
func (s *Server) MustQueryRow(t testing.TB, db, sql string, args []any, dst ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, sql, args...).Scan(dst...); err != nil {
		t.Fatal(fmt.Errorf("%s: %w", sql, err))
	}
}
