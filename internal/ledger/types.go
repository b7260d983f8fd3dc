// Package ledger is the system of record: an append-only, hash-chained log of
// events plus current-state tables for fast reads. Stores implement Store; the
// Ledger type holds the business transitions (issue, expire, revoke, retire) on
// top of any store.
package ledger

import (
	"context"
	"errors"
	"slices"
	"time"
)

// Event types written to the log.
const (
	EventApprovalRecorded  = "approval.recorded"
	EventApprovalWithdrawn = "approval.withdrawn"
	EventApprovalUsed      = "approval.used"
	// EventApprovalHandedOver records that an approval's authority passed
	// from the grant it authorised to a narrower grant that replaces it.
	EventApprovalHandedOver = "approval.handed_over"
	// EventGrantRequested records a grant that passed policy, before its
	// target is asked to enforce it; grant.issued follows once it is in force.
	EventGrantRequested = "grant.requested"
	EventGrantIssued    = "grant.issued"
	EventGrantExpired   = "grant.expired"
	EventGrantRevoked   = "grant.revoked"
	EventGrantRetired   = "grant.retired"
	// EventGrantRevokeCompleted records that a revocation the target had
	// refused earlier has now been carried out there.
	EventGrantRevokeCompleted = "grant.revoke_completed"
	// EventGrantRevokeFailed records that the target refused a revocation or
	// could not be reached; the revocation stays pending.
	EventGrantRevokeFailed = "grant.revoke_failed"
	// EventLedgerDiscontinuity records that the ledger's recorded head did
	// not match the last event of its log when access had to be removed. It
	// is chained onto that last event, so that the removal can be recorded
	// after it, and Verify reports the damage it describes: it never makes a
	// damaged ledger verify.
	EventLedgerDiscontinuity = "ledger.discontinuity"
	// EventLedgerIdentified records the ledger's id in its chain, in a ledger
	// that already held events when a schema migration gave it its id: the
	// migration appends it, once, in the transaction that makes the id (see
	// Identified). A ledger made with its id records none. Verify requires
	// its id to be the one the ledger keeps.
	EventLedgerIdentified = "ledger.identified"
)

// LedgerSubject is the subject of the events about the ledger itself
// (ledger.discontinuity, ledger.identified).
const LedgerSubject = "ledger"

// DiscontinuitySubject is the subject of every ledger.discontinuity event.
const DiscontinuitySubject = LedgerSubject

// The event types each kind of append accepts. Stores check them.
var (
	grantEventTypes = []string{EventGrantRequested, EventGrantIssued, EventGrantExpired, EventGrantRevoked,
		EventGrantRetired, EventGrantRevokeCompleted, EventGrantRevokeFailed}
	approvalEventTypes = []string{EventApprovalRecorded, EventApprovalWithdrawn, EventApprovalUsed, EventApprovalHandedOver}
)

// Grant statuses.
const (
	// StatusPending: recorded, not yet confirmed in force in the target.
	StatusPending = "pending"
	StatusActive  = "active"
	StatusExpired = "expired"
	StatusRevoked = "revoked"
)

// Approval statuses.
const (
	ApprovalActive    = "active"
	ApprovalWithdrawn = "withdrawn"
)

// Revocation reasons.
const (
	ReasonExpired     = "expired"      // revoked by an apply after the expiry passed
	ReasonOutOfBand   = "out_of_band"  // revoked outside Terraform (governed revoke, or in the target)
	ReasonDestroyed   = "destroyed"    // revoked because the resource was destroyed
	ReasonGrantFailed = "grant_failed" // the target refused to put the grant in force
	// ReasonApprovalWithdrawn: the approval record the grant was made under was withdrawn.
	ReasonApprovalWithdrawn = "approval_withdrawn"
	// ReasonSuperseded: a narrower grant under the same approval or ticket took its place.
	ReasonSuperseded = "superseded"
)

var (
	// ErrNoLedger is returned by OpenExisting for a SQLite ledger file that
	// does not exist.
	ErrNoLedger = errors.New("does not exist")
	// ErrNotFound is returned when a grant or approval is not in the ledger.
	ErrNotFound = errors.New("not found in the ledger")
	// ErrConflict is returned by an append when the record changed since it was read.
	ErrConflict = errors.New("record changed concurrently")
	// ErrApprovalUsed is returned when an approval already authorised another grant.
	ErrApprovalUsed = errors.New("approval already authorised another grant")
	// ErrExists is returned when a new record's id is already taken.
	ErrExists = errors.New("already recorded in the ledger")
	// ErrRevocationUnconfirmed is what a revocation records before its target
	// is asked: the decision is written first, so that a crash between the
	// two leaves the revocation pending, never forgotten.
	ErrRevocationUnconfirmed = errors.New("the target has not confirmed the revocation yet")
	// ErrNotPending is returned by IssueRequested for a grant that is no
	// longer pending (it was revoked meanwhile).
	ErrNotPending = errors.New("the grant is no longer pending")
	// ErrInconsistent is returned by an append when the recorded head does not
	// match the last event of the log: the ledger was altered outside governed
	// and nothing more is written to it until it verifies again.
	ErrInconsistent = errors.New("the ledger's head does not match its last event; run governed verify")
)

