package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// ParseError reports everything wrong with a policy document. Every diagnostic
// carries the file and position it is about.
type ParseError struct {
	// Diagnostics are the problems found, each an error with a Subject range.
	Diagnostics hcl.Diagnostics
}

// Error lists the problems one per line, each as "FILE:LINE,COL: summary: detail".
func (e *ParseError) Error() string {
	return strings.Join(e.Messages(), "\n")
}

// Messages returns the problems, one "FILE:LINE,COL: summary: detail" string each,
// for callers that report them separately.
func (e *ParseError) Messages() []string {
	out := make([]string, 0, len(e.Diagnostics))
	for _, d := range e.Diagnostics {
		if d.Severity != hcl.DiagError {
			continue
		}
		var b strings.Builder
		if d.Subject != nil {
			fmt.Fprintf(&b, "%s: ", posString(*d.Subject))
		}
		b.WriteString(d.Summary)
		if d.Detail != "" {
			b.WriteString(": ")
			b.WriteString(d.Detail)
		}
		out = append(out, b.String())
	}
	return out
}

// posString writes the start of r as "FILE:LINE,COL".
func posString(r hcl.Range) string {
	return fmt.Sprintf("%s:%d,%d", r.Filename, r.Start.Line, r.Start.Column)
}

// unnamedPolicy names a document in diagnostics when the caller gives no file name
// (a policy passed inline as text).
const unnamedPolicy = "<policy>"

// Parse reads a policy document (SPEC section 3) and validates it. The document is
// HCL native syntax, or the JSON form when filename ends in ".json" or the first
// non-space byte of src is '{'. filename is used only to label diagnostics; an
// empty one is shown as "<policy>".
//
// Parse reports every problem it finds, not only the first, as a *ParseError. The
// returned policy is complete and validated, or nil.
func Parse(filename string, src []byte) (*Policy, error) {
	return parse(filename, src, false)
}

// ParseKept reads a policy document as the ledger keeps it (under its
// digest), to judge the decisions recorded under it: as Parse, except that
// the files approval_signatures names are not read, since the ledger keeps
// only the document. The result's Signers is not nil when the document
// required signed approvals, and holds the files' names but no keys.
func ParseKept(src []byte) (*Policy, error) {
	return parse("", src, true)
}

func parse(filename string, src []byte, kept bool) (*Policy, error) {
	name := filename
	if name == "" {
		name = unnamedPolicy
	}
	if diags := checkDocumentSize(name, src); diags.HasErrors() {
		return nil, &ParseError{Diagnostics: diags}
	}
	parser := hclparse.NewParser()
	var file *hcl.File
	var diags hcl.Diagnostics
	if isJSONPolicy(filename, src) {
		file, diags = parser.ParseJSON(src, name)
	} else {
		file, diags = parser.ParseHCL(src, name)
	}
	if diags.HasErrors() || file == nil {
		return nil, &ParseError{Diagnostics: onlyErrors(diags)}
	}
	d := &decoder{dir: ".", kept: kept}
	if filename != "" {
		d.dir = filepath.Dir(filename)
	}
	p := d.policy(file.Body)
	if d.diags.HasErrors() {
		return nil, &ParseError{Diagnostics: onlyErrors(d.diags)}
	}
	p.Digest = DocumentDigest(src)
	p.Document = append([]byte(nil), src...)
	return p, nil
}

// DocumentDigest returns the SHA-256 (lowercase hex) of a policy document's
// bytes: what `sha256sum` prints for the file, and what Policy.Digest holds.
func DocumentDigest(src []byte) string {
	sum := sha256.Sum256(src)
	return hex.EncodeToString(sum[:])
}

func isJSONPolicy(filename string, src []byte) bool {
	if strings.HasSuffix(strings.ToLower(filename), ".json") {
		return true
	}
	for _, c := range src {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return true
		default:
			return false
		}
	}
	return false
}

