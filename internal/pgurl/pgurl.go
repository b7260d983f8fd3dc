// Package pgurl holds what every part of governed does the same way with a
// PostgreSQL connection URL (postgres://user@host:port/database?…, as libpq
// and pgx read it): recognise it, parse it with governed's defaults, and show
// it in messages without its secrets.
package pgurl

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Pattern matches the start of a PostgreSQL URL: postgres:// or postgresql://.
var Pattern = regexp.MustCompile(`^postgres(ql)?://`)

// Is reports whether s is written as a PostgreSQL URL.
func Is(s string) bool { return Pattern.MatchString(s) }

// ConnectTimeout bounds a connection attempt when the URL sets no
// connect_timeout, so that an unreachable server fails an apply in seconds
// rather than after the operating system's TCP timeout.
const ConnectTimeout = 10 * time.Second

// ApplicationName is what governed's connections report to the server
// (pg_stat_activity.application_name) unless the URL says otherwise.
const ApplicationName = "governed"

// Config parses raw into a pool configuration with governed's defaults:
// ConnectTimeout and ApplicationName where the URL sets neither. The error
// never repeats a password.
func Config(raw string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("%s is not a valid PostgreSQL URL: %s", Redact(raw), RedactError(err, raw))
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = ConnectTimeout
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = ApplicationName
	}
	return cfg, nil
}

// secretParams are the URL query parameters that carry secrets.
var secretParams = []string{"password", "sslpassword"}

// mask replaces a secret in what messages show.
const mask = "xxxxx"

// Redact returns raw as messages show it: a URL as its scheme, user, host and
// database only, without the password or the query (which may hold one too);
// a URL that cannot be parsed as only its scheme, since its text may hold a
// password anywhere. Text that is not a URL (a file path) is returned as it is.
func Redact(raw string) string {
	scheme, _, isURL := strings.Cut(raw, "://")
	if !isURL {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" && u.Path == "" {
		return scheme + "://… (not a valid URL)"
	}
	shown := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	if u.User != nil {
		shown.User = url.User(u.User.Username())
	}
	return shown.String()
}

// RedactError is err's text with every password that raw holds replaced by
// "xxxxx", for errors from drivers that quote their connection settings.
func RedactError(err error, raw string) string {
	msg := err.Error()
	u, perr := url.Parse(raw)
	if perr != nil {
		return msg
	}
	var secrets []string
	if pw, has := u.User.Password(); has {
		secrets = append(secrets, pw)
	}
	for _, p := range secretParams {
		secrets = append(secrets, u.Query()[p]...)
	}
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, mask)
		}
	}
	return msg
}

// Same reports whether a and b are the same PostgreSQL URL once what does not
// choose the database is set aside: the password (in the user information or
// the query), the scheme's two spellings, the host's case, the default port
// and the order of query parameters. Anything else that differs (the user,
// the host, the database, other parameters such as options) makes them
// different. Text that does not parse as a URL is the same only as itself.
func Same(a, b string) bool {
	ka, okA := sameKey(a)
	kb, okB := sameKey(b)
	if !okA || !okB {
		return a == b
	}
	return ka == kb
}

// defaultPort is the port libpq connects to when a URL names none.
const defaultPort = "5432"

func sameKey(raw string) (string, bool) {
	if !Is(raw) {
		return "", false
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", false
	}
	host := strings.ToLower(u.Host)
	if !strings.Contains(host, ",") { // several hosts are compared as written
		host = strings.ToLower(u.Hostname())
		port := u.Port()
		if port == "" {
			port = defaultPort
		}
		host += ":" + port
	}
	query := u.Query()
	for _, p := range secretParams {
		query.Del(p)
	}
	return fmt.Sprintf("%s@%s/%s?%s", u.User.Username(), host, strings.TrimPrefix(u.Path, "/"), query.Encode()), true
}