// Grant is the current state of one grant. Its JSON form is the payload of every
// grant event, so replaying the log rebuilds the current-state table.
type Grant struct {
	ID            string   `json:"id"`
	Principal     string   `json:"principal"`
	Entitlement   string   `json:"entitlement"`
	TicketID      string   `json:"ticket_id"`
	Approvers     []string `json:"approvers"`
	Requester     string   `json:"requester,omitempty"`
	ApprovalID    string   `json:"approval_id,omitempty"`
	Justification string   `json:"justification,omitempty"`
	BreakGlass    bool     `json:"break_glass"`
	Target        string   `json:"target"`
	Role          string   `json:"role,omitempty"`
	// TargetServer is the identity of the server the grant's target reached
	// when the grant was requested and put in force there (for PostgreSQL,
	// "postgresql:" and the cluster's system identifier). Access belongs to a
	// server, whatever a workspace calls its target. Empty for a grant
	// recorded only in the ledger, and for grants recorded before it was
	// kept.
	TargetServer string `json:"target_server,omitempty"`
	// Replaces is the grant this one narrows and takes the place of, under
	// the same approval or ticket; that grant ends when this one is issued.
	Replaces string `json:"replaces,omitempty"`
	// TTL is the duration text as written, when the grant used ttl.
	TTL string `json:"ttl,omitempty"`
	// ExpiresAt is the expiry as written (or computed from TTL, in UTC), RFC 3339.
	ExpiresAt        string    `json:"expires_at"`
	GrantedAt        time.Time `json:"granted_at"`
	Status           string    `json:"status"`
	RevokedAt        time.Time `json:"revoked_at,omitzero"`
	RevocationReason string    `json:"revocation_reason,omitempty"`
	// RevocationNote is free text given with an out-of-band revocation.
	RevocationNote string    `json:"revocation_note,omitempty"`
	RetiredAt      time.Time `json:"retired_at,omitzero"`
	// RevokePending is set when the grant is no longer in force by the ledger's
	// account but its target has not yet removed the access (the target refused
	// or could not be reached); RevokeError says why. The next apply retries.
	RevokePending bool   `json:"revoke_pending,omitempty"`
	RevokeError   string `json:"revoke_error,omitempty"`
	// RevokeNote says how a revocation was completed when its target did not
	// carry out a REVOKE: the role or the member no longer exists there, or
	// the access was found absent.
	RevokeNote string `json:"revoke_note,omitempty"`
	// Seq is the sequence number of the last event about this grant. Not part of the payload.
	Seq int64 `json:"-"`
	// PolicyDigest is the SHA-256 of the policy document that judged the
	// grant when it was issued; empty in grants recorded before it was kept.
	PolicyDigest string `json:"policy_digest,omitempty"`
	// Evidence says what showed the grant approved when it was issued:
	// "signed" (an approval record whose signatures verified), "asserted"
	// (approvers only named) or "none" (a break-glass grant that needed no
	// approver); empty in grants recorded before it was kept.
	Evidence string `json:"approval_evidence,omitempty"`
}

