package ledger

import "testing"

func TestResolve(t *testing.T) {
	t.Setenv(EnvLocation, "")
	if got := Resolve(""); got != DefaultLocation {
		t.Errorf("Resolve(\"\") with no %s = %q, want %q", EnvLocation, got, DefaultLocation)
	}
	t.Setenv(EnvLocation, "postgres://gov@db/ledger")
	for configured, want := range map[string]string{
		"":            "postgres://gov@db/ledger",
		"  ":          "postgres://gov@db/ledger",
		"sqlite:x.db": "sqlite:x.db",
		"team.db":     "team.db",
	} {
		if got := Resolve(configured); got != want {
			t.Errorf("Resolve(%q) = %q, want %q", configured, got, want)
		}
	}
}