func onlyErrors(diags hcl.Diagnostics) hcl.Diagnostics {
	var out hcl.Diagnostics
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			out = append(out, d)
		}
	}
	return out
}

// The document's schema. Content with these refuses unknown attributes and
// blocks, with their position.
var (
	rootSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "ticket_pattern"},
			{Name: "approval_max_age"},
			{Name: "require_approval_record"},
		},
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "approval_signatures"},
			{Type: "identity", LabelNames: []string{"name"}},
			{Type: "approver_group", LabelNames: []string{"name"}},
			{Type: "entitlement", LabelNames: []string{"name"}},
		},
	}
	signaturesSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "allowed_signers", Required: true},
			{Name: "revoked_keys"},
		},
	}
	identitySchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "aliases", Required: true}},
	}
	groupSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "members", Required: true}},
	}
	entitlementSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "description"},
			{Name: "target"},
			{Name: "role"},
			{Name: "max_ttl", Required: true},
			{Name: "approvers", Required: true},
			{Name: "min_approvals"},
			{Name: "principals", Required: true},
			{Name: "ticket_pattern"},
		},
		Blocks: []hcl.BlockHeaderSchema{{Type: "break_glass"}},
	}
	breakGlassSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "max_ttl", Required: true},
			{Name: "min_approvals"},
		},
	}
)

// groupPrefix marks an approver entry that refers to an approver_group.
const groupPrefix = "group:"

// targetPattern is the form of every target other than "ledger".
func validTarget(t string) bool {
	name, ok := strings.CutPrefix(t, PostgresTargetPrefix)
	return ok && TargetNamePattern.MatchString(name)
}

// decoder turns a parsed body into a Policy, collecting every problem.
type decoder struct {
	diags hcl.Diagnostics
	// dir is where files the document names are looked up: the document's
	// own directory, or the working directory for a document given as text.
	dir string
	// kept is set when the document is read as the ledger keeps it, without
	// the files it names (ParseKept).
	kept bool
}

func (d *decoder) errorf(rng hcl.Range, summary, format string, args ...any) {
	r := rng
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  &r,
	})
}

func (d *decoder) extend(diags hcl.Diagnostics) {
	d.diags = append(d.diags, diags...)
}

// groupDef remembers where a group was defined and whether it decoded cleanly.
type groupDef struct {
	rng hcl.Range
	ok  bool
}

func (d *decoder) policy(body hcl.Body) *Policy {
	content, diags := body.Content(rootSchema)
	d.extend(diags)
	p := &Policy{Groups: map[string][]string{}, Entitlements: map[string]*Entitlement{}}
	if content == nil {
		return p
	}
	if a := content.Attributes["ticket_pattern"]; a != nil {
		p.TicketPattern = d.pattern(a)
	}
	if a := content.Attributes["approval_max_age"]; a != nil {
		p.ApprovalMaxAge, _ = d.duration(a, false)
	}
	if a := content.Attributes["require_approval_record"]; a != nil {
		if v, ok := d.value(a, cty.Bool, false); ok {
			p.RequireApprovalRecord = v.True()
		}
	}

	seenSignatures := false
	for _, b := range content.Blocks {
		if b.Type != "approval_signatures" {
			continue
		}
		if seenSignatures {
			d.errorf(b.DefRange, "Duplicate approval_signatures", "The policy has more than one approval_signatures block; keep one.")
			continue
		}
		seenSignatures = true
		p.Signers = d.signers(b)
	}

	// Identities before everything that names people, which may use aliases.
	p.ids = d.identities(content.Blocks)
	if p.Signers != nil {
		p.Signers.ids = p.ids
	}

	// Groups first: entitlements may refer to groups defined after them.
	groups := map[string]*groupDef{}
	for _, b := range content.Blocks {
		if b.Type == "approver_group" {
			d.group(p, b, groups)
		}
	}
	defined := map[string]hcl.Range{}
	count := 0
	for _, b := range content.Blocks {
		if b.Type == "entitlement" {
			count++
			d.entitlement(p, b, groups, defined)
		}
	}
	if count == 0 {
		d.errorf(body.MissingItemRange(), "Empty policy",
			"The policy defines no entitlement; add at least one entitlement block.")
	}
	return p
}

