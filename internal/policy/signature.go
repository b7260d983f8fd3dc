package policy

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// SignatureNamespace is the namespace of every approval signature, as
// `ssh-keygen -Y sign -n governed-approval` writes it (OpenSSH
// PROTOCOL.sshsig). A signature made for another purpose (git commits, files)
// never counts as an approval.
const SignatureNamespace = "governed-approval"

// AllowedSigner is one line of an OpenSSH allowed_signers file (ssh-keygen(1),
// section ALLOWED SIGNERS): the identities that may sign with one key, and
// when and for what.
type AllowedSigner struct {
	// Principals are the identity patterns the key signs for, normalised as
	// identities are ("*" and "?" are wildcards, "!" negates a pattern).
	Principals []string
	Key        ssh.PublicKey
	// Namespaces are the namespace patterns of a namespaces= option; nil when
	// the line has none (any namespace).
	Namespaces []string
	// ValidAfter and ValidBefore bound when the key counts; zero when unset.
	ValidAfter, ValidBefore time.Time
	// Line is the line's number in its file, for messages.
	Line int
}

// Signers is the key material an approval's signatures are checked against:
// the allowed_signers file and the revoked keys the policy names.
type Signers struct {
	// AllowedSignersFile and RevokedKeysFile are the files as the policy names them.
	AllowedSignersFile, RevokedKeysFile string
	Allowed                             []AllowedSigner
	// Revoked holds the SHA256 fingerprints of revoked keys.
	Revoked map[string]bool
	// Digest is the SHA-256 (hex) of the files' contents, chained in the order
	// read: one value for the key material as a whole.
	Digest string
	hash   []byte
	// AllowedSignersSHA256 and RevokedKeysSHA256 are the SHA-256 (lowercase
	// hex) of each file's contents, as `sha256sum` prints them; the second is
	// empty where the policy names no revoked keys file.
	AllowedSignersSHA256, RevokedKeysSHA256 string
	// AllowedSignersDocument and RevokedKeysDocument are the files' contents,
	// byte for byte, as the ledger keeps them beside the decisions verified
	// against them; the second is nil where the policy names no revoked keys
	// file. Both are nil in a policy read as the ledger keeps it (ParseKept).
	AllowedSignersDocument, RevokedKeysDocument []byte
	// ids are the policy's identity aliases, through which approvers and
	// requesters are matched to the principals of allowed_signers.
	ids *identityIndex
}

// Pin is what a pipeline pins the key files with: the SHA-256 of the
// allowed_signers file, then, where the policy names a revoked keys file, a
// comma and the SHA-256 of that file.
func (s *Signers) Pin() string {
	if s.RevokedKeysSHA256 == "" {
		return s.AllowedSignersSHA256
	}
	return s.AllowedSignersSHA256 + "," + s.RevokedKeysSHA256
}

// digest adds a file's contents to Digest.
func (s *Signers) digest(data []byte) {
	h := sha256.New()
	h.Write(s.hash)
	h.Write(data)
	s.hash = h.Sum(nil)
	s.Digest = hex.EncodeToString(s.hash)
}

// ParseSigners reads key material given as documents rather than named by a
// policy: the contents of an allowed_signers file (ParseAllowedSigners) and,
// when revoked is not nil, of a revoked keys list (ParseRevokedKeys).
// allowedName and revokedName name them in messages (a path, or "the
// allowed_signers kept under digest …"). Identities are compared without
// aliases until WithIdentities gives them. The error says which document
// does not parse, and where.
func ParseSigners(allowedName string, allowed []byte, revokedName string, revoked []byte) (*Signers, error) {
	s := &Signers{AllowedSignersFile: allowedName, RevokedKeysFile: revokedName, Revoked: map[string]bool{}}
	var err error
	if s.Allowed, err = ParseAllowedSigners(allowed); err != nil {
		return nil, fmt.Errorf("%s: %w", allowedName, err)
	}
	s.AllowedSignersSHA256 = DocumentDigest(allowed)
	s.AllowedSignersDocument = allowed
	s.digest(allowed)
	if revoked != nil {
		if s.Revoked, err = ParseRevokedKeys(revoked); err != nil {
			return nil, fmt.Errorf("%s: %w", revokedName, err)
		}
		s.RevokedKeysSHA256 = DocumentDigest(revoked)
		s.RevokedKeysDocument = revoked
		s.digest(revoked)
	}
	return s, nil
}