// Approval is the current state of one approval record.
type Approval struct {
	ID            string   `json:"id"`
	TicketID      string   `json:"ticket_id"`
	Entitlement   string   `json:"entitlement"`
	Principal     string   `json:"principal"`
	Approvers     []string `json:"approvers"`
	Justification string   `json:"justification"`
	Requester     string   `json:"requester,omitempty"`
	ExpiresAt     string   `json:"expires_at"`
	Statement     string   `json:"statement"`
	Digest        string   `json:"digest"`
	// Signatures are the approvers' armored SSH signatures over Statement, by
	// approver as written, and SignerKeys the SHA256 fingerprints of the keys
	// that made the ones that counted, by normalised approver. Both are empty
	// where the policy did not require signed approvals.
	Signatures map[string]string `json:"signatures,omitempty"`
	SignerKeys map[string]string `json:"signer_keys,omitempty"`
	ApprovedAt time.Time         `json:"approved_at"`
	Status     string            `json:"status"`
	// GrantID is the grant this approval authorises; an approval authorises
	// one grant at a time.
	GrantID string `json:"grant_id,omitempty"`
	// PreviousGrantID is the grant that held the approval before GrantID
	// narrowed and replaced it (HandOverApproval).
	PreviousGrantID string    `json:"previous_grant_id,omitempty"`
	WithdrawnAt     time.Time `json:"withdrawn_at,omitzero"`
	Seq             int64     `json:"-"`
	// PolicyDigest is the SHA-256 of the policy document that judged the
	// approval when it was recorded; empty in records made before it was kept.
	PolicyDigest string `json:"policy_digest,omitempty"`
	// Evidence is "signed" when the approvers' signatures verified, "asserted"
	// when the policy did not require them and the approvers are only named;
	// empty in records made before it was kept.
	Evidence string `json:"approval_evidence,omitempty"`
	// AllowedSignersSHA256 and RevokedKeysSHA256 are the SHA-256 (lowercase
	// hex) of the allowed_signers file and the revoked keys list that the
	// signatures were verified against, whose contents the ledger keeps under
	// those digests beside the policy documents (KeepPolicy); the second is
	// empty where the policy names no revoked keys. Both are empty in a record
	// that carries no signatures, and in records made before they were kept.
	AllowedSignersSHA256 string `json:"allowed_signers_sha256,omitempty"`
	RevokedKeysSHA256    string `json:"revoked_keys_sha256,omitempty"`
}

// Event is one entry of the log.
type Event struct {
	Seq      int64
	At       time.Time
	Type     string
	Subject  string // the grant or approval id
	Data     []byte // canonical JSON of the subject's state after the event
	PrevHash string // hex SHA-256 of the previous event, "" for the first
	Hash     string // hex SHA-256 of this event
	// RecordedAt is the wall-clock time the event was written, beside At,
	// the instant the run decided by (one per run); Actor and RunID say who
	// ran the operation (Origin). All three are zero in events recorded
	// before the ledger kept them.
	RecordedAt time.Time
	Actor      string
	RunID      string
}

// Head is the last event of the chain.
type Head struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// Discontinuity is the payload of a ledger.discontinuity event.
type Discontinuity struct {
	// RecordedHead is the head the store held when the event was written;
	// nil when its row was missing.
	RecordedHead *Head `json:"recorded_head"`
	// LastEvent is the last event of the log then, which the discontinuity
	// follows and chains onto.
	LastEvent Head `json:"last_event"`
	// Note says why it was written.
	Note string `json:"note,omitempty"`
}

// Identified is the payload of a ledger.identified event.
type Identified struct {
	// LedgerID is the ledger's id (Store.ID) as the migration made it: 32
	// lowercase hex digits.
	LedgerID string `json:"ledger_id"`
	// MigratedFrom is the schema version the ledger had before the
	// migration, and SchemaVersion the version it brought it to.
	MigratedFrom  int `json:"migrated_from"`
	SchemaVersion int `json:"schema_version"`
}

// GrantFilter selects grants; zero fields match everything, and the fields
// that are set must all match. Principal, Entitlement and Status match the
// stored values exactly; ExpiringBefore selects active grants whose expiry is
// strictly before it.
//
// The other fields find what a reconciliation must remove, each with an
// indexed query rather than a read of every grant.
type GrantFilter struct {
	Principal      string
	Entitlement    string
	Status         string
	ExpiringBefore time.Time
	// Identity selects grants whose principal is this identity as the policy
	// compares identities (policy.NormalizeIdentity on both sides: trimmed,
	// NFC, case folded), so that it finds a grant whatever case or Unicode
	// form its principal was written in. Aliases are not followed.
	Identity string
	// StatusAt selects grants whose status at At (Grant.StatusAt) is this
	// one: a grant the ledger holds as active or pending whose expiry is not
	// after At counts as expired. At must be set with it.
	StatusAt string
	At       time.Time
	// Overdue selects grants that the ledger still holds as active or
	// pending although their expiry is not after it: past their expiry at
	// that instant, with no expiry or revocation recorded yet.
	Overdue time.Time
	// ApprovalWithdrawn selects grants that the ledger holds as active or
	// pending and that were made under an approval record it holds as
	// withdrawn.
	ApprovalWithdrawn bool
	// RevokePending selects grants whose revocation their target has not
	// carried out yet (Grant.RevokePending).
	RevokePending bool
}