// signers reads the approval_signatures block and the files it names,
// relative to the document.
func (d *decoder) signers(b *hcl.Block) *Signers {
	content, diags := b.Body.Content(signaturesSchema)
	d.extend(diags)
	if content == nil {
		return nil
	}
	s := &Signers{Revoked: map[string]bool{}}
	read := func(name string) ([]byte, string, *hcl.Attribute, bool) {
		a := content.Attributes[name]
		if a == nil {
			return nil, "", nil, false
		}
		rel, ok := d.str(a)
		if !ok {
			return nil, "", a, false
		}
		file := rel
		if !filepath.IsAbs(file) {
			file = filepath.Join(d.dir, file)
		}
		if d.kept {
			if name == "allowed_signers" {
				s.AllowedSignersFile = rel
			} else {
				s.RevokedKeysFile = rel
			}
			return nil, "", a, false
		}
		data, err := os.ReadFile(file)
		if err != nil {
			d.errorf(a.Expr.Range(), "Unreadable "+name, "Could not read %s: %v. Paths are relative to the policy document.", file, pathErrorText(err))
			return nil, "", a, false
		}
		return data, file, a, true
	}
	if data, file, a, ok := read("allowed_signers"); ok {
		s.AllowedSignersFile = file
		allowed, err := ParseAllowedSigners(data)
		switch {
		case err != nil:
			d.errorf(a.Expr.Range(), "Invalid allowed_signers", "%s, %v.", file, err)
		case len(allowed) == 0:
			d.errorf(a.Expr.Range(), "Empty allowed_signers", "%s lists no key: no approval could ever be signed.", file)
		}
		s.Allowed = allowed
		s.AllowedSignersSHA256 = DocumentDigest(data)
		s.AllowedSignersDocument = data
		s.digest(data)
	}
	if data, file, a, ok := read("revoked_keys"); ok {
		s.RevokedKeysFile = file
		revoked, err := ParseRevokedKeys(data)
		if err != nil {
			d.errorf(a.Expr.Range(), "Invalid revoked_keys", "%s: %v.", file, err)
		}
		s.Revoked = revoked
		s.RevokedKeysSHA256 = DocumentDigest(data)
		s.RevokedKeysDocument = data
		s.digest(data)
	}
	return s
}

