package target

import (
	"errors"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	cases := map[string]string{
		"postgres://gov:s3cret@db:5432/app":                     "postgres://gov:xxxxx@db:5432/app",
		"postgres://gov@db/app?sslmode=require&password=s3cret": "postgres://gov@db/app?password=xxxxx&sslmode=require",
		"postgresql://gov@db/app?sslpassword=s3cret":            "postgresql://gov@db/app?sslpassword=xxxxx",
		"postgres://gov@db/app":                                 "postgres://gov@db/app",
		"governed.db":                                           "governed.db",
		"sqlite:/var/lib/governed/ledger.db":                    "sqlite:/var/lib/governed/ledger.db",
	}
	for in, want := range cases {
		if got := RedactURL(in); got != want || strings.Contains(got, "s3cret") {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRedactURLError(t *testing.T) {
	for _, raw := range []string{"postgres://gov:s3cret@db/app", "postgres://gov@db/app?password=s3cret"} {
		got := RedactURLError(errors.New("failed to connect to `user=gov database=app`: password s3cret rejected"), raw)
		if strings.Contains(got, "s3cret") {
			t.Errorf("RedactURLError with %q kept the password: %q", raw, got)
		}
	}
}

func TestIdentifierProblem(t *testing.T) {
	for name, bad := range map[string]bool{
		"svc-payments-api":      false,
		`x"; DROP ROLE y;--`:    false, // an odd name, quoted, never SQL
		"":                      true,
		strings.Repeat("a", 63): false,
		strings.Repeat("a", 64): true, // PostgreSQL would cut it to another name
		"nul\x00inside":         true,
	} {
		if got := identifierProblem(name) != ""; got != bad {
			t.Errorf("identifierProblem(%q) reports a problem: %v, want %v", name, got, bad)
		}
	}
}