// WithIdentities returns a copy of s that matches approvers and requesters
// to the principals of its allowed_signers through the identity aliases of
// p, as the provider did when p judged an approval; nil p gives none.
func (s *Signers) WithIdentities(p *Policy) *Signers {
	c := *s
	c.ids = nil
	if p != nil {
		c.ids = p.ids
	}
	return &c
}

// CheckRecorded holds the keys that an approval record says counted (keys:
// SHA256 fingerprint by normalised approver, as the ledger records them) to
// this key material, as VerifyApproval would have judged them at at, the
// instant the approval was recorded: each key must be listed for its
// approver (one of approvers, as written), allowed SignatureNamespace,
// valid at at, not revoked, and not listed for any of the requesters. It
// does not verify the signatures: the caller has checked that each key
// made one over the statement. It returns what does not hold, in one
// sentence naming the approver, the key and the rule, or "".
func (s *Signers) CheckRecorded(approvers []string, keys map[string]string, requesters []string, at time.Time) string {
	names := make([]string, 0, len(keys))
	for n := range keys {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fp := keys[n]
		written := ""
		for _, a := range approvers {
			if NormalizeIdentity(a) == n {
				written = a
				break
			}
		}
		if written == "" {
			return fmt.Sprintf("the record names key %s for %q, who is not one of its approvers", fp, n)
		}
		if _, p := s.keyProblem(written, fp, requesters, at); p != nil {
			return fmt.Sprintf("%s (%s)", p.Detail, p.Rule.Name)
		}
	}
	return ""
}

// ParseAllowedSigners reads an OpenSSH allowed_signers file: one key a line,
// "principals [options] keytype base64 [comment]", with "#" comments. The
// options ssh-keygen -Y verify honours are read: namespaces="…",
// valid-after="…" and valid-before="…" (YYYYMMDD[HHMM[SS]], in UTC with a
// trailing Z, else local time, as ssh-keygen reads them). cert-authority lines
// are refused: approvals are signed with approvers' own keys.
func ParseAllowedSigners(data []byte) ([]AllowedSigner, error) {
	var out []AllowedSigner
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := parseAllowedSigner(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		s.Line = n
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func parseAllowedSigner(line string) (AllowedSigner, error) {
	principals, rest := splitField(line)
	if principals == "" || rest == "" {
		return AllowedSigner{}, fmt.Errorf("write principals, then the public key (\"alice@example.com ssh-ed25519 AAAA…\")")
	}
	if k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line)); err == nil && k.Type() == principals {
		// A public key file (id_ed25519.pub) in place of an allowed_signers
		// line: its key type stands where the approver's identity belongs.
		return AllowedSigner{}, fmt.Errorf("it is a public key (%s …) without the approver it belongs to: write the "+
			"approver's identity first, as in \"alice@example.com %s AAAA…\"", principals, principals)
	}
	key, _, options, _, err := ssh.ParseAuthorizedKey([]byte(rest))
	if err != nil {
		return AllowedSigner{}, fmt.Errorf("the public key does not parse: %v", err)
	}
	s := AllowedSigner{Key: key}
	for _, p := range strings.Split(strings.Trim(principals, `"`), ",") {
		if p = strings.TrimSpace(p); p != "" {
			neg := strings.HasPrefix(p, "!")
			p = NormalizeIdentity(strings.TrimPrefix(p, "!"))
			if neg {
				p = "!" + p
			}
			s.Principals = append(s.Principals, p)
		}
	}
	for _, o := range options {
		name, value, _ := strings.Cut(o, "=")
		value = strings.Trim(value, `"`)
		switch strings.ToLower(name) {
		case "cert-authority":
			return AllowedSigner{}, fmt.Errorf("cert-authority is not supported: list each approver's own key")
		case "namespaces":
			s.Namespaces = strings.Split(value, ",")
		case "valid-after":
			if s.ValidAfter, err = parseSignerTime(value); err != nil {
				return AllowedSigner{}, fmt.Errorf("valid-after: %w", err)
			}
		case "valid-before":
			if s.ValidBefore, err = parseSignerTime(value); err != nil {
				return AllowedSigner{}, fmt.Errorf("valid-before: %w", err)
			}
		default:
			return AllowedSigner{}, fmt.Errorf("unknown option %q", name)
		}
	}
	return s, nil
}