// pathErrorText is the operating system's reason without the repeated path.
func pathErrorText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// identities reads the identity blocks: each names one identity and the
// aliases it also goes by (a CI login, a chat handle). An alias belongs to one
// identity and is never the identity of another block, so that every name
// stands for one person. It returns nil when the document has no aliases.
func (d *decoder) identities(blocks hcl.Blocks) *identityIndex {
	type place struct {
		written string // the identity as its block's label writes it
		rng     hcl.Range
	}
	defined := map[string]place{} // normalised identity → its block
	var order []*hcl.Block
	for _, b := range blocks {
		if b.Type != "identity" {
			continue
		}
		name, rng := b.Labels[0], b.LabelRanges[0]
		if !d.blockName("identity", name, rng) || !d.identityName("identity", name, rng) {
			continue
		}
		n := NormalizeIdentity(name)
		if prev, dup := defined[n]; dup {
			d.errorf(rng, "Duplicate identity",
				"Identity %q is already defined at %s (as %q); define each identity once, with all its aliases.", name, posString(prev.rng), prev.written)
			continue
		}
		defined[n] = place{written: name, rng: b.DefRange}
		order = append(order, b)
	}

	x := &identityIndex{aliasOf: map[string]string{}, aliases: map[string][]string{}}
	claimed := map[string]place{} // normalised alias → the identity that lists it, and where
	for _, b := range order {
		name := b.Labels[0]
		id := NormalizeIdentity(name)
		raw, ranges, ok := d.requiredList(b.Body, identitySchema, "aliases", "Empty aliases",
			fmt.Sprintf("Identity %q lists no aliases; list the other names it goes by, or remove the block.", name))
		if !ok {
			continue
		}
		for i, alias := range raw {
			if !d.identityName("alias", alias, ranges[i]) {
				continue
			}
			n := NormalizeIdentity(alias)
			other, isIdentity := defined[n]
			prev, taken := claimed[n]
			switch {
			case n == id:
				d.errorf(ranges[i], "Invalid alias", "Identity %q lists itself (%q) as an alias; list only its other names.", name, alias)
			case isIdentity:
				d.errorf(ranges[i], "Alias is another identity",
					"Identity %q lists %q as an alias, but %q is an identity of its own (defined at %s). A name stands for one person: merge the two blocks, or drop the alias.",
					name, alias, other.written, posString(other.rng))
			case taken && NormalizeIdentity(prev.written) == id:
				d.errorf(ranges[i], "Duplicate alias",
					"Identity %q lists the alias %q more than once (names that differ only by case, spacing or Unicode form are the same); list each alias once.", name, alias)
			case taken:
				d.errorf(ranges[i], "Alias claimed twice",
					"Identities %q and %q both list %q as an alias (also at %s). A name stands for one person: list it under one identity only.",
					prev.written, name, alias, posString(prev.rng))
			default:
				claimed[n] = place{written: name, rng: ranges[i]}
				x.aliasOf[n] = id
				x.aliases[id] = append(x.aliases[id], n)
			}
		}
	}
	if len(x.aliasOf) == 0 {
		return nil
	}
	return x
}

// requiredList reads the required list of strings attr of a block's body
// (schema lists it), with each element's range. It reports false, with the
// problem reported, when the body does not decode, the list is missing or not
// a list of strings, or it is empty (with emptySummary and emptyDetail).
func (d *decoder) requiredList(body hcl.Body, schema *hcl.BodySchema, attr, emptySummary, emptyDetail string) ([]string, []hcl.Range, bool) {
	content, diags := body.Content(schema)
	d.extend(diags)
	if content == nil {
		return nil, nil, false
	}
	a := content.Attributes[attr]
	if a == nil {
		return nil, nil, false // reported by Content as a missing required argument
	}
	raw, ranges, ok := d.stringList(a)
	if !ok {
		return nil, nil, false
	}
	if len(raw) == 0 {
		d.errorf(a.Expr.Range(), emptySummary, "%s", emptyDetail)
		return nil, nil, false
	}
	return raw, ranges, true
}

// identityName checks the name of an identity or an alias: one person, so
// neither empty, nor a group reference, nor a pattern.
func (d *decoder) identityName(kind, name string, rng hcl.Range) bool {
	n := NormalizeIdentity(name)
	switch {
	case n == "":
		d.errorf(rng, "Invalid "+kind, "An %s may not be empty.", kind)
	case isGroupRef(n):
		d.errorf(rng, "Invalid "+kind, "%q refers to a group; an %s names one person.", name, kind)
	case strings.ContainsAny(n, "*?"):
		d.errorf(rng, "Invalid "+kind, "%q contains a wildcard; an %s names one person, not a pattern.", name, kind)
	default:
		return true
	}
	return false
}

// sameIdentityReason says why two names are the same noun (identity,
// approver): they differ only by case, spacing or Unicode form, or an
// identity block makes one an alias of the other.
func sameIdentityReason(noun, a, b string) string {
	if NormalizeIdentity(a) == NormalizeIdentity(b) {
		return "the same " + noun + " once case, spacing and Unicode form are ignored"
	}
	return "the same " + noun + " through the policy's identity aliases"
}

