package target

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/pgurl"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// maxIdentifierBytes is PostgreSQL's limit on a name (NAMEDATALEN - 1). The
// server silently truncates longer names, so a longer principal could name a
// different role than the one approved; such names are refused instead.
const maxIdentifierBytes = 63

// adminOptionPattern spots a role written with the grant option it asks for.
var adminOptionPattern = regexp.MustCompile(`(?i)\s+with\s+admin(\s+option)?\s*$`)

// Postgres grants PostgreSQL roles: a grant is the role membership
// `GRANT role TO principal`, revoked with `REVOKE role FROM principal`. The
// connection is opened on first use, so a provider whose plan touches no
// PostgreSQL grant never connects.
type Postgres struct {
	name              string // "postgres.NAME", as entitlements spell it
	url               string
	terminateSessions bool

	mu   sync.Mutex
	pool *pgxpool.Pool
	// server is the identity of the server the pool reaches, once read.
	server string
}

// PostgresOptions configure a PostgreSQL target.
type PostgresOptions struct {
	// TerminateSessions ends the principal's open sessions after a revocation:
	// REVOKE stops new use of the role but does not end a session already
	// open, and a session that switched to the role with SET ROLE goes on
	// acting as it. The provider turns it on unless told otherwise.
	TerminateSessions bool
}

// NewPostgres returns the target "postgres."+name for the database at url.
// The URL is checked here; the connection is made on first use.
func NewPostgres(name, rawURL string, opts PostgresOptions) (*Postgres, error) {
	if _, err := pgurl.Config(rawURL); err != nil {
		return nil, fmt.Errorf("the URL of PostgreSQL target %q: %w", name, err)
	}
	return &Postgres{name: policy.PostgresTarget(name), url: rawURL, terminateSessions: opts.TerminateSessions}, nil
}

// Name is the target's name as entitlements spell it.
func (p *Postgres) Name() string { return p.name }

// Close closes the target's connections.
func (p *Postgres) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pool != nil {
		p.pool.Close()
		p.pool = nil
	}
	p.server = ""
}

