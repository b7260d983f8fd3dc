// Package pgtest runs a throwaway PostgreSQL server for tests and benchmarks,
// from the server binaries installed on the machine: initdb into a temporary
// directory, a free local port, stopped and removed afterwards. No containers.
//
// The binaries are looked up in GOVERNED_PG_BINDIR, then in the directory
// pg_config reports, then under /usr/lib/postgresql/*/bin, then on PATH. On
// Debian and Ubuntu, `make postgres` (apt-get install postgresql) installs them.
//
// Tests share one server per process: a package's TestMain calls Main, and
// its tests call Shared, then NewDatabase for a database of their own or
// NewTarget for a database prepared as a governed PostgreSQL target. Shared
// calls Require first: on a machine without the binaries it skips the test,
// unless GOVERNED_REQUIRE_POSTGRES is set (as `make test` and CI set it), when
// it fails the test instead.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvBinDir names the directory holding initdb, pg_ctl and postgres.
const EnvBinDir = "GOVERNED_PG_BINDIR"

// EnvRequire, when set to anything but the empty string, makes Require fail a
// test on a machine without the server binaries instead of skipping it.
const EnvRequire = "GOVERNED_REQUIRE_POSTGRES"

// ErrNoServerBinaries is returned, wrapped, by Start when the server binaries
// are not installed.
var ErrNoServerBinaries = errors.New("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found")

// Require returns the directory holding the server binaries. Without them it
// skips the test, naming what is missing and how to install it; with
// GOVERNED_REQUIRE_POSTGRES set it fails the test instead, so that a run that
// must test PostgreSQL never passes by skipping. Call it in the test (or its
// helper) before Start, also where a sync.Once starts one server for many tests:
// a skip must happen in each test, not in the Once.
func Require(t testing.TB) string {
	t.Helper()
	return require(t, binDir)
}

func require(t testing.TB, find func() (string, error)) string {
	t.Helper()
	dir, err := find()
	if err == nil {
		return dir
	}
	if os.Getenv(EnvRequire) != "" {
		t.Fatalf("%v (%s is set, so this is a failure, not a skip)", err, EnvRequire)
	}
	t.Skipf("skipped: %v (set %s=1 to make this a failure)", err, EnvRequire)
	return ""
}

// Server is a running PostgreSQL server owned by the test process.
type Server struct {
	dir    string // holds the data directory and the socket
	bin    string
	port   int
	cred   *syscall.Credential // set when running as root: the server runs as an unprivileged user
	nextDB atomic.Int64
}

// Options tune the server.
type Options struct {
	// Durable keeps fsync on, for benchmarks that must pay for durable commits.
	// Tests leave it off: they never survive a power cut anyway.
	Durable bool
}

// Start initialises and starts a server. Stop it with Stop.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin}
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root.
		if s.cred, err = unprivileged(); err != nil {
			return nil, err
		}
	}
	if s.dir, err = os.MkdirTemp("", "governed-pg-"); err != nil {
		return nil, err
	}
	if err := s.own(s.dir); err != nil {
		s.remove()
		return nil, err
	}
	data := filepath.Join(s.dir, "data")
	if out, err := s.run(ctx, "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
		"--locale=C", "--no-sync"); err != nil {
		s.remove()
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	// Members of PasswordRole log in over TCP with a password; every other
	// role is trusted, as initdb set it up.
	hba := filepath.Join(data, "pg_hba.conf")
	trust, err := os.ReadFile(hba)
	if err == nil {
		err = os.WriteFile(hba, append([]byte("host all +"+PasswordRole+" 127.0.0.1/32 scram-sha-256\n"), trust...), 0o600)
	}
	if err != nil {
		s.remove()
		return nil, err
	}
	serverOpts := []string{
		"-c listen_addresses=127.0.0.1",
		"-c unix_socket_directories=" + s.dir,
		"-c max_connections=200",
		"-c shared_buffers=32MB",
	}
	if !opts.Durable {
		serverOpts = append(serverOpts, "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off")
	}
	// A port can be taken between choosing and binding it; try a few.
	for attempt := 0; ; attempt++ {
		if s.port, err = freePort(); err != nil {
			s.remove()
			return nil, err
		}
		o := strings.Join(append(serverOpts, "-p "+strconv.Itoa(s.port)), " ")
		out, err := s.run(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", data, "-l", filepath.Join(s.dir, "server.log"), "-o", o)
		if err == nil {
			break
		}
		if attempt == 2 {
			log, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
			s.remove()
			return nil, fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, log)
		}
	}
	if err := s.Exec(ctx, "postgres", "CREATE ROLE "+PasswordRole+" NOLOGIN"); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// PasswordRole is a role of every server Start starts: its members log in
// over TCP with their password (scram-sha-256), where every other role is
// trusted. A test makes such a login with
// CREATE ROLE x LOGIN PASSWORD '…' IN ROLE password_login.
const PasswordRole = "password_login"

// URL is the connection URL of database db as the superuser "postgres".
func (s *Server) URL(db string) string {
	return s.URLAs("postgres", db)
}

// URLAs is the connection URL of database db as role user (trust
// authentication: no password).
func (s *Server) URLAs(user, db string) string {
	u := url.URL{Scheme: "postgres", User: url.User(user), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)), Path: "/" + db}
	u.RawQuery = "sslmode=disable"
	return u.String()
}

