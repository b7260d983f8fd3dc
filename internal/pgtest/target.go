package pgtest

import (
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
)

// targetTags numbers the targets of the process, so that their role names,
// which belong to the whole server, never meet.
var targetTags atomic.Int64

// Target is a database prepared as a governed PostgreSQL target for one test:
// governed roles that carry no privileges, a login role for governed (the
// "governor") that holds each of them WITH ADMIN OPTION and nothing else, the
// least privilege the PostgreSQL guide documents, and login roles for
// principals. Every name carries the target's tag, so that tests sharing a
// server never share a role.
type Target struct {
	t testing.TB

	// Server is the server the target lives in.
	Server *Server
	// DB is the target's database.
	DB string
	// Tag is unique on the server: "t1", "t2", ...
	Tag string
	// Governor is governed's login role: "governor_<tag>".
	Governor string
	// Roles are the governed roles, "<tag>_<name>" for each of
	// TargetOptions.Roles, in that order.
	Roles []string
	// Role is Roles[0], "<tag>_read" by default.
	Role string
}

// TargetOptions say what a target holds besides its governor.
type TargetOptions struct {
	// Roles are the short names of the governed roles; each becomes the NOLOGIN
	// role "<tag>_<name>". The default is one role, "read".
	Roles []string
	// Principals are the short names of login roles to create, each named as
	// Principal names it.
	Principals []string
	// SignalBackend grants the governor pg_signal_backend, which ending a
	// principal's sessions on revocation needs.
	SignalBackend bool
}

// NewTarget creates a target in a new database of s.
func (s *Server) NewTarget(t testing.TB, opts TargetOptions) *Target {
	t.Helper()
	db, _ := s.NewDatabase(t, "target")
	tag := "t" + strconv.FormatInt(targetTags.Add(1), 10)
	x := &Target{t: t, Server: s, DB: db, Tag: tag, Governor: "governor_" + tag}
	short := opts.Roles
	if len(short) == 0 {
		short = []string{"read"}
	}
	statements := []string{"CREATE ROLE " + QuoteIdent(x.Governor) + " LOGIN"}
	for _, name := range short {
		role := tag + "_" + name
		x.Roles = append(x.Roles, role)
		statements = append(statements,
			"CREATE ROLE "+QuoteIdent(role)+" NOLOGIN",
			"GRANT "+QuoteIdent(role)+" TO "+QuoteIdent(x.Governor)+" WITH ADMIN OPTION")
	}
	x.Role = x.Roles[0]
	if opts.SignalBackend {
		statements = append(statements, "GRANT pg_signal_backend TO "+QuoteIdent(x.Governor))
	}
	for _, name := range opts.Principals {
		statements = append(statements, "CREATE ROLE "+QuoteIdent(x.Principal(name))+" LOGIN")
	}
	x.Exec(statements...)
	return x
}

// Principal is the login role name of the target's principal called name:
// "svc-<tag>-<name>". It does not create the role; CreatePrincipal and
// TargetOptions.Principals do.
func (x *Target) Principal(name string) string { return "svc-" + x.Tag + "-" + name }

// CreatePrincipal creates the login role Principal(name) and returns its name.
func (x *Target) CreatePrincipal(name string) string {
	x.t.Helper()
	p := x.Principal(name)
	x.Exec("CREATE ROLE " + QuoteIdent(p) + " LOGIN")
	return p
}

// RequirePassword makes the governor log in over TCP with password only (see
// PasswordRole): URL, which carries none, is then refused; URLWithPassword
// logs in.
func (x *Target) RequirePassword(password string) {
	x.t.Helper()
	x.Server.MustExec(x.t, "postgres",
		"ALTER ROLE "+QuoteIdent(x.Governor)+" PASSWORD '"+strings.ReplaceAll(password, "'", "''")+"'",
		"GRANT "+PasswordRole+" TO "+QuoteIdent(x.Governor))
}

// URLWithPassword connects to the target's database as the governor with
// password.
func (x *Target) URLWithPassword(password string) string {
	u, err := url.Parse(x.URL())
	if err != nil {
		x.t.Fatal(err)
	}
	u.User = url.UserPassword(x.Governor, password)
	return u.String()
}

// URL connects to the target's database as the governor.
func (x *Target) URL() string { return x.Server.URLAs(x.Governor, x.DB) }

// URLAs connects to the target's database as role.
func (x *Target) URLAs(role string) string { return x.Server.URLAs(role, x.DB) }

// Exec runs statements in the target's database as the superuser.
func (x *Target) Exec(statements ...string) {
	x.t.Helper()
	x.Server.MustExec(x.t, x.DB, statements...)
}

// QueryRow scans the one row a query returns, run as the superuser in the
// target's database, into dst.
func (x *Target) QueryRow(sql string, args []any, dst ...any) {
	x.t.Helper()
	x.Server.MustQueryRow(x.t, x.DB, sql, args, dst...)
}

// IsMember reports whether principal is a direct member of role
// (pg_auth_members), as a GRANT of role to principal makes it.
func (x *Target) IsMember(principal, role string) bool {
	x.t.Helper()
	var member bool
	x.QueryRow(`SELECT EXISTS (SELECT 1 FROM pg_auth_members m
	JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
	WHERE r.rolname = $1 AND u.rolname = $2)`, []any{role, principal}, &member)
	return member
}

// RoleExists reports whether a role of that name exists on the server.
func (x *Target) RoleExists(name string) bool {
	x.t.Helper()
	var exists bool
	x.QueryRow(`SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, []any{name}, &exists)
	return exists
}

// Grant makes principal a member of role by hand, as the superuser: access
// given outside governed.
func (x *Target) Grant(role, principal string) {
	x.t.Helper()
	x.Exec("GRANT " + QuoteIdent(role) + " TO " + QuoteIdent(principal))
}

// GrantAsGovernor makes principal a member of role as the governor, as
// governed does when it applies a grant.
func (x *Target) GrantAsGovernor(role, principal string) {
	x.t.Helper()
	x.Exec("SET ROLE "+QuoteIdent(x.Governor), "GRANT "+QuoteIdent(role)+" TO "+QuoteIdent(principal))
}

// Revoke takes role away from principal by hand, as the superuser: a
// revocation made outside governed.
func (x *Target) Revoke(role, principal string) {
	x.t.Helper()
	x.Exec("REVOKE " + QuoteIdent(role) + " FROM " + QuoteIdent(principal))
}

// QuoteIdent quotes a name as a PostgreSQL identifier.
func QuoteIdent(name string) string { return pgx.Identifier{name}.Sanitize() }
