package policy

import (
	"sort"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// NormalizeIdentity returns the form in which identities are compared: surrounding
// whitespace trimmed, Unicode NFC, case folded then lower-cased, and NFC again
// (folding can decompose some characters). It is idempotent. Two identities are the same identity exactly when
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
	// A Caser keeps state between calls, so each call gets its own. Folding
	// takes Cherokee letters to their capitals and capitals to small letters
	// (so folding twice is not folding once); lower-casing the result picks
	// one form for both.
	s = strings.ToLower(cases.Fold().String(s))
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

// identityIndex holds the identity blocks of a policy: the other names one
// person goes by (a CI login, a chat handle) and the identity each stands
// for. Every comparison of identities for separation of duties and approver
// authority goes through it, so that a person cannot approve their own
// request under another name, nor be counted twice. A nil index has no
// aliases.
type identityIndex struct {
	// aliasOf maps a normalised alias to the normalised identity it names.
	aliasOf map[string]string
	// aliases lists each identity's normalised aliases, in document order.
	aliases map[string][]string
}

// canonical is the form in which id is compared: normalised
// (NormalizeIdentity), and an alias replaced by the identity it names.
func (x *identityIndex) canonical(id string) string {
	n := NormalizeIdentity(id)
	if x != nil {
		if c, ok := x.aliasOf[n]; ok {
			return c
		}
	}
	return n
}

// names returns every name of the person id stands for, normalised: the
// identity first, then its aliases.
func (x *identityIndex) names(id string) []string {
	c := x.canonical(id)
	if c == "" {
		return nil
	}
	out := []string{c}
	if x != nil {
		out = append(out, x.aliases[c]...)
	}
	return out
}

// CanonicalIdentity returns the form in which p compares id with other
// identities: normalised as NormalizeIdentity does, and an alias that one of
// p's identity blocks lists replaced by that block's identity.
func (p *Policy) CanonicalIdentity(id string) string {
	if p == nil {
		return NormalizeIdentity(id)
	}
	return p.ids.canonical(id)
}

// SameIdentity reports whether a and b name the same person under p: equal
// once normalised, or aliases of one identity. Empty names are nobody.
func (p *Policy) SameIdentity(a, b string) bool {
	ca := p.CanonicalIdentity(a)
	return ca != "" && ca == p.CanonicalIdentity(b)
}
