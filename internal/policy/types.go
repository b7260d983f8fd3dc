package policy

import (
	"regexp"
	"time"
)

// Attribute names used in violations. They match the Terraform attribute names so
// the provider can attach a diagnostic to the right attribute without translation.
const (
	AttrTicketID      = "ticket_id"
	AttrEntitlement   = "entitlement"
	AttrPrincipal     = "principal"
	AttrApprovers     = "approvers"
	AttrRequester     = "requester"
	AttrExpiresAt     = "expires_at"
	AttrTTL           = "ttl"
	AttrApprovalID    = "approval_id"
	AttrJustification = "justification"
	AttrBreakGlass    = "break_glass"
	AttrSignatures    = "signatures"
)

// What shows that a grant or an approval record was approved (SPEC §1,
// principle 2): signatures that verify, or only the names the requester
// wrote, or nothing (a break-glass grant whose rules need no approver).
const (
	EvidenceSigned   = "signed"
	EvidenceAsserted = "asserted"
	EvidenceNone     = "none"
)

// TargetLedger is the built-in target: the grant is recorded in the ledger and
// enforced nowhere else.
const TargetLedger = "ledger"

// PostgresTargetPrefix opens the name of every PostgreSQL target, as
// entitlements spell it: "postgres.NAME".
const PostgresTargetPrefix = "postgres."