// splitField cuts the first whitespace-separated field, which may be quoted.
func splitField(line string) (field, rest string) {
	if strings.HasPrefix(line, `"`) {
		if end := strings.Index(line[1:], `"`); end >= 0 {
			return line[:end+2], strings.TrimSpace(line[end+2:])
		}
	}
	i := strings.IndexFunc(line, unicode.IsSpace)
	if i < 0 {
		return line, ""
	}
	return line[:i], strings.TrimSpace(line[i:])
}

// parseSignerTime reads the time of a valid-after or valid-before option.
func parseSignerTime(v string) (time.Time, error) {
	loc := time.Local
	if strings.HasSuffix(v, "Z") || strings.HasSuffix(v, "z") {
		v, loc = v[:len(v)-1], time.UTC
	}
	for _, layout := range []string{"20060102150405", "200601021504", "20060102"} {
		if len(v) == len(layout) {
			return time.ParseInLocation(layout, v, loc)
		}
	}
	return time.Time{}, fmt.Errorf("%q is not YYYYMMDD[HHMM[SS]][Z]", v)
}

// ParseRevokedKeys reads a list of revoked public keys, one a line in the
// format of authorized_keys ("keytype base64 [comment]", "#" comments), as
// ssh-keygen -Y verify -r accepts it. Binary key revocation lists (KRL) are
// not read: list the keys instead.
func ParseRevokedKeys(data []byte) (map[string]bool, error) {
	out := map[string]bool{}
	if bytes.HasPrefix(data, []byte("SSHKRL")) {
		return nil, fmt.Errorf("binary key revocation lists are not supported: list the revoked public keys, one a line")
	}
	rest := data
	for len(bytes.TrimSpace(rest)) > 0 {
		key, _, _, next, err := ssh.ParseAuthorizedKey(rest)
		if err != nil {
			return nil, fmt.Errorf("a revoked key does not parse: %v", err)
		}
		out[ssh.FingerprintSHA256(key)] = true
		rest = next
	}
	return out, nil
}

// SignatureProblem is why one approver's signature does not count.
type SignatureProblem struct {
	Rule Rule
	// Fingerprint is the SHA256 fingerprint of the key that signed, when the
	// signature could be read.
	Fingerprint string
	Detail      string
}

// VerifiedSignature is a signature that counts: its approver and key.
type VerifiedSignature struct {
	Approver    string // normalised
	Fingerprint string
}

