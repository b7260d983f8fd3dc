package policy

import "testing"

func TestNormalizeIdentity(t *testing.T) {
	t.Parallel()
	const nfc = "ren\u00e9@example.com"  // é as one code point
	const nfd = "rene\u0301@example.com" // e followed by a combining acute accent
	tests := []struct {
		name, in, want string
	}{
		{"plain", "alice@example.com", "alice@example.com"},
		{"upper case", "Alice@Example.COM", "alice@example.com"},
		{"surrounding whitespace", " \talice@example.com\n", "alice@example.com"},
		{"NFC stays", nfc, nfc},
		{"NFD composed", nfd, nfc},
		{"NFD upper case", "RENE\u0301@EXAMPLE.COM", nfc},
		{"sharp s folds", "Stra\u00dfe", "strasse"},
		{"empty", "", ""},
		{"only spaces", "   ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := NormalizeIdentity(tt.in); got != tt.want {
				t.Errorf("NormalizeIdentity(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNormalizeIdentityEquivalence(t *testing.T) {
	t.Parallel()
	same := []string{"Ren\u00e9@Example.com", " rene\u0301@example.com ", "REN\u00c9@EXAMPLE.COM", "RENE\u0301@example.com"}
	want := NormalizeIdentity(same[0])
	for _, s := range same[1:] {
		if got := NormalizeIdentity(s); got != want {
			t.Errorf("NormalizeIdentity(%q) = %q, want %q like %q", s, got, want, same[0])
		}
	}
	if NormalizeIdentity("rene@example.com") == want {
		t.Errorf("an identity without the accent must stay distinct")
	}
}

func TestMatchGlob(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"svc-payments-*", "svc-payments-api", true},
		{"svc-payments-*", "svc-payments-", true},
		{"svc-payments-*", "svc-billing-api", false},
		{"svc-payments-*", "xsvc-payments-api", false},
		{"*", "", true},
		{"*", "anything/at:all", true},
		{"", "", true},
		{"", "a", false},
		{"a", "", false},
		{"exact", "exact", true},
		{"exact", "exactly", false},
		{"spiffe://prod/*", "spiffe://prod/ns/payments/sa/api", true},
		{"spiffe://prod/*", "spiffe://dev/ns/payments", false},
		{"svc-?", "svc-a", true},
		{"svc-?", "svc-", false},
		{"svc-?", "svc-ab", false},
		{"svc-?", "svc-\u00e9", true}, // '?' is one character, not one byte
		{"*-api", "svc-payments-api", true},
		{"*-api", "svc-payments-api2", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"a*b*c", "abbbc", true},
		{"**", "x", true},
		{"?*", "", false},
		{"ren\u00e9-*", "ren\u00e9-x", true},
		{"*\u00e9", "caf\u00e9", true},
		{"*?", "\u00e9", true},
	}
	for _, tt := range tests {
		if got := matchGlob(tt.pattern, tt.name); got != tt.want {
			t.Errorf("matchGlob(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func TestNormalizedSet(t *testing.T) {
	t.Parallel()
	got := normalizedSet([]string{"Bob@x", "alice@x", " ALICE@x", "", "bob@x"})
	want := []string{"alice@x", "bob@x"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("normalizedSet = %q, want %q", got, want)
	}
}

// Cherokee capitals fold to small letters and small letters to capitals:
// both spellings must still be one identity, and normalising twice must
// change nothing.
func TestNormalizeIdentityCherokee(t *testing.T) {
	t.Parallel()
	upper, lower := "\u13b8", "\uab88"
	if NormalizeIdentity(upper) != NormalizeIdentity(lower) {
		t.Fatalf("%q and %q normalise to %q and %q", upper, lower, NormalizeIdentity(upper), NormalizeIdentity(lower))
	}
	if n := NormalizeIdentity(upper); NormalizeIdentity(n) != n {
		t.Fatalf("normalising %q twice changes it", upper)
	}
}