func (d *decoder) group(p *Policy, b *hcl.Block, groups map[string]*groupDef) {
	name, nameRange := b.Labels[0], b.LabelRanges[0]
	if !d.blockName("approver group", name, nameRange) {
		return
	}
	if prev, dup := groups[name]; dup {
		d.errorf(nameRange, "Duplicate approver group",
			"Approver group %q is already defined at %s; each group is defined once.", name, posString(prev.rng))
		return
	}
	def := &groupDef{rng: b.DefRange}
	groups[name] = def
	errsBefore := len(d.diags)

	raw, ranges, ok := d.requiredList(b.Body, groupSchema, "members", "Empty approver group",
		fmt.Sprintf("Approver group %q has no members; list at least one identity in members.", name))
	if !ok {
		return
	}
	members := make([]string, 0, len(raw))
	seen := map[string]string{}
	for i, m := range raw {
		n := p.ids.canonical(m)
		switch {
		case n == "":
			d.errorf(ranges[i], "Invalid group member", "Member %d of approver group %q is empty.", i+1, name)
		case strings.HasPrefix(n, groupPrefix):
			d.errorf(ranges[i], "Invalid group member",
				"Approver group %q lists %q, but a group cannot contain another group; list its members instead.", name, m)
		case seen[n] != "":
			d.errorf(ranges[i], "Duplicate group member",
				"Approver group %q lists %q and %q, which are %s.", name, seen[n], m, sameIdentityReason("identity", seen[n], m))
		default:
			seen[n] = m
			members = append(members, n)
		}
	}
	if len(d.diags) == errsBefore {
		def.ok = true
		p.Groups[name] = members
	}
}

func (d *decoder) entitlement(p *Policy, b *hcl.Block, groups map[string]*groupDef, defined map[string]hcl.Range) {
	name, nameRange := b.Labels[0], b.LabelRanges[0]
	if !d.blockName("entitlement", name, nameRange) {
		return
	}
	if prev, dup := defined[name]; dup {
		d.errorf(nameRange, "Duplicate entitlement",
			"Entitlement %q is already defined at %s; each entitlement is defined once.", name, posString(prev))
		return
	}
	defined[name] = b.DefRange

	content, diags := b.Body.Content(entitlementSchema)
	d.extend(diags)
	if content == nil {
		return
	}
	attrs := content.Attributes
	e := &Entitlement{Name: name, Target: TargetLedger, MinApprovals: 1}

	if a := attrs["description"]; a != nil {
		e.Description, _ = d.str(a)
	}
	if a := attrs["role"]; a != nil {
		e.Role, _ = d.str(a)
	}
	if a := attrs["target"]; a != nil {
		if t, ok := d.str(a); ok {
			e.Target = t
			if t != TargetLedger && !validTarget(t) {
				d.errorf(a.Expr.Range(), "Invalid target",
					"Target %q is not valid; use \"ledger\" (record only) or \"postgres.NAME\" for a database configured in the provider's postgres_targets.", t)
			} else if t != TargetLedger && strings.TrimSpace(e.Role) == "" {
				d.errorf(a.Expr.Range(), "Missing role",
					"Entitlement %q is enforced in %q, which needs a role to grant; set role.", name, t)
			}
		}
	}
	if a := attrs["max_ttl"]; a != nil {
		e.MaxTTL, _ = d.duration(a, true)
	}
	if a := attrs["ticket_pattern"]; a != nil {
		e.TicketPattern = d.pattern(a)
	}

	approversOK := false
	if a := attrs["approvers"]; a != nil {
		e.Approvers, approversOK = d.approvers(p, name, a, groups)
	}
	minAttr := attrs["min_approvals"]
	minOK := true
	if minAttr != nil {
		e.MinApprovals, minOK = d.count(minAttr)
	}
	if approversOK && minOK {
		e.approverSet = expandApprovers(e.Approvers, p.Groups, p.ids)
		if e.MinApprovals > len(e.approverSet) {
			rng := attrs["approvers"].Expr.Range()
			if minAttr != nil {
				rng = minAttr.Expr.Range()
			}
			d.errorf(rng, "Unreachable min_approvals",
				"Entitlement %q requires %d approvals but has only %d distinct approvers once groups are expanded, so no request could ever be approved.",
				name, e.MinApprovals, len(e.approverSet))
		}
	}

	if a := attrs["principals"]; a != nil {
		e.Principals = d.principals(name, a, e.exactPrincipals())
	}

	var bgBlock *hcl.Block
	for _, bb := range content.Blocks {
		if bb.Type != "break_glass" {
			continue
		}
		if bgBlock != nil {
			d.errorf(bb.DefRange, "Duplicate break_glass block",
				"Entitlement %q already has a break_glass block at %s; write its rules in one block.", name, posString(bgBlock.DefRange))
			continue
		}
		bgBlock = bb
		e.BreakGlass = d.breakGlass(e, bb, minOK)
	}

	p.Entitlements[name] = e
}