// VerifyApproval checks the signatures of an approval (approver as written →
// armored SSH signature) over statement, as ssh-keygen -Y verify would with
// the allowed_signers file and revoked keys, at instant at. Each approver
// needs a signature in SignatureNamespace by a key that the file lists for
// that approver, valid at at, not revoked, not listed for any of the
// requesters, and used by no other approver of the same approval. It returns
// the signatures that count and, by approver as written, why the others do
// not.
func (s *Signers) VerifyApproval(statement string, approvers []string, sigs map[string]string, requesters []string, at time.Time) ([]VerifiedSignature, map[string]SignatureProblem) {
	problems := map[string]SignatureProblem{}
	byKey := map[string]string{} // fingerprint → approver who signed with it
	var verified []VerifiedSignature
	signature := func(approver string) (string, bool) {
		if sig, ok := sigs[approver]; ok {
			return sig, true
		}
		for k, v := range sigs { // the map's keys may differ in case or spacing, or be an alias
			if s.ids.canonical(k) == s.ids.canonical(approver) {
				return v, true
			}
		}
		return "", false
	}
	for _, approver := range approvers {
		armored, ok := signature(approver)
		if !ok || strings.TrimSpace(armored) == "" {
			problems[approver] = SignatureProblem{Rule: RuleSignatureMissing, Detail: fmt.Sprintf(
				"approver %q has not signed the statement", approver)}
			continue
		}
		fp, p := s.verifyOne(statement, approver, armored, requesters, at)
		if p != nil {
			problems[approver] = *p
			continue
		}
		if other, dup := byKey[fp]; dup {
			problems[approver] = SignatureProblem{Rule: RuleSignatureSharedKey, Fingerprint: fp, Detail: fmt.Sprintf(
				"approver %q signed with key %s, which approver %q also signed with: one key counts for one approver",
				approver, fp, other)}
			continue
		}
		byKey[fp] = approver
		verified = append(verified, VerifiedSignature{Approver: NormalizeIdentity(approver), Fingerprint: fp})
	}
	return verified, problems
}

func (s *Signers) verifyOne(statement, approver, armored string, requesters []string, at time.Time) (string, *SignatureProblem) {
	problem := func(rule Rule, fp, format string, args ...any) (string, *SignatureProblem) {
		return fp, &SignatureProblem{Rule: rule, Fingerprint: fp, Detail: fmt.Sprintf(format, args...)}
	}
	sig, err := sshsig.Unarmor([]byte(strings.TrimSpace(armored)))
	if err != nil {
		return problem(RuleSignatureInvalid, "", "the signature of approver %q is not an armored SSH signature (-----BEGIN SSH SIGNATURE-----): %v", approver, err)
	}
	fp := ssh.FingerprintSHA256(sig.PublicKey)
	if sig.Namespace != SignatureNamespace {
		return problem(RuleSignatureNamespace, fp, "approver %q signed with key %s in namespace %q, not %q",
			approver, fp, sig.Namespace, SignatureNamespace)
	}
	line, p := s.keyProblem(approver, fp, requesters, at)
	if p != nil {
		return fp, p
	}
	if err := sshsig.Verify(strings.NewReader(statement), sig, line.Key, sig.HashAlgorithm, SignatureNamespace); err != nil {
		return problem(RuleSignatureInvalid, fp, "the signature of approver %q with key %s does not verify over this approval's statement: %v",
			approver, fp, err)
	}
	return fp, nil
}

// keyProblem checks the key whose SHA256 fingerprint is fp as the key of
// approver at instant at: not revoked, not listed for any of the requesters,
// listed for approver, allowed SignatureNamespace, valid at at. It returns
// the allowed_signers line that lists it, or why it does not count.
func (s *Signers) keyProblem(approver, fp string, requesters []string, at time.Time) (*AllowedSigner, *SignatureProblem) {
	problem := func(rule Rule, fp, format string, args ...any) *SignatureProblem {
		return &SignatureProblem{Rule: rule, Fingerprint: fp, Detail: fmt.Sprintf(format, args...)}
	}
	if s.Revoked[fp] {
		return nil, problem(RuleSignatureRevoked, fp, "approver %q signed with key %s, which %s lists as revoked", approver, fp, s.RevokedKeysFile)
	}
	for _, r := range requesters {
		if r != "" && s.listedFor(fp, r) {
			return nil, problem(RuleSignatureRequester, fp, "approver %q signed with key %s, which %s lists for the requester %q",
				approver, fp, s.AllowedSignersFile, r)
		}
	}
	var line *AllowedSigner
	var others []string
	for i := range s.Allowed {
		a := &s.Allowed[i]
		if ssh.FingerprintSHA256(a.Key) != fp {
			continue
		}
		if s.listsFor(a, approver) {
			line = a
			break
		}
		others = append(others, strings.Join(a.Principals, ","))
	}
	if line == nil {
		if len(others) > 0 {
			return nil, problem(RuleSignatureSigner, fp, "approver %q signed with key %s, which %s lists for %s, not for %q",
				approver, fp, s.AllowedSignersFile, strings.Join(others, "; "), approver)
		}
		return nil, problem(RuleSignatureSigner, fp, "approver %q signed with key %s, which %s does not list", approver, fp, s.AllowedSignersFile)
	}
	if line.Namespaces != nil && !matchPatterns(line.Namespaces, SignatureNamespace) {
		return nil, problem(RuleSignatureNamespace, fp, "key %s of approver %q may sign only in namespaces %q (%s line %d)",
			fp, approver, strings.Join(line.Namespaces, ","), s.AllowedSignersFile, line.Line)
	}
	if !line.ValidAfter.IsZero() && at.Before(line.ValidAfter) || !line.ValidBefore.IsZero() && !at.Before(line.ValidBefore) {
		return nil, problem(RuleSignatureValidity, fp, "key %s of approver %q is valid %s, not at %s (%s line %d)",
			fp, approver, validity(*line), shown(at), s.AllowedSignersFile, line.Line)
	}
	return line, nil
}

