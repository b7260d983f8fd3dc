package target

import (
	"strings"
	"testing"
)

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