func (d *decoder) breakGlass(e *Entitlement, b *hcl.Block, minOK bool) *BreakGlass {
	content, diags := b.Body.Content(breakGlassSchema)
	d.extend(diags)
	bg := &BreakGlass{}
	if content == nil {
		return bg
	}
	if a := content.Attributes["max_ttl"]; a != nil {
		var ok bool
		bg.MaxTTL, ok = d.duration(a, true)
		if ok && e.MaxTTL > 0 && bg.MaxTTL > e.MaxTTL {
			d.errorf(a.Expr.Range(), "Invalid break_glass max_ttl",
				"Break-glass max_ttl (%s) is longer than entitlement %q's max_ttl (%s); break-glass rules may shorten access, not lengthen it.",
				bg.MaxTTL, e.Name, e.MaxTTL)
		}
	}
	if a := content.Attributes["min_approvals"]; a != nil {
		n, ok := d.count(a)
		bg.MinApprovals = n
		if ok && minOK && n > e.MinApprovals {
			d.errorf(a.Expr.Range(), "Invalid break_glass min_approvals",
				"Break-glass min_approvals (%d) is more than entitlement %q's min_approvals (%d); break-glass rules may lower the number of approvals, not raise it.",
				n, e.Name, e.MinApprovals)
		}
	}
	return bg
}

// approvers decodes an entitlement's approvers: identities, normalised, and
// "group:NAME" references to defined groups. ok is false when any entry is
// invalid, so derived checks can be skipped.
func (d *decoder) approvers(p *Policy, entitlement string, a *hcl.Attribute, groups map[string]*groupDef) ([]string, bool) {
	raw, ranges, ok := d.stringList(a)
	if !ok {
		return nil, false
	}
	if len(raw) == 0 {
		d.errorf(a.Expr.Range(), "Missing approvers",
			"Entitlement %q lists no approvers; name at least one identity or group:NAME.", entitlement)
		return nil, false
	}
	out := make([]string, 0, len(raw))
	seen := map[string]string{}
	ok = true
	for i, item := range raw {
		var canonical string
		trimmed := strings.TrimSpace(item)
		if isGroupRef(trimmed) {
			group := strings.TrimSpace(trimmed[len(groupPrefix):])
			def, known := groups[group]
			switch {
			case !known:
				d.errorf(ranges[i], "Unknown approver group",
					"Entitlement %q refers to approver group %q, which is not defined; defined groups: %s.",
					entitlement, group, quotedList(sortedKeys(groups), 10))
				ok = false
				continue
			case !def.ok:
				ok = false // the group's own problem is reported where it is defined
			}
			canonical = groupPrefix + group
		} else {
			canonical = p.ids.canonical(item)
			if canonical == "" {
				d.errorf(ranges[i], "Invalid approver", "Approver %d of entitlement %q is empty.", i+1, entitlement)
				ok = false
				continue
			}
		}
		if prev, dup := seen[canonical]; dup {
			d.errorf(ranges[i], "Duplicate approver",
				"Entitlement %q lists %q and %q, which are %s.", entitlement, prev, item, sameIdentityReason("approver", prev, item))
			ok = false
			continue
		}
		seen[canonical] = item
		out = append(out, canonical)
	}
	return out, ok
}