func (p *Postgres) connect(ctx context.Context) (*pgxpool.Pool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pool != nil {
		return p.pool, nil
	}
	cfg, err := pgurl.Config(p.url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, p.unreachable(err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, p.unreachable(err)
	}
	// Read the server's identity now, while the pool is idle: Revoke asks for
	// it (through its covered check) while it holds a connection of its own,
	// and several revocations at once could otherwise hold every connection
	// and wait for one more. A failure here is left to Server to report.
	if server, err := readServer(ctx, pool); err == nil {
		p.server = server
	}
	p.pool = pool
	return pool, nil
}

// unreachable describes a connection failure, naming the target and its
// database without the password: a refused login (matching
// pgurl.ErrLoginFailed) as such, anything else as a target it cannot reach.
func (p *Postgres) unreachable(err error) error {
	described := pgurl.ConnectError(err, p.url)
	if errors.Is(described, pgurl.ErrLoginFailed) {
		return classified{fmt.Errorf("PostgreSQL target %s (%s): %w", p.name, pgurl.Redact(p.url), described), ErrUnreachable}
	}
	return classified{fmt.Errorf("cannot reach PostgreSQL target %s (%s): %s", p.name, pgurl.Redact(p.url), described), ErrUnreachable}
}

// Check implements Checker: what the plan must refuse before anything is granted.
func (p *Postgres) Check(ctx context.Context, principal, role string) ([]policy.Violation, error) {
	var out []policy.Violation
	for _, v := range []struct {
		attr, kind, value string
	}{{policy.AttrPrincipal, "principal", principal}, {policy.AttrEntitlement, "role", role}} {
		if problem := identifierProblem(v.value); problem != "" {
			out = append(out, policy.Violation{Rule: policy.RuleTargetName, Attribute: v.attr,
				Detail: fmt.Sprintf("the %s %q cannot be a PostgreSQL role name: %s.", v.kind, v.value, problem)})
		}
	}
	if adminOptionPattern.MatchString(role) {
		out = append(out, policy.Violation{Rule: policy.RuleRoleAdminOption, Attribute: policy.AttrEntitlement,
			Detail: fmt.Sprintf("the entitlement's role %q asks for the admin option.", role)})
	}
	if len(out) > 0 {
		return out, nil
	}
	pool, err := p.connect(ctx)
	if err != nil {
		return nil, err
	}
	// One round trip: the role's own attributes and those of every role it
	// belongs to, directly or not, since a member can use what those hold; and
	// whether the principal exists and already administers the role.
	const q = `
WITH RECURSIVE granted(oid) AS (
	SELECT oid FROM pg_roles WHERE rolname = $1
	UNION
	SELECT m.roleid FROM pg_auth_members m JOIN granted g ON m.member = g.oid
)
SELECT
	EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1),
	EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $2),
	coalesce((SELECT string_agg(r.rolname || ': ' || concat_ws(', ',
		CASE WHEN r.rolsuper THEN 'SUPERUSER' END,
		CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END,
		CASE WHEN r.rolcreatedb THEN 'CREATEDB' END,
		CASE WHEN r.rolreplication THEN 'REPLICATION' END,
		CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END,
		CASE WHEN r.rolname = ANY ($3) THEN 'built-in administrative role' END,
		CASE WHEN EXISTS (SELECT 1 FROM pg_auth_members a WHERE a.member = r.oid AND a.admin_option)
			THEN 'admin option on other roles' END), '; ' ORDER BY r.rolname)
	FROM pg_roles r JOIN granted g ON r.oid = g.oid
	WHERE r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication OR r.rolbypassrls
		OR r.rolname = ANY ($3)
		OR EXISTS (SELECT 1 FROM pg_auth_members a WHERE a.member = r.oid AND a.admin_option)), ''),
	EXISTS (SELECT 1 FROM pg_auth_members m
		JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
		WHERE r.rolname = $1 AND u.rolname = $2 AND m.admin_option),
	-- Whether the provider's own role can GRANT and REVOKE the role: the
	-- admin option on it, or before PostgreSQL 16 CREATEROLE for a role that
	-- is not a superuser. A role that does not exist is reported above.
	coalesce((SELECT pg_has_role(current_user, r.oid, 'USAGE WITH ADMIN OPTION')
		OR (current_setting('server_version_num')::int < 160000 AND NOT r.rolsuper
			AND (SELECT c.rolcreaterole FROM pg_roles c WHERE c.rolname = current_user))
		FROM pg_roles r WHERE r.rolname = $1), true),
	current_user`
	var roleExists, principalExists, admin, administers bool
	var privileged, self string
	if err := pool.QueryRow(ctx, q, role, principal, policy.PrivilegedBuiltinRoles).Scan(
		&roleExists, &principalExists, &privileged, &admin, &administers, &self); err != nil {
		return nil, p.queryError("checking role "+role, err)
	}
	if !roleExists {
		out = append(out, policy.Violation{Rule: policy.RuleRoleUnknown, Attribute: policy.AttrEntitlement,
			Detail: fmt.Sprintf("role %q does not exist in %s.", role, p.name)})
	}
	if privileged != "" {
		out = append(out, policy.Violation{Rule: policy.RuleRolePrivileged, Attribute: policy.AttrEntitlement,
			Detail: fmt.Sprintf("role %q in %s carries privileged attributes (%s).", role, p.name, privileged)})
	}
	if !principalExists {
		out = append(out, policy.Violation{Rule: policy.RulePrincipalUnknown, Attribute: policy.AttrPrincipal,
			Detail: fmt.Sprintf("no role named %q exists in %s.", principal, p.name)})
	}
	if admin {
		out = append(out, policy.Violation{Rule: policy.RuleRoleAdminOption, Attribute: policy.AttrPrincipal,
			Detail: fmt.Sprintf("%q already holds role %q WITH ADMIN OPTION in %s, granted outside governed.", principal, role, p.name)})
	}
	if !administers {
		out = append(out, policy.Violation{Rule: policy.RuleProviderPrivilege, Attribute: policy.AttrEntitlement,
			Detail: fmt.Sprintf("the provider's role %q in %s does not hold role %q WITH ADMIN OPTION, so it can neither grant "+
				"nor revoke it. Missing: GRANT %s TO %s WITH ADMIN OPTION.", self, p.name, role, quote(role), quote(self))})
	}
	lingering, err := p.checkLingering(ctx, pool, principal, role)
	if err != nil {
		return nil, err
	}
	return append(out, lingering...), nil
}

// lingeringQuery finds what a REVOKE of role $1 from principal $2 would
// leave behind. granted is the role and every role it belongs to, directly or
// not, since a member can act as any of them. pg_shdepend, which every role
// can read, names the owner of every object in every database of the server,
// and the roles named in each object's access list; the access lists
// themselves can be read only for this database's objects and for the
// server's databases and tablespaces. Each list is returned as its size and
// up to five examples. A member of the principal counts when it can use the
// principal's privileges: every membership before PostgreSQL 16, and from 16
// on one with INHERIT or SET (not one that only administers the principal,
// such as the one CREATEROLE gives a role's creator).
const lingeringQuery = `
WITH RECURSIVE granted(oid) AS (
	SELECT oid FROM pg_roles WHERE rolname = $1
	UNION
	SELECT m.roleid FROM pg_auth_members m JOIN granted g ON m.member = g.oid
),
here AS (SELECT oid FROM pg_database WHERE datname = current_database()),
deps AS (
	SELECT d.classid, d.objid, d.objsubid, d.dbid, d.deptype, d.refobjid
	FROM pg_shdepend d
	WHERE d.refclassid = 'pg_authid'::regclass AND d.deptype IN ('o', 'a')
		AND d.refobjid IN (SELECT oid FROM granted)
),
members AS (
	SELECT DISTINCT u.rolname AS what
	FROM pg_auth_members m JOIN pg_roles p ON p.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
	WHERE p.rolname = $2
		AND coalesce((to_jsonb(m) ->> 'inherit_option')::bool OR (to_jsonb(m) ->> 'set_option')::bool, true)
),
owned AS (
	SELECT CASE WHEN d.dbid IN (0, (SELECT oid FROM here)) THEN pg_describe_object(d.classid, d.objid, d.objsubid)
		ELSE 'an object in database ' || coalesce(quote_ident((SELECT datname FROM pg_database WHERE oid = d.dbid)), d.dbid::text)
		END || ' (owner ' || d.refobjid::regrole::text || ')' AS what
	FROM deps d WHERE d.deptype = 'o'
),
grantable AS (
	SELECT DISTINCT pg_describe_object(d.classid, d.objid, d.objsubid)
		|| ' (' || a.privilege_type || ' to ' || d.refobjid::regrole::text || ')' AS what
	FROM deps d, LATERAL aclexplode(CASE
		WHEN d.classid = 'pg_class'::regclass AND d.objsubid = 0 THEN (SELECT relacl FROM pg_class WHERE oid = d.objid)
		WHEN d.classid = 'pg_class'::regclass THEN
			(SELECT attacl FROM pg_attribute WHERE attrelid = d.objid AND attnum = d.objsubid)
		WHEN d.classid = 'pg_namespace'::regclass THEN (SELECT nspacl FROM pg_namespace WHERE oid = d.objid)
		WHEN d.classid = 'pg_proc'::regclass THEN (SELECT proacl FROM pg_proc WHERE oid = d.objid)
		WHEN d.classid = 'pg_type'::regclass THEN (SELECT typacl FROM pg_type WHERE oid = d.objid)
		WHEN d.classid = 'pg_language'::regclass THEN (SELECT lanacl FROM pg_language WHERE oid = d.objid)
		WHEN d.classid = 'pg_largeobject'::regclass THEN (SELECT lomacl FROM pg_largeobject_metadata WHERE oid = d.objid)
		WHEN d.classid = 'pg_foreign_data_wrapper'::regclass THEN (SELECT fdwacl FROM pg_foreign_data_wrapper WHERE oid = d.objid)
		WHEN d.classid = 'pg_foreign_server'::regclass THEN (SELECT srvacl FROM pg_foreign_server WHERE oid = d.objid)
		WHEN d.classid = 'pg_database'::regclass THEN (SELECT datacl FROM pg_database WHERE oid = d.objid)
		WHEN d.classid = 'pg_tablespace'::regclass THEN (SELECT spcacl FROM pg_tablespace WHERE oid = d.objid)
		WHEN d.classid = 'pg_default_acl'::regclass THEN (SELECT defaclacl FROM pg_default_acl WHERE oid = d.objid)
	END) a
	WHERE d.deptype = 'a' AND d.dbid IN (0, (SELECT oid FROM here)) AND a.grantee = d.refobjid AND a.is_grantable
),
builtin AS (
	SELECT r.rolname AS what FROM pg_roles r JOIN granted g ON g.oid = r.oid
	WHERE r.rolname LIKE 'pg\_%' AND r.rolname <> ALL ($3)
),
login AS (
	SELECT r.rolname AS what FROM pg_roles r JOIN granted g ON g.oid = r.oid WHERE r.rolcanlogin
)
SELECT
	(SELECT count(*) FROM members), (SELECT coalesce(array_agg(what), '{}') FROM (SELECT what FROM members ORDER BY what LIMIT 5) s),
	(SELECT count(*) FROM owned), (SELECT coalesce(array_agg(what), '{}') FROM (SELECT what FROM owned ORDER BY what LIMIT 5) s),
	(SELECT count(*) FROM grantable), (SELECT coalesce(array_agg(what), '{}') FROM (SELECT what FROM grantable ORDER BY what LIMIT 5) s),
	(SELECT count(*) FROM builtin), (SELECT coalesce(array_agg(what), '{}') FROM (SELECT what FROM builtin ORDER BY what LIMIT 5) s),
	(SELECT count(*) FROM login), (SELECT coalesce(array_agg(what), '{}') FROM (SELECT what FROM login ORDER BY what LIMIT 5) s)`

// checkLingering refuses the grants of role to principal that a REVOKE could
// not take back whole: access the principal's own members would hold through
// it, or that a member of the role could pass on to itself or keep (objects
// the role owns, privileges it holds WITH GRANT OPTION, built-in roles it
// belongs to, a role it can log in as).
func (p *Postgres) checkLingering(ctx context.Context, pool *pgxpool.Pool, principal, role string) ([]policy.Violation, error) {
	var counts [5]int64
	var examples [5][]string
	if err := pool.QueryRow(ctx, lingeringQuery, role, principal, policy.PrivilegedBuiltinRoles).Scan(
		&counts[0], &examples[0], &counts[1], &examples[1], &counts[2], &examples[2],
		&counts[3], &examples[3], &counts[4], &examples[4]); err != nil {
		return nil, p.queryError("checking what a revocation of "+role+" would leave behind", err)
	}
	findings := []struct {
		rule   policy.Rule
		attr   string
		detail string
	}{
		{policy.RulePrincipalGroup, policy.AttrPrincipal, fmt.Sprintf("%q has members in %s, who would hold %q through it", principal, p.name, role)},
		{policy.RuleRoleOwner, policy.AttrEntitlement, fmt.Sprintf("role %q in %s, or a role it belongs to, owns objects", role, p.name)},
		{policy.RuleRoleGrantOption, policy.AttrEntitlement, fmt.Sprintf("role %q in %s, or a role it belongs to, holds privileges WITH GRANT OPTION", role, p.name)},
		{policy.RuleRoleBuiltin, policy.AttrEntitlement, fmt.Sprintf("role %q in %s is or belongs to built-in roles", role, p.name)},
		{policy.RuleRoleLogin, policy.AttrEntitlement, fmt.Sprintf("role %q in %s is or belongs to roles that can log in", role, p.name)},
	}
	var out []policy.Violation
	for i, f := range findings {
		if counts[i] > 0 {
			out = append(out, policy.Violation{Rule: f.rule, Attribute: f.attr,
				Detail: f.detail + ": " + listed(counts[i], examples[i]) + "."})
		}
	}
	return out, nil
}

// listed writes examples, and how many more there are of count.
func listed(count int64, examples []string) string {
	text := strings.Join(examples, "; ")
	if more := count - int64(len(examples)); more > 0 {
		text += fmt.Sprintf(" and %d more", more)
	}
	return text
}

// identifierProblem says why s cannot name a PostgreSQL role, or "".
func identifierProblem(s string) string {
	switch {
	case s == "":
		return "it is empty"
	case len(s) > maxIdentifierBytes:
		return fmt.Sprintf("it is %d bytes long and PostgreSQL would cut it to %d, naming another role", len(s), maxIdentifierBytes)
	case strings.ContainsRune(s, 0):
		return "it holds a NUL character"
	}
	return ""
}

// serverQuery reads the system identifier of the server's cluster, which
// initdb chose at random. Roles and their memberships belong to the whole
// cluster, not to one of its databases, so every database of a cluster is one
// server here; a physical replica, which serves the same roles, shares it.
const serverQuery = `SELECT system_identifier::text FROM pg_control_system()`

// serverPrefix marks a server identity as a PostgreSQL cluster's.
const serverPrefix = "postgresql:"

// Server implements ServerIdentifier: "postgresql:" and the system
// identifier of the cluster the target reaches, read once per connection pool.
func (p *Postgres) Server(ctx context.Context) (string, error) {
	pool, err := p.connect(ctx)
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	server := p.server
	p.mu.Unlock()
	if server != "" {
		return server, nil
	}
	if server, err = readServer(ctx, pool); err != nil {
		return "", p.queryError("identifying the server", err)
	}
	p.mu.Lock()
	if p.pool == pool {
		p.server = server
	}
	p.mu.Unlock()
	return server, nil
}

// learnServer makes sure the server's identity is known before fn of locked
// runs, reading it on the transaction's own connection when it is not, so
// that the checks fn makes never need a second connection of the pool.
func (p *Postgres) learnServer(ctx context.Context, pool *pgxpool.Pool, tx pgx.Tx) {
	p.mu.Lock()
	known := p.server != ""
	p.mu.Unlock()
	if known {
		return
	}
	// In a savepoint, so that a failure leaves the transaction usable.
	sp, err := tx.Begin(ctx)
	if err != nil {
		return
	}
	server, err := readServer(ctx, sp)
	if err != nil {
		_ = sp.Rollback(ctx)
		return
	}
	if sp.Commit(ctx) == nil {
		p.mu.Lock()
		if p.pool == pool {
			p.server = server
		}
		p.mu.Unlock()
	}
}

// readServer reads the identity of the server q is connected to.
func readServer(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (string, error) {
	var id string
	if err := q.QueryRow(ctx, serverQuery).Scan(&id); err != nil {
		return "", err
	}
	return serverPrefix + id, nil
}

// Grant implements Target. The role and principal are quoted identifiers,
// never SQL text: a name such as `x"; DROP ROLE y;--` is one (odd) role name.
// A grant that records its server (ledger.Grant.TargetServer) is put in force
// only on that server, so that the ledger never holds a membership as being
// where it is not; one requested before the target's URL moved to another
// server fails.
func (p *Postgres) Grant(ctx context.Context, g ledger.Grant, wanted func(context.Context) (bool, error)) error {
	return p.locked(ctx, g, func(tx pgx.Tx) error {
		if g.TargetServer != "" {
			server, err := readServer(ctx, tx)
			if err != nil {
				return p.queryError("identifying the server", err)
			}
			if server != g.TargetServer {
				return fmt.Errorf("%s now reaches server %s, not server %s where grant %s was requested; "+
					"nothing was granted", p.name, server, g.TargetServer, g.ID)
			}
		}
		if ok, err := wanted(ctx); err != nil || !ok {
			return err
		}
		if _, err := tx.Exec(ctx, "GRANT "+quote(g.Role)+" TO "+quote(g.Principal)); err != nil {
			return refusal(p.queryError("granting "+g.Role+" to "+g.Principal, err), err)
		}
		return nil
	})
}

// Revoke implements Target.
func (p *Postgres) Revoke(ctx context.Context, g ledger.Grant, covered func(context.Context) (bool, error)) error {
	removed := false
	err := p.locked(ctx, g, func(tx pgx.Tx) error {
		if still, err := covered(ctx); err != nil || still {
			return err
		}
		if _, err := tx.Exec(ctx, "REVOKE "+quote(g.Role)+" FROM "+quote(g.Principal)); err != nil {
			return refusal(p.queryError("revoking "+g.Role+" from "+g.Principal, err), err)
		}
		// REVOKE only warns when it leaves a membership in place, for instance
		// one that another role granted (PostgreSQL 16 and later revoke only
		// the grantor's own grants). Access is gone only when the catalogue
		// says so.
		var present bool
		if err := tx.QueryRow(ctx, membershipQuery, g.Role, g.Principal).Scan(&present); err != nil {
			return p.queryError("reading the members of "+g.Role, err)
		}
		if present {
			return fmt.Errorf("REVOKE %s FROM %s in %s left the membership in place: it was granted by another "+
				"role, which must revoke it", g.Role, g.Principal, p.name)
		}
		removed = true
		return nil
	})
	if err != nil || !removed || !p.terminateSessions {
		return err
	}
	pool, err := p.connect(ctx)
	if err != nil {
		return err
	}
	if _, err := pool.Exec(ctx,
		`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()`,
		g.Principal); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42501" { // insufficient_privilege
			return fmt.Errorf("%w; the membership is revoked, but the principal's open sessions keep what they had: "+
				"grant pg_signal_backend to the provider's role, or turn terminate_sessions_on_revoke off",
				p.queryError("ending the sessions of "+g.Principal, err))
		}
		return p.queryError("ending the sessions of "+g.Principal, err)
	}
	return nil
}

