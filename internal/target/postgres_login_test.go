package target

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/governed-entitlements/terraform-provider-governed/internal/pgtest"
	"github.com/governed-entitlements/terraform-provider-governed/internal/pgurl"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// A wrong password is a refused login, whatever sslmode: with prefer (the
// default), the TLS attempt the server declined is left out of the message.
func TestPostgresLoginFailed(t *testing.T) {
	t.Parallel()
	w := pgtest.Shared(t).NewTarget(t, pgtest.TargetOptions{})
	w.RequirePassword("r1ght-pw")
	for _, mode := range []string{"disable", "prefer"} {
		p, err := NewPostgres("app", strings.Replace(w.URLWithPassword("wr0ng-pw"), "sslmode=disable", "sslmode="+mode, 1), PostgresOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Check(context.Background(), "x", "y")
		p.Close()
		if !errors.Is(err, pgurl.ErrLoginFailed) || !errors.Is(err, ErrUnreachable) {
			t.Fatalf("sslmode=%s: %v, want a refused login", mode, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, `the server refused the login of role "`+w.Governor+`"`) || !strings.Contains(msg, "(SQLSTATE 28P01)") ||
			strings.Contains(msg, "tls") || strings.Contains(msg, "cannot reach") || strings.Contains(msg, "wr0ng-pw") {
			t.Errorf("sslmode=%s: %s", mode, msg)
		}
	}
	p, err := NewPostgres("app", w.URLWithPassword("r1ght-pw"), PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Check(context.Background(), "x", w.Role); err != nil {
		t.Fatalf("with the right password: %v", err)
	}
}