// isGroupRef reports whether an approver entry (already trimmed) refers to a group.
// The prefix is matched without regard to case, like identities are.
func isGroupRef(s string) bool {
	return len(s) >= len(groupPrefix) && strings.EqualFold(s[:len(groupPrefix)], groupPrefix)
}

// principals reads an entitlement's principal patterns: exactly as written
// where exact (names a PostgreSQL target receives), else normalised as
// identities are.
func (d *decoder) principals(entitlement string, a *hcl.Attribute, exact bool) []string {
	raw, ranges, ok := d.stringList(a)
	if !ok {
		return nil
	}
	if len(raw) == 0 {
		d.errorf(a.Expr.Range(), "Missing principals",
			"Entitlement %q lists no principals; name at least one identity or glob pattern such as \"svc-payments-*\".", entitlement)
		return nil
	}
	out := make([]string, 0, len(raw))
	seen := map[string]string{}
	for i, item := range raw {
		n := NormalizeIdentity(item)
		if exact && n != "" {
			n = item
		}
		if n == "" {
			d.errorf(ranges[i], "Invalid principal pattern", "Principal pattern %d of entitlement %q is empty.", i+1, entitlement)
			continue
		}
		if prev, dup := seen[n]; dup {
			how := "once case, spacing and Unicode form are ignored"
			if exact {
				how = "as its PostgreSQL target matches role names, exactly as written"
			}
			d.errorf(ranges[i], "Duplicate principal pattern",
				"Entitlement %q lists %q and %q, which are the same pattern %s.", entitlement, prev, item, how)
			continue
		}
		seen[n] = item
		out = append(out, n)
	}
	return out
}

// blockName checks a block label: non-empty, no surrounding spaces, no control characters.
func (d *decoder) blockName(kind, name string, rng hcl.Range) bool {
	bad := name == "" || strings.TrimSpace(name) != name || strings.IndexFunc(name, unicode.IsControl) >= 0
	if bad {
		d.errorf(rng, "Invalid "+kind+" name",
			"The %s name %q is not valid; use a non-empty name without surrounding spaces or control characters.", kind, name)
	}
	return !bad
}

// value evaluates an attribute (no variables or functions are available) and
// converts it to typ. ok is false when the attribute is null or invalid; invalid
// values are reported, and so are null ones when required.
func (d *decoder) value(a *hcl.Attribute, typ cty.Type, required bool) (cty.Value, bool) {
	v, diags := a.Expr.Value(nil)
	d.extend(diags)
	if diags.HasErrors() {
		return cty.NilVal, false
	}
	if v.IsNull() {
		if required {
			d.errorf(a.Expr.Range(), "Missing "+a.Name, "The argument %q is required and may not be null.", a.Name)
		}
		return cty.NilVal, false
	}
	cv, err := convert.Convert(v, typ)
	if err != nil || !cv.IsWhollyKnown() || cv.IsNull() {
		d.errorf(a.Expr.Range(), "Invalid "+a.Name, "The argument %q must be %s.", a.Name, typ.FriendlyName())
		return cty.NilVal, false
	}
	return cv, true
}

func (d *decoder) str(a *hcl.Attribute) (string, bool) {
	v, ok := d.value(a, cty.String, false)
	if !ok {
		return "", false
	}
	return v.AsString(), true
}

// count decodes a non-negative whole number.
func (d *decoder) count(a *hcl.Attribute) (int, bool) {
	v, ok := d.value(a, cty.Number, true)
	if !ok {
		return 0, false
	}
	bf := v.AsBigFloat()
	n, acc := bf.Int64()
	if !bf.IsInt() || acc != big.Exact || n < 0 || n > 1<<20 {
		d.errorf(a.Expr.Range(), "Invalid "+a.Name, "The argument %q must be a whole number of at least 0; got %s.", a.Name, bf.Text('g', 10))
		return 0, false
	}
	return int(n), true
}

