package pgurl

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrLoginFailed marks a connection the server answered and refused: the
// password is wrong or missing (SQLSTATE 28P01), or no authentication rule
// lets the role in (28000). It is a setting to fix, not a server to wait for.
var ErrLoginFailed = errors.New("the server refused the login")

// PasswordHint says where a password can come from other than the URL; pgx
// reads both, as libpq does.
const PasswordHint = "Keep the password out of the configuration: leave it out of the URL and set PGPASSWORD, or " +
	"add a line host:port:database:user:password to a password file (~/.pgpass, mode 0600, or the file PGPASSFILE names)."

// loginFailedStates are the SQLSTATEs of a refused login.
var loginFailedStates = map[string]bool{"28P01": true, "28000": true}

// tlsRefused is pgconn's text for a server that declined TLS, which with
// sslmode=prefer (the default) is followed by a plain attempt.
const tlsRefused = "server refused TLS connection"

// ConnectError describes err, a failed connection to the server at raw, in
// one sentence without its secrets: when the server refused the login, that
// it did, which role and the server's words and SQLSTATE (matching
// ErrLoginFailed); otherwise what each attempt met, leaving out a refused TLS
// attempt that a plain attempt followed (sslmode=prefer), whose text would
// only mislead.
func ConnectError(err error, raw string) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && loginFailedStates[pgErr.Code] {
		user := ""
		if cfg, perr := Config(raw); perr == nil {
			user = cfg.ConnConfig.User
		}
		return loginFailed{fmt.Sprintf("the server refused the login of role %q: %s (SQLSTATE %s)", user,
			RedactError(errors.New(pgErr.Message), raw), pgErr.Code)}
	}
	return errors.New(RedactError(errors.New(attempts(err)), raw))
}

// attempts is err's text with a connect error's refused TLS attempts left
// out where another attempt remains.
func attempts(err error) string {
	var ce *pgconn.ConnectError
	if !errors.As(err, &ce) {
		return err.Error()
	}
	joined, ok := ce.Unwrap().(interface{ Unwrap() []error })
	if !ok {
		return err.Error()
	}
	var kept []string
	for _, e := range joined.Unwrap() {
		if !strings.Contains(e.Error(), tlsRefused) {
			kept = append(kept, e.Error())
		}
	}
	if len(kept) == 0 {
		return err.Error()
	}
	return fmt.Sprintf("failed to connect as %s to database %s: %s", ce.Config.User, ce.Config.Database, strings.Join(kept, "; "))
}

type loginFailed struct{ msg string }

func (e loginFailed) Error() string { return e.msg }
func (e loginFailed) Unwrap() error { return ErrLoginFailed }