// Store persists the log and the current-state tables. Implementations must make
// Append atomic and serialised: concurrent appends, from this process or others,
// leave one chain.
type Store interface {
	// AppendGrant appends an event about g and stores g as the grant's current
	// state, in one transaction. expectSeq is the Seq the caller read (0 for a new
	// grant); when the stored row has moved on, it returns ErrConflict (ErrExists
	// for a new grant whose id is taken). It returns the event with Seq and hashes set.
	AppendGrant(ctx context.Context, eventType string, at time.Time, g Grant, expectSeq int64) (Event, error)
	// AppendApproval is AppendGrant for approval records.
	AppendApproval(ctx context.Context, eventType string, at time.Time, a Approval, expectSeq int64) (Event, error)
	// AppendDiscontinuity appends a ledger.discontinuity event with note when
	// the recorded head does not match the last event of the log (or is
	// missing): the event is chained onto that last event and becomes the
	// head, so that appends work again while Verify still reports the damage.
	// When the head matches, it appends nothing and reports false.
	AppendDiscontinuity(ctx context.Context, at time.Time, note string) (Event, bool, error)
	Grant(ctx context.Context, id string) (Grant, error)
	Grants(ctx context.Context, f GrantFilter) ([]Grant, error)
	// EachGrant calls fn for every grant that matches f, in order of id, as
	// the rows are read, without holding them all; an error from fn ends the
	// walk and is returned as it is.
	EachGrant(ctx context.Context, f GrantFilter, fn func(Grant) error) error
	// EachListedGrant is EachGrant with only the grant's ListedFields read
	// from its payload (the rest left empty), into one Grant that every call
	// of fn is given again: fn must copy what it keeps. Listings of many
	// grants read them this way, at a fraction of the cost of decoding each
	// payload whole.
	EachListedGrant(ctx context.Context, f GrantFilter, fn func(*Grant) error) error
	Approval(ctx context.Context, id string) (Approval, error)
	// Head returns the head the store recorded with its last append ({0, ""} when empty).
	Head(ctx context.Context) (Head, error)
	// KeepPolicy keeps a document that judged decisions under its digest (the
	// SHA-256 of its bytes, hex) at at, once: keeping one already kept does
	// nothing. A digest that is not the document's is an error. The documents
	// are policy documents, and the allowed_signers files and revoked keys
	// lists that approvals' signatures were verified against.
	KeepPolicy(ctx context.Context, digest string, document []byte, at time.Time) error
	// Policies calls fn for every kept document (see KeepPolicy), by digest.
	Policies(ctx context.Context, fn func(digest string, document []byte) error) error
	// ID returns the ledger's id: 32 lowercase hex digits, random, made when
	// the ledger was created (or when a ledger older than ids was first opened
	// by a build that knows them, which then appends a ledger.identified
	// event naming it when the ledger holds events), never changed.
	ID(ctx context.Context) (string, error)
	// EventHash returns the hash of the event at seq, as the log records it;
	// ErrNotFound when the log has no such event.
	EventHash(ctx context.Context, seq int64) (string, error)
	// Events calls fn for every event in sequence order.
	Events(ctx context.Context, fn func(Event) error) error
	// SubjectEvents calls fn for the events about records of kind ("grant"
	// or "approval"), one record after another in the order of their ids
	// (byte order), each record's events in sequence order; with subject
	// set, only that record's. It reads through the events' subject index
	// and streams, so that a reader of every grant's life holds one grant at
	// a time. It is a read, not a verification: callers that need the chain
	// verified call Verify.
	SubjectEvents(ctx context.Context, kind, subject string, fn func(Event) error) error
	// Verify checks the whole ledger in one consistent read while appends go
	// on, including the protections only the store knows about (its
	// append-only triggers); see Report.
	Verify(ctx context.Context) (Report, error)
	Close() error
}

// SameApprovers reports whether two lists of approvers, as written, hold the
// same names, in any order.
func SameApprovers(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// Expiry is the instant the grant expires.
func (g Grant) Expiry() (time.Time, error) { return time.Parse(time.RFC3339, g.ExpiresAt) }

// StatusAt is the grant's status at now: an active (or pending) grant whose
// expiry has passed is expired, even before an apply records it. A grant whose expiry
// cannot be read counts as expired, so that it never passes for active.
func (g Grant) StatusAt(now time.Time) string {
	if g.Status != StatusActive && g.Status != StatusPending {
		return g.Status
	}
	if exp, err := g.Expiry(); err != nil || !now.Before(exp) {
		return StatusExpired
	}
	return g.Status
}