// locked runs fn in a transaction that holds an advisory lock on g's
// membership (its role and principal), which every Grant and Revoke of that
// membership takes, from this process or any other.
func (p *Postgres) locked(ctx context.Context, g ledger.Grant, fn func(pgx.Tx) error) error {
	pool, err := p.connect(ctx)
	if err != nil {
		return err
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return p.unreachable(err)
	}
	defer tx.Rollback(ctx)
	// A holder that hangs must not hang every apply behind it.
	if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '60s'`); err != nil {
		return p.queryError("setting a lock timeout", err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, membershipLockKey(g.Role, g.Principal)); err != nil {
		return p.queryError("locking the membership of "+g.Principal+" in "+g.Role, err)
	}
	p.learnServer(ctx, pool, tx)
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return p.queryError("committing the change to "+g.Role, err)
	}
	return nil
}

// membershipLockKey is the advisory lock key of one membership. Two
// memberships that share a key only wait for each other.
func membershipLockKey(role, principal string) int64 {
	h := fnv.New64a()
	h.Write([]byte("governed.membership\x00" + role + "\x00" + principal))
	return int64(h.Sum64())
}

// membershipQuery reports whether $2 is a direct member of $1.
const membershipQuery = `SELECT EXISTS (SELECT 1 FROM pg_auth_members m
	JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
	WHERE r.rolname = $1 AND u.rolname = $2)`

// Present implements Target: whether the principal is still a direct member
// of the role.
func (p *Postgres) Present(ctx context.Context, g ledger.Grant) (bool, error) {
	pool, err := p.connect(ctx)
	if err != nil {
		return false, err
	}
	var present bool
	err = pool.QueryRow(ctx, membershipQuery, g.Role, g.Principal).Scan(&present)
	if err != nil {
		return false, p.queryError("reading the members of "+g.Role, err)
	}
	return present, nil
}

// membersQuery lists who holds role $1: its direct members, then the members
// of those, and so on, each once, at its shortest distance. A membership held
// through another role counts only where every link of the chain lets its
// member use the role above (from PostgreSQL 16 on, a link with INHERIT or
// SET; before, every link). inherit says whether the member uses the role's
// privileges without SET ROLE: from PostgreSQL 16 on each link's INHERIT
// option, before it the member role's own INHERIT attribute.
const membersQuery = `
WITH RECURSIVE holders(member, via, admin, inherits, uses, depth) AS (
	SELECT m.member, 0::oid, m.admin_option,
		coalesce((to_jsonb(m) ->> 'inherit_option')::bool, u.rolinherit),
		coalesce((to_jsonb(m) ->> 'inherit_option')::bool OR (to_jsonb(m) ->> 'set_option')::bool, true), 1
	FROM pg_auth_members m JOIN pg_roles u ON u.oid = m.member
	WHERE m.roleid = (SELECT oid FROM pg_roles WHERE rolname = $1)
	UNION ALL
	SELECT m.member, h.member, h.admin,
		h.inherits AND coalesce((to_jsonb(m) ->> 'inherit_option')::bool, u.rolinherit),
		coalesce((to_jsonb(m) ->> 'inherit_option')::bool OR (to_jsonb(m) ->> 'set_option')::bool, true), h.depth + 1
	FROM holders h JOIN pg_auth_members m ON m.roleid = h.member JOIN pg_roles u ON u.oid = m.member
	WHERE h.uses AND h.depth < 32
)
SELECT DISTINCT ON (u.rolname) u.rolname, coalesce(v.rolname, ''), h.admin, h.inherits, u.rolname = current_user
FROM holders h JOIN pg_roles u ON u.oid = h.member LEFT JOIN pg_roles v ON v.oid = h.via
WHERE h.depth = 1 OR h.uses
ORDER BY u.rolname, h.depth, h.admin DESC, h.inherits DESC, v.rolname`

// Members implements Lister: everyone who holds role, directly or through
// other roles (Membership.Via), the provider's own login role included and
// marked (Membership.Provider).
func (p *Postgres) Members(ctx context.Context, role string) ([]Membership, error) {
	pool, err := p.connect(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := pool.Query(ctx, membersQuery, role)
	if err != nil {
		return nil, p.queryError("reading the members of "+role, err)
	}
	members, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Membership, error) {
		m := Membership{Target: p.name, Role: role}
		return m, row.Scan(&m.Principal, &m.Via, &m.AdminOption, &m.Inherit, &m.Provider)
	})
	if err != nil {
		return nil, p.queryError("reading the members of "+role, err)
	}
	return members, nil
}

// queryError describes a failed statement: the server's own message when it
// answered, or that the target could not be reached.
func (p *Postgres) queryError(what string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return fmt.Errorf("%s in %s: %s (SQLSTATE %s)", what, p.name, pgErr.Message, pgErr.Code)
	}
	return fmt.Errorf("%s: %w", what, p.unreachable(err))
}

// refusal classifies the server's answer err to a GRANT or REVOKE, as
// queryError described it, for the lifecycle: a role that does not exist
// (ErrNoSuchRole) or a privilege the provider's role lacks (ErrDenied). The
// message stays the server's.
func refusal(described, err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return described
	}
	switch pgErr.Code {
	case "42704": // undefined_object: role "x" does not exist
		return classified{described, ErrNoSuchRole}
	case "42501": // insufficient_privilege: no admin option on the role
		return classified{described, ErrDenied}
	}
	return described
}

// classified is an error that also matches a sentinel of this package.
type classified struct {
	error
	kind error
}

func (c classified) Unwrap() []error { return []error{c.error, c.kind} }

func quote(name string) string { return pgx.Identifier{name}.Sanitize() }