// TargetNamePattern is the form of NAME in "postgres.NAME": the keys of the
// provider's postgres_targets and the names governed revoke --postgres-target
// takes.
var TargetNamePattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]*$`)

// PostgresTarget is the target name entitlements use for the PostgreSQL
// target the provider configures as name.
func PostgresTarget(name string) string { return PostgresTargetPrefix + name }

// PrivilegedBuiltinRoles are PostgreSQL's predefined roles that reach past the
// database's own privileges (the server's files and programs, every table's
// data, other sessions): a role that is or belongs to one of them is never
// granted (rule target.role_privileged).
var PrivilegedBuiltinRoles = []string{
	"pg_execute_server_program", "pg_read_server_files", "pg_write_server_files",
	"pg_read_all_data", "pg_write_all_data", "pg_signal_backend",
	"pg_maintain", "pg_create_subscription", // PostgreSQL 16 and 17
}

// Policy is a parsed, validated policy document.
type Policy struct {
	// TicketPattern is the default pattern for tickets; nil accepts any non-empty ticket.
	TicketPattern *regexp.Regexp
	// ApprovalMaxAge bounds how long after approval an approval record may be used; zero means no bound.
	ApprovalMaxAge time.Duration
	// RequireApprovalRecord makes approval_id mandatory on every grant.
	RequireApprovalRecord bool
	// Groups maps a group name to its members, normalised, each alias
	// replaced by the identity it names.
	Groups map[string][]string
	// Entitlements by name.
	Entitlements map[string]*Entitlement
	// Signers is the key material of approval_signatures; nil when the policy
	// does not require signed approvals.
	Signers *Signers
	// Digest is the SHA-256 (lowercase hex) of the document's bytes, as given
	// to Parse: what a pipeline pins the policy with, and what every decision
	// recorded in the ledger names.
	Digest string
	// Document is the document's text, as given to Parse, which the ledger
	// keeps under Digest.
	Document []byte

	// ids holds the identity blocks (aliases); nil when there are none.
	ids *identityIndex
}

// Entitlement is one grantable thing in the catalogue.
type Entitlement struct {
	Name        string
	Description string
	// Target is where grants are enforced: "ledger" or "postgres.NAME".
	Target string
	Role   string
	MaxTTL time.Duration
	// Approvers as written in the policy: identities (normalised, each alias
	// replaced by the identity it names) and "group:NAME" references.
	// ApproverSet expands the groups.
	Approvers []string
	// MinApprovals is the number of distinct authorised approvers required (default 1).
	MinApprovals int
	// Principals are normalised glob patterns ("*" any run of characters, "?" one character).
	Principals []string
	// TicketPattern overrides the policy default when set.
	TicketPattern *regexp.Regexp
	// BreakGlass is nil when the entitlement has no break-glass rules.
	BreakGlass *BreakGlass

	// approverSet is Approvers with groups expanded, computed once by Parse. It is
	// nil for an Entitlement built by hand; the set is then computed on use.
	approverSet map[string]bool
}

// BreakGlass holds the rules that replace the normal ones for an emergency grant.
type BreakGlass struct {
	MaxTTL       time.Duration
	MinApprovals int
}

// GrantRequest is what a grant asks for, as written in configuration.
type GrantRequest struct {
	Principal   string
	Entitlement string
	TicketID    string
	Approvers   []string
	// ExpiresAt is the raw RFC 3339 text; empty when TTL is used.
	ExpiresAt string
	// TTL is the raw duration text; empty when ExpiresAt is used.
	TTL           string
	ApprovalID    string
	Justification string
	// Requester is the resource's own requester, which the ledger records; it
	// may be empty.
	Requester string
	// Requesters are the requesters named outside the resource (the
	// provider's, the pipeline's). Every one of them counts for separation of
	// duties, like Requester.
	Requesters []Requester
	BreakGlass bool
	// Unknown lists the attributes (Attr* names) whose values are not known yet (plan time).
	Unknown []string
	// LedgerID is the id of the ledger the grant is recorded in, which the
	// statement of a signed approval record must name.
	LedgerID string
	// TicketGrants are the grants the ledger holds as issued under TicketID to
	// Principal for Entitlement, filled in by the caller. A request that names
	// no approval record may re-use the ticket only to narrow one of them
	// that is in force (rule ticket.used).
	TicketGrants []Predecessor
}

// Predecessor is a grant the ledger holds under the approval record or the
// ticket that a new grant re-uses. The new grant passes only when it narrows
// a predecessor that is in force: same principal and entitlement, expiry no
// later. It then takes the predecessor's place, which ends when it is issued.
type Predecessor struct {
	ID          string
	Principal   string
	Entitlement string
	ExpiresAt   time.Time
	// InForce says whether the predecessor is in force for the caller: active
	// and not yet expired, or ended just now because its resource was
	// destroyed to make way for its replacement.
	InForce bool
	// Ended says how a predecessor that is not in force ended, such as
	// "expired at 2026-11-30T12:00:00Z", for diagnostics.
	Ended string
}

// ApprovalRequest is what an approval record states, as written in configuration.
type ApprovalRequest struct {
	TicketID      string
	Entitlement   string
	Principal     string
	Approvers     []string
	Justification string
	ExpiresAt     string
	// Requester is the record's own requester; Requesters those named
	// outside it, as for GrantRequest.
	Requester  string
	Requesters []Requester
	// LedgerID is the id of the ledger the approval is to be recorded in.
	LedgerID string
	// Signatures maps approvers, as written, to their armored SSH signatures
	// over the statement.
	Signatures map[string]string
	Unknown    []string
}

// Requester is an identity named as a requester outside the request itself.
type Requester struct {
	Identity string
	// Whose says where it was named, as the possessive that messages put
	// before "requester": "the provider's", "the pipeline's".
	Whose string
}

// Approval is the evidence of a recorded approval, as the ledger holds it.
type Approval struct {
	ID          string
	TicketID    string
	Entitlement string
	Principal   string
	Approvers   []string
	ExpiresAt   time.Time
	ApprovedAt  time.Time
	Withdrawn   bool
	// UsedBy is the grant the approval already authorised, if any, and
	// Holder that grant as the ledger holds it (nil when the caller did not
	// look it up: the approval is then simply used).
	UsedBy string
	Holder *Predecessor
	// Signers, when not nil, are the signatures over Statement already
	// verified in this run, at now (an approval planned in the same
	// configuration): they are used instead of verifying again.
	Signers []VerifiedSignature
	// Statement is the text the approvers signed, and Signatures their
	// signatures over it, by approver as written.
	Statement  string
	Signatures map[string]string
}

// Violation is one broken rule, tied to the attribute at fault.
type Violation struct {
	Rule      Rule
	Attribute string
	// Detail says what was found, e.g. `ticket "ABC-1" does not match "^SEC-[0-9]+$"`.
	Detail string
}

// GrantDecision is the outcome of a grant evaluation that passed.
type GrantDecision struct {
	Entitlement *Entitlement
	// ExpiresAt is the absolute expiry: parsed from ExpiresAt, or now+TTL, in UTC.
	ExpiresAt time.Time
	// Replaces is the predecessor (Approval.Holder or one of
	// GrantRequest.TicketGrants) that the grant narrows and takes the place
	// of; empty when it re-uses no approval or ticket.
	Replaces string
	// PolicyDigest is the digest of the policy that judged the request.
	PolicyDigest string
	// Evidence says what shows that the grant was approved: EvidenceSigned,
	// EvidenceAsserted or EvidenceNone.
	Evidence string
}
