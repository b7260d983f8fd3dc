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

func TestSameApprovers(t *testing.T) {
	for _, tc := range []struct {
		a, b []string
		want bool
	}{
		{[]string{"a", "b"}, []string{"b", "a"}, true},
		{[]string{"a", "a"}, []string{"a", "b"}, false},
		{[]string{"a"}, []string{"A"}, false}, // as written: normalising is the policy's
		{nil, []string{}, true},
	} {
		if got := SameApprovers(tc.a, tc.b); got != tc.want {
			t.Errorf("SameApprovers(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}