// listedFor reports whether the allowed_signers file lists the key for identity.
func (s *Signers) listedFor(fp, identity string) bool {
	for i := range s.Allowed {
		if a := &s.Allowed[i]; ssh.FingerprintSHA256(a.Key) == fp && s.listsFor(a, identity) {
			return true
		}
	}
	return false
}

// ListedName returns a name under which the allowed_signers file lists the
// key whose SHA256 fingerprint is fp for identity, for ssh-keygen -Y verify
// -I: identity as written when a line lists the key for it, else the first
// of the person's names (normalised, through the identity aliases) that a
// line lists it for; "" when none does.
func (s *Signers) ListedName(fp, identity string) string {
	names := append([]string{identity}, s.ids.names(identity)...)
	for _, n := range names {
		for i := range s.Allowed {
			if a := &s.Allowed[i]; ssh.FingerprintSHA256(a.Key) == fp && matchPatterns(a.Principals, NormalizeIdentity(n)) {
				return n
			}
		}
	}
	return ""
}

// listsFor reports whether the allowed_signers line a lists its key for
// identity under any of the names the policy's identity blocks give that
// person.
func (s *Signers) listsFor(a *AllowedSigner, identity string) bool {
	names := s.ids.names(identity)
	if len(names) == 0 {
		names = []string{NormalizeIdentity(identity)}
	}
	for _, n := range names {
		if matchPatterns(a.Principals, n) {
			return true
		}
	}
	return false
}

func validity(a AllowedSigner) string {
	switch {
	case !a.ValidAfter.IsZero() && !a.ValidBefore.IsZero():
		return fmt.Sprintf("from %s until %s", shown(a.ValidAfter), shown(a.ValidBefore))
	case !a.ValidAfter.IsZero():
		return "from " + shown(a.ValidAfter)
	default:
		return "until " + shown(a.ValidBefore)
	}
}

// matchPatterns matches s against a list of patterns as OpenSSH's
// match_pattern_list does: "*" and "?" are wildcards, a pattern starting with
// "!" excludes what it matches, and s matches when some pattern matches and no
// negated one does.
func matchPatterns(patterns []string, s string) bool {
	matched := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		ok := matchGlob(p, s)
		if ok && neg {
			return false
		}
		matched = matched || ok
	}
	return matched
}

// SignInstructions tells an approver how to sign a statement with stock
// OpenSSH, in one line: the statement travels as one base64 line so that
// nothing wraps or re-encodes it.
func SignInstructions(statement, approver, sigFile string) string {
	return fmt.Sprintf("mkdir -p %s && echo %s | base64 -d | ssh-keygen -Y sign -n %s -f ~/.ssh/id_ed25519 > %s",
		path.Dir(sigFile), base64.StdEncoding.EncodeToString([]byte(statement)), SignatureNamespace, sigFile)
}