// Port is the TCP port the server listens on.
func (s *Server) Port() int { return s.port }

// CreateDatabase creates a new, empty database and returns its name.
func (s *Server) CreateDatabase(ctx context.Context, prefix string) (string, error) {
	name := fmt.Sprintf("%s_%d_%d", prefix, os.Getpid(), s.nextDB.Add(1))
	if err := s.Exec(ctx, "postgres", "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", err
	}
	return name, nil
}

// Exec runs SQL statements in database db as the superuser.
func (s *Server) Exec(ctx context.Context, db string, statements ...string) error {
	conn, err := pgx.Connect(ctx, s.URL(db))
	if err != nil {
		return err
	}
	for _, st := range statements {
		if _, err := conn.Exec(ctx, st); err != nil {
			// The statement's error is the one that matters.
			_ = conn.Close(ctx)
			return fmt.Errorf("%s: %w", st, err)
		}
	}
	return conn.Close(ctx)
}

// Stop stops the server at once and removes its files.
func (s *Server) Stop() {
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := s.run(ctx, "pg_ctl", "stop", "-m", "immediate", "-w", "-D", filepath.Join(s.dir, "data")); err != nil {
		// Stop has no caller to return this to, and the server may outlive the
		// process that started it: say so where a person will see it.
		fmt.Fprintf(os.Stderr, "pgtest: pg_ctl stop: %v\n%s", err, out)
	}
	s.remove()
}

// remove removes the server's files; what it cannot remove it reports, since
// its callers are already failing or stopping.
func (s *Server) remove() {
	if err := os.RemoveAll(s.dir); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: removing the server's files: %v\n", err)
	}
}

func (s *Server) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// own gives the server's user the directory.
func (s *Server) own(dir string) error {
	if s.cred == nil {
		return nil
	}
	return os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid))
}

// unprivileged is the user a server started by root runs as.
func unprivileged() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.Atoi(u.Uid)
		gid, err2 := strconv.Atoi(u.Gid)
		if err1 == nil && err2 == nil {
			return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
		}
	}
	return nil, errors.New("running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as")
}

// binDir finds the PostgreSQL server binaries.
func binDir() (string, error) {
	var candidates []string
	if d := os.Getenv(EnvBinDir); d != "" {
		candidates = append(candidates, d)
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	versions, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(versions, func(i, j int) bool { return pgVersion(versions[i]) > pgVersion(versions[j]) })
	candidates = append(candidates, versions...)
	if p, err := exec.LookPath("initdb"); err == nil {
		if resolved, err := filepath.EvalSymlinks(p); err == nil {
			candidates = append(candidates, filepath.Dir(resolved))
		}
	}
	return firstWithServer(candidates)
}

// firstWithServer returns the first of dirs that holds the server binaries.
func firstWithServer(dirs []string) (string, error) {
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "pg_ctl")) && isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w in $%s, pg_config --bindir, /usr/lib/postgresql/*/bin or PATH; "+
		"install them with `make postgres` (Debian's postgresql package) or set %s to their directory",
		ErrNoServerBinaries, EnvBinDir, EnvBinDir)
}

func pgVersion(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

func isExecutable(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		_ = l.Close()
		return 0, fmt.Errorf("listening on 127.0.0.1: unexpected address %v", l.Addr())
	}
	// The port must be free again before the server binds it.
	if err := l.Close(); err != nil {
		return 0, err
	}
	return addr.Port, nil
}