func (d *decoder) duration(a *hcl.Attribute, required bool) (time.Duration, bool) {
	v, ok := d.value(a, cty.String, required)
	if !ok {
		return 0, false
	}
	dur, err := ParseDuration(v.AsString())
	if err != nil {
		d.errorf(a.Expr.Range(), "Invalid "+a.Name, "%s.", capitalise(err.Error()))
		return 0, false
	}
	return dur, true
}

func (d *decoder) pattern(a *hcl.Attribute) *regexp.Regexp {
	v, ok := d.value(a, cty.String, false)
	if !ok {
		return nil
	}
	s := v.AsString()
	if s == "" {
		d.errorf(a.Expr.Range(), "Invalid "+a.Name,
			"The ticket pattern is empty; omit ticket_pattern to accept any non-empty ticket, or write a regular expression such as \"^SEC-[0-9]+$\".")
		return nil
	}
	re, err := regexp.Compile(s)
	if err != nil {
		d.errorf(a.Expr.Range(), "Invalid "+a.Name, "The ticket pattern %q is not a valid regular expression (RE2 syntax): %s.", s, err)
		return nil
	}
	return re
}

// stringList decodes a list of strings. ranges gives each element's position
// where the list is written literally, and the whole list's otherwise.
func (d *decoder) stringList(a *hcl.Attribute) (items []string, ranges []hcl.Range, ok bool) {
	v, diags := a.Expr.Value(nil)
	d.extend(diags)
	if diags.HasErrors() {
		return nil, nil, false
	}
	ty := v.Type()
	isList := ty.IsListType() || ty.IsTupleType() || ty.IsSetType()
	if v.IsNull() || !isList {
		d.errorf(a.Expr.Range(), "Invalid "+a.Name, "The argument %q must be a list of strings.", a.Name)
		return nil, nil, false
	}
	n := v.LengthInt()
	elemExprs, listDiags := hcl.ExprList(a.Expr)
	ok = true
	i := 0
	for it := v.ElementIterator(); it.Next(); i++ {
		rng := a.Expr.Range()
		if !listDiags.HasErrors() && len(elemExprs) == n {
			rng = elemExprs[i].Range()
		}
		_, ev := it.Element()
		sv, err := convert.Convert(ev, cty.String)
		if err != nil || sv.IsNull() || !sv.IsKnown() {
			d.errorf(rng, "Invalid "+a.Name, "Element %d of %q must be a string.", i+1, a.Name)
			ok = false
			continue
		}
		items = append(items, sv.AsString())
		ranges = append(ranges, rng)
	}
	return items, ranges, ok
}

// expandApprovers returns the set of identities that approvers stands for, in
// the form ids compares them, with group references replaced by the groups'
// members.
func expandApprovers(approvers []string, groups map[string][]string, ids *identityIndex) map[string]bool {
	set := make(map[string]bool, len(approvers))
	for _, a := range approvers {
		if isGroupRef(a) {
			for _, m := range groups[strings.TrimSpace(a[len(groupPrefix):])] {
				set[ids.canonical(m)] = true
			}
			continue
		}
		if n := ids.canonical(a); n != "" {
			set[n] = true
		}
	}
	return set
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// quotedList writes up to limit items quoted and comma-separated, then how many
// more there are; "none" when there are no items.
func quotedList(items []string, limit int) string {
	if len(items) == 0 {
		return "none"
	}
	var b strings.Builder
	for i, s := range items {
		if i == limit {
			fmt.Fprintf(&b, " and %d more", len(items)-limit)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", s)
	}
	return b.String()
}

// capitalise upper-cases the first letter of a message, for use as a sentence.
func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
