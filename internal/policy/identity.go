package policy

import (
	"sort"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// NormalizeIdentity returns the form in which identities are compared: surrounding
// whitespace trimmed, Unicode NFC, case folded, and NFC again (folding can
// decompose some characters). Two identities are the same identity exactly when
// their normalised forms are equal.
func NormalizeIdentity(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if isPlainLowerASCII(s) {
		// Already in normal form; skips the allocations of the general path.
		return s
	}
	s = norm.NFC.String(s)
	// A Caser keeps state between calls, so each call gets its own.
	s = cases.Fold().String(s)
	return norm.NFC.String(s)
}

// isPlainLowerASCII reports whether s consists only of printable ASCII with no
// upper-case letters, which NormalizeIdentity would return unchanged.
func isPlainLowerASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || ('A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// normalizedSet returns the distinct normalised forms of ids, sorted, leaving out
// empty ones.
func normalizedSet(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		n := NormalizeIdentity(id)
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// matchGlob reports whether name matches pattern, where '*' matches any run of
// characters (including none, and including '/' and ':') and '?' matches exactly
// one character. Every other character matches itself. Both arguments are
// compared as given; callers normalise them first. The match runs in
// O(len(pattern)*len(name)) at worst, without recursion.
func matchGlob(pattern, name string) bool {
	p, n := 0, 0
	// Where to resume after the last '*': the pattern index just past it and the
	// name index it is currently standing in for.
	starP, starN := -1, 0
	for n < len(name) {
		if p < len(pattern) {
			switch pattern[p] {
			case '*':
				starP, starN = p+1, n
				p++
				continue
			case '?':
				_, size := utf8.DecodeRuneInString(name[n:])
				p++
				n += size
				continue
			default:
				// Comparing bytes is enough: UTF-8 is self-synchronising, so a
				// literal rune matches byte by byte exactly when it matches whole,
				// and backtracking below resumes on rune boundaries.
				if pattern[p] == name[n] {
					p++
					n++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		// Let the last '*' swallow one more character and try again from there.
		_, size := utf8.DecodeRuneInString(name[starN:])
		starN += size
		p, n = starP, starN
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
