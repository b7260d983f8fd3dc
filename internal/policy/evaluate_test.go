package policy

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// evalPolicy has one entitlement of each shape the rules care about.
const evalPolicy = `
ticket_pattern   = "^(SEC|OPS)-[0-9]+$"
approval_max_age = "7d"

approver_group "security" {
  members = ["alice@example.com", "bob@example.com", "Ren\u00e9@example.com"]
}

# Its own ticket pattern, and break-glass without approvals.
entitlement "payments-db-read" {
  max_ttl       = "7d"
  approvers     = ["group:security", "carol@example.com"]
  principals    = ["svc-payments-*"]
  ticket_pattern = "^SEC-[0-9]+$"
  break_glass {
    max_ttl       = "4h"
    min_approvals = 0
  }
}

# The default ticket pattern, two approvals, no break-glass.
entitlement "payments-db-write" {
  target        = "postgres.payments"
  role          = "payments_write"
  max_ttl       = "1d"
  approvers     = ["group:security"]
  min_approvals = 2
  principals    = ["svc-payments-api"]
}

# Break-glass that still needs one approval, with a shorter break-glass max_ttl.
entitlement "reports" {
  max_ttl       = "8h"
  approvers     = ["group:security"]
  min_approvals = 2
  principals    = ["svc-reports"]
  break_glass {
    max_ttl       = "2h"
    min_approvals = 1
  }
}
`

// strictPolicy requires approval records and has no ticket pattern.
const strictPolicy = `
require_approval_record = true
entitlement "e" {
  max_ttl    = "1d"
  approvers  = ["alice@example.com", "bob@example.com"]
  principals = ["*"]
}
`

var evalNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// providerRequester is the requester list of a provider that names id.
func providerRequester(id string) []Requester {
	return []Requester{{Identity: id, Whose: "the provider's"}}
}

func stampAt(d time.Duration) string { return evalNow.Add(d).Format(time.RFC3339Nano) }

func validGrant() GrantRequest {
	return GrantRequest{
		Principal:   "svc-payments-api",
		Entitlement: "payments-db-read",
		TicketID:    "SEC-1234",
		Approvers:   []string{"alice@example.com"},
		ExpiresAt:   stampAt(24 * time.Hour),
		Requester:   "dev@example.com",
		Requesters:  providerRequester("ci@example.com"),
	}
}

func validApprovalRecord() *Approval {
	return &Approval{
		ID:          "apr-1",
		TicketID:    "SEC-1234",
		Entitlement: "payments-db-read",
		Principal:   "svc-payments-api",
		Approvers:   []string{"alice@example.com", "bob@example.com"},
		ExpiresAt:   evalNow.Add(48 * time.Hour),
		ApprovedAt:  evalNow.Add(-time.Hour),
	}
}

// ruleAttrs lists violations as "rule@attribute", in order.
func ruleAttrs(vs []Violation) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Rule.Name + "@" + v.Attribute
	}
	return out
}

func TestEvaluateGrant(t *testing.T) {
	t.Parallel()
	p := mustParse(t, evalPolicy)
	strict := mustParse(t, strictPolicy)
	day := 24 * time.Hour

	tests := []struct {
		name     string
		policy   *Policy // evalPolicy when nil
		edit     func(r *GrantRequest)
		approval func(a *Approval) // an approval record, edited, when set
		want     []string          // "rule@attribute", in order
		detail   string            // a fragment the first violation's detail must contain
	}{
		{name: "valid", edit: func(r *GrantRequest) {}},
		{name: "valid with ttl", edit: func(r *GrantRequest) { r.ExpiresAt, r.TTL = "", "36h" }},
		{name: "valid with an offset", edit: func(r *GrantRequest) {
			r.ExpiresAt = evalNow.Add(day).In(time.FixedZone("", -5*3600)).Format(time.RFC3339)
		}},
		{name: "approver in another case and spacing", edit: func(r *GrantRequest) { r.Approvers = []string{"  ALICE@Example.com "} }},
		{name: "approver in NFD", edit: func(r *GrantRequest) { r.Approvers = []string{"rene\u0301@example.com"} }},
		{name: "approver named directly", edit: func(r *GrantRequest) { r.Approvers = []string{"carol@example.com"} }},
		{name: "principal in another case", edit: func(r *GrantRequest) { r.Principal = " SVC-Payments-API" }},

		// ticket
		{name: "ticket missing", edit: func(r *GrantRequest) { r.TicketID = "" }, want: []string{"ticket.missing@ticket_id"}},
		{name: "ticket blank", edit: func(r *GrantRequest) { r.TicketID = "  " }, want: []string{"ticket.missing@ticket_id"}},
		{
			name: "ticket outside the entitlement's pattern", edit: func(r *GrantRequest) { r.TicketID = "OPS-1" },
			want: []string{"ticket.pattern@ticket_id"}, detail: `ticket_id "OPS-1" does not match entitlement "payments-db-read"'s ticket_pattern "^SEC-[0-9]+$"`,
		},
		{
			name: "ticket outside the default pattern",
			edit: func(r *GrantRequest) {
				r.Entitlement, r.TicketID, r.Approvers = "payments-db-write", "JIRA-1", []string{"alice@example.com", "bob@example.com"}
			},
			want: []string{"ticket.pattern@ticket_id"}, detail: `the policy's default ticket_pattern "^(SEC|OPS)-[0-9]+$"`,
		},
		{
			name: "ticket inside the default pattern",
			edit: func(r *GrantRequest) {
				r.Entitlement, r.TicketID, r.Approvers = "payments-db-write", "OPS-1", []string{"alice@example.com", "bob@example.com"}
			},
		},
		{
			name: "any ticket without a pattern", policy: strict,
			edit: func(r *GrantRequest) { r.Entitlement, r.TicketID, r.ApprovalID = "e", "whatever you like", "apr-1" },
		},

		// entitlement
		{
			name: "entitlement unknown", edit: func(r *GrantRequest) { r.Entitlement, r.TicketID, r.Principal = "payments-db-admin", "nope", "nobody" },
			want:   []string{"entitlement.unknown@entitlement"},
			detail: `entitlement "payments-db-admin" is not defined in the policy, which defines "payments-db-read", "payments-db-write", "reports"`,
		},
		{
			name: "entitlement in another case", edit: func(r *GrantRequest) { r.Entitlement = "Payments-DB-Read" },
			want: []string{"entitlement.unknown@entitlement"}, detail: `did you mean "payments-db-read"?`,
		},
		{
			name: "entitlement empty", edit: func(r *GrantRequest) { r.Entitlement = "" },
			want: []string{"entitlement.unknown@entitlement"}, detail: "entitlement is empty",
		},
		{
			name: "entitlement unknown, other problems still reported",
			edit: func(r *GrantRequest) { r.Entitlement, r.TicketID, r.Approvers, r.ExpiresAt = "x", "", nil, "" },
			want: []string{"ticket.missing@ticket_id", "entitlement.unknown@entitlement", "approvers.missing@approvers", "expiry.missing@expires_at"},
		},

		// principal
		{name: "principal missing", edit: func(r *GrantRequest) { r.Principal = " " }, want: []string{"principal.missing@principal"}},
		{
			name: "principal not allowed", edit: func(r *GrantRequest) { r.Principal = "svc-billing-api" },
			want: []string{"principal.not_allowed@principal"}, detail: `principal "svc-billing-api" matches none of entitlement "payments-db-read"'s principals ("svc-payments-*")`,
		},
		{
			name: "principal with a wildcard that its pattern would match", edit: func(r *GrantRequest) { r.Principal = "svc-payments-*" },
			want: []string{"principal.not_allowed@principal"}, detail: "contains a wildcard",
		},

		// approvers
		{name: "approvers missing", edit: func(r *GrantRequest) { r.Approvers = nil }, want: []string{"approvers.missing@approvers"}, detail: "no approver is listed"},
		{name: "approvers only empty", edit: func(r *GrantRequest) { r.Approvers = []string{"", " "} }, want: []string{"approvers.missing@approvers"}},
		{
			name: "approvers with an empty name", edit: func(r *GrantRequest) { r.Approvers = []string{"alice@example.com", ""} },
			want: []string{"approvers.missing@approvers"}, detail: "empty name",
		},
		{
			name: "approvers duplicate by case", edit: func(r *GrantRequest) { r.Approvers = []string{"alice@example.com", "Alice@Example.com "} },
			want: []string{"approvers.duplicate@approvers"}, detail: `approvers "alice@example.com" and "Alice@Example.com " are the same approver ("alice@example.com")`,
		},
		{
			name: "approvers duplicate by case and space", edit: func(r *GrantRequest) { r.Approvers = []string{"alice@example.com", " ALICE@Example.com "} },
			want: []string{"approvers.duplicate@approvers"},
		},
		{
			name: "approvers duplicate by Unicode form", edit: func(r *GrantRequest) { r.Approvers = []string{"ren\u00e9@example.com", "rene\u0301@example.com"} },
			want: []string{"approvers.duplicate@approvers"},
		},
		{
			name: "duplicates do not count twice",
			edit: func(r *GrantRequest) {
				r.Entitlement, r.TicketID, r.Approvers = "payments-db-write", "OPS-1", []string{"alice@example.com", "ALICE@example.com"}
			},
			want: []string{"approvers.duplicate@approvers"},
		},
		{
			name: "approver unauthorised", edit: func(r *GrantRequest) { r.Approvers = []string{"alice@example.com", "Mallory@example.com"} },
			want: []string{"approvers.unauthorised@approvers"}, detail: `approver "Mallory@example.com" is not one of entitlement "payments-db-read"'s approvers`,
		},
		{
			name: "every unauthorised approver named", edit: func(r *GrantRequest) { r.Approvers = []string{"mallory@example.com", "eve@example.com"} },
			want:   []string{"approvers.unauthorised@approvers", "approvers.unauthorised@approvers"},
			detail: `"eve@example.com"`, // sorted
		},
		{
			name: "an unauthorised approver names who may approve", edit: func(r *GrantRequest) { r.Approvers = []string{"alice@example.com", "mallory@example.com"} },
			want:   []string{"approvers.unauthorised@approvers"},
			detail: `who are "alice@example.com", "bob@example.com", "carol@example.com" and "rené@example.com"`,
		},
		{
			// Replacing mallory would still leave one approver of two.
			name: "too few approvers even once the unauthorised one is replaced", edit: func(r *GrantRequest) {
				r.Entitlement, r.TicketID, r.Approvers = "payments-db-write", "OPS-1", []string{"mallory@example.com"}
			},
			want: []string{"approvers.unauthorised@approvers", "approvers.min_approvals@approvers"},
		},
		{
			name: "requester approves", edit: func(r *GrantRequest) {
				r.Requester, r.Approvers = "Alice@Example.com", []string{"alice@example.com", "bob@example.com"}
			},
			want: []string{"approvers.separation@approvers"}, detail: `approver "alice@example.com" is the resource's requester`,
		},
		{
			name: "provider's requester approves", edit: func(r *GrantRequest) {
				r.Requesters, r.Approvers = providerRequester("bob@example.com"), []string{"alice@example.com", "BOB@example.com"}
			},
			want: []string{"approvers.separation@approvers"}, detail: `approver "BOB@example.com" is the provider's requester`,
		},
		{
			name: "both requesters approve", edit: func(r *GrantRequest) {
				r.Requester, r.Requesters = "alice@example.com", providerRequester("alice@example.com")
			},
			want:   []string{"approvers.separation@approvers"},
			detail: "both the resource's and the provider's requester",
		},
		{
			name: "the requester's approval does not count", edit: func(r *GrantRequest) { r.Requester = "alice@example.com" },
			want: []string{"approvers.separation@approvers"},
		},
		{
			name: "too few approvers",
			edit: func(r *GrantRequest) { r.Entitlement, r.TicketID = "payments-db-write", "OPS-1" },
			want: []string{"approvers.min_approvals@approvers"}, detail: `1 distinct authorised approver is listed other than the requester, but entitlement "payments-db-write" requires 2`,
		},

		// expiry
		{name: "expiry missing", edit: func(r *GrantRequest) { r.ExpiresAt = "" }, want: []string{"expiry.missing@expires_at"}, detail: "neither"},
		{
			name: "expiry twice", edit: func(r *GrantRequest) { r.TTL = "1h" },
			want: []string{"expiry.missing@expires_at"}, detail: "both expires_at",
		},
		{
			name: "expires_at malformed", edit: func(r *GrantRequest) { r.ExpiresAt = "2026-06-02 12:00:00" },
			want: []string{"expiry.format@expires_at"}, detail: `expires_at "2026-06-02 12:00:00" separates date and time`,
		},
		{
			name: "expires_at without offset", edit: func(r *GrantRequest) { r.ExpiresAt = "2026-06-02T12:00:00" },
			want: []string{"expiry.format@expires_at"}, detail: "has no offset",
		},
		{
			name: "expires_at at hour 24", edit: func(r *GrantRequest) { r.ExpiresAt = "2026-06-01T24:00:00Z" },
			want: []string{"expiry.format@expires_at"}, detail: "hour 24",
		},
		{
			name: "expires_at on a leap second", edit: func(r *GrantRequest) { r.ExpiresAt = "2026-06-30T23:59:60Z" },
			want: []string{"expiry.format@expires_at"}, detail: "leap second",
		},
		{name: "ttl zero", edit: func(r *GrantRequest) { r.ExpiresAt, r.TTL = "", "0s" }, want: []string{"expiry.format@ttl"}, detail: `ttl "0s" is zero`},
		{name: "ttl negative", edit: func(r *GrantRequest) { r.ExpiresAt, r.TTL = "", "-1h" }, want: []string{"expiry.format@ttl"}},
		{name: "ttl malformed", edit: func(r *GrantRequest) { r.ExpiresAt, r.TTL = "", "a week" }, want: []string{"expiry.format@ttl"}},
		{
			name: "ttl longer than any duration", edit: func(r *GrantRequest) { r.ExpiresAt, r.TTL = "", "100000w" },
			want: []string{"expiry.format@ttl"}, detail: "longer than the longest",
		},
		{
			name: "expires exactly now", edit: func(r *GrantRequest) { r.ExpiresAt = stampAt(0) },
			want: []string{"expiry.past@expires_at"}, detail: "is not after now (2026-06-01T12:00:00Z)",
		},
		{name: "expired a nanosecond ago", edit: func(r *GrantRequest) { r.ExpiresAt = stampAt(-1) }, want: []string{"expiry.past@expires_at"}},
		{name: "expires a nanosecond from now", edit: func(r *GrantRequest) { r.ExpiresAt = stampAt(1) }},
		{name: "expires exactly at max_ttl", edit: func(r *GrantRequest) { r.ExpiresAt = stampAt(7 * day) }},
		{
			name: "expires a nanosecond after max_ttl", edit: func(r *GrantRequest) { r.ExpiresAt = stampAt(7*day + 1) },
			want: []string{"expiry.max_ttl@expires_at"}, detail: `is later than 2026-06-08T12:00:00Z, the latest allowed by entitlement "payments-db-read"'s max_ttl of 7d`,
		},
		{name: "ttl exactly max_ttl", edit: func(r *GrantRequest) { r.ExpiresAt, r.TTL = "", "1w" }},
		{
			name: "ttl a nanosecond over max_ttl", edit: func(r *GrantRequest) { r.ExpiresAt, r.TTL = "", "7d1ns" },
			want: []string{"expiry.max_ttl@ttl"}, detail: `ttl "7d1ns" (expiry 2026-06-08T12:00:00.000000001Z) is later than 2026-06-08T12:00:00Z`,
		},

		// break-glass
		{
			name: "break-glass without approvers",
			edit: func(r *GrantRequest) {
				r.BreakGlass, r.Justification, r.Approvers, r.ExpiresAt, r.TTL = true, "outage", nil, "", "4h"
			},
		},
		{
			name: "break-glass with an unauthorised approver",
			edit: func(r *GrantRequest) {
				r.BreakGlass, r.Justification, r.Approvers, r.ExpiresAt, r.TTL = true, "outage", []string{"mallory"}, "", "1h"
			},
			want: []string{"approvers.unauthorised@approvers"},
		},
		{
			name: "break-glass over its own max_ttl",
			edit: func(r *GrantRequest) { r.BreakGlass, r.Justification, r.ExpiresAt, r.TTL = true, "outage", "", "4h1ns" },
			want: []string{"expiry.max_ttl@ttl"}, detail: `the latest allowed by entitlement "payments-db-read"'s break-glass max_ttl of 4h`,
		},
		{
			name: "break-glass within its own max_ttl with fewer approvals",
			edit: func(r *GrantRequest) {
				r.Entitlement, r.Principal, r.Approvers = "reports", "svc-reports", []string{"alice@example.com"}
				r.BreakGlass, r.Justification, r.ExpiresAt, r.TTL = true, "outage", "", "2h"
			},
		},
		{
			name: "break-glass over its own max_ttl where a normal grant would be allowed",
			edit: func(r *GrantRequest) {
				r.Entitlement, r.Principal, r.Approvers = "reports", "svc-reports", []string{"alice@example.com"}
				r.BreakGlass, r.Justification, r.ExpiresAt, r.TTL = true, "outage", "", "3h"
			},
			want: []string{"expiry.max_ttl@ttl"},
		},
		{
			name: "break-glass still needing an approval",
			edit: func(r *GrantRequest) {
				r.Entitlement, r.Principal, r.Approvers = "reports", "svc-reports", nil
				r.BreakGlass, r.Justification, r.ExpiresAt, r.TTL = true, "outage", "", "1h"
			},
			want: []string{"approvers.missing@approvers"},
		},
		{
			name: "break-glass not allowed",
			edit: func(r *GrantRequest) {
				r.Entitlement, r.TicketID, r.Approvers = "payments-db-write", "OPS-1", []string{"alice@example.com", "bob@example.com"}
				r.BreakGlass = true
			},
			want: []string{"break_glass.not_allowed@break_glass"}, detail: `entitlement "payments-db-write" has no break_glass rules`,
		},
		{
			name: "break-glass without justification",
			edit: func(r *GrantRequest) { r.BreakGlass, r.Justification, r.ExpiresAt, r.TTL = true, " ", "", "1h" },
			want: []string{"break_glass.justification@justification"},
		},

		// approval records
		{
			name: "approval record required", policy: strict, edit: func(r *GrantRequest) { r.Entitlement = "e" },
			want: []string{"approval.required@approval_id"},
		},
		{
			name: "approval record not resolved is the caller's to report", policy: strict,
			edit: func(r *GrantRequest) { r.Entitlement, r.ApprovalID = "e", "apr-404" },
		},
		{name: "approval record matches", edit: func(r *GrantRequest) { r.ApprovalID = "apr-1" }, approval: func(a *Approval) {}},
		{
			name: "approval record's approvers match after normalisation",
			edit: func(r *GrantRequest) {
				r.ApprovalID, r.Approvers = "apr-1", []string{"BOB@example.com"}
			},
			approval: func(a *Approval) { a.Approvers = []string{" Alice@example.com", "bob@EXAMPLE.com"} },
		},
		{
			// The target receives the principal as written: another spelling
			// is another role to PostgreSQL, so it is another scope.
			name:     "approval record's principal is matched exactly",
			edit:     func(r *GrantRequest) { r.ApprovalID, r.Principal = "apr-1", "SVC-payments-api" },
			approval: func(a *Approval) {},
			want:     []string{"approval.scope@principal"},
		},
		{
			name: "approval already used", edit: func(r *GrantRequest) { r.ApprovalID = "apr-1" },
			approval: func(a *Approval) { a.UsedBy = "grt_old" },
			want:     []string{"approval.used@approval_id"}, detail: `approval "apr-1" already authorised grant "grt_old"`,
		},
		{
			name: "approval withdrawn", edit: func(r *GrantRequest) { r.ApprovalID, r.TicketID = "apr-1", "SEC-9" },
			approval: func(a *Approval) { a.Withdrawn = true },
			want:     []string{"approval.withdrawn@approval_id"}, detail: `approval "apr-1" has been withdrawn`,
		},
		{
			name: "approval for another ticket", edit: func(r *GrantRequest) { r.TicketID = "SEC-9" }, approval: func(a *Approval) {},
			want: []string{"approval.scope@ticket_id"}, detail: `ticket_id "SEC-9" differs from approval "apr-1"'s ticket "SEC-1234"`,
		},
		{
			name: "approval for another principal", edit: func(r *GrantRequest) { r.Principal = "svc-payments-batch" }, approval: func(a *Approval) {},
			want: []string{"approval.scope@principal"},
		},
		{
			name: "approval for another entitlement",
			edit: func(r *GrantRequest) {
				r.Entitlement, r.TicketID, r.Approvers = "payments-db-write", "SEC-1234", []string{"alice@example.com", "bob@example.com"}
			},
			approval: func(a *Approval) {},
			want:     []string{"approval.scope@entitlement"},
		},
		{
			name: "approvers not on the record", edit: func(r *GrantRequest) { r.Approvers = []string{"alice@example.com", "carol@example.com"} },
			approval: func(a *Approval) {},
			want:     []string{"approval.scope@approvers"}, detail: `approver "carol@example.com" is not on approval "apr-1", which lists "alice@example.com", "bob@example.com"`,
		},
		{
			name: "expiry after the record's", edit: func(r *GrantRequest) { r.ExpiresAt = stampAt(48*time.Hour + 1) },
			approval: func(a *Approval) {},
			want:     []string{"approval.scope@expires_at"},
		},
		{name: "expiry at the record's", edit: func(r *GrantRequest) { r.ExpiresAt = stampAt(48 * time.Hour) }, approval: func(a *Approval) {}},
		{
			name: "ttl beyond the record's", edit: func(r *GrantRequest) { r.ExpiresAt, r.TTL = "", "3d" },
			approval: func(a *Approval) {},
			want:     []string{"approval.scope@ttl"},
		},
		{
			name: "approval exactly approval_max_age old", edit: func(r *GrantRequest) {},
			approval: func(a *Approval) { a.ApprovedAt = evalNow.Add(-7 * day) },
		},
		{
			name: "approval too old", edit: func(r *GrantRequest) {},
			approval: func(a *Approval) { a.ApprovedAt = evalNow.Add(-7*day - 1) },
			want:     []string{"approval.max_age@approval_id"}, detail: `the policy's approval_max_age is 7d`,
		},
		{
			name: "approval age unbounded without approval_max_age", policy: strict,
			edit: func(r *GrantRequest) {
				r.Entitlement, r.ApprovalID, r.Approvers = "e", "apr-1", []string{"bob@example.com"}
			},
			approval: func(a *Approval) { a.Entitlement, a.ApprovedAt = "e", evalNow.Add(-365*day) },
		},

		// unknown values
		{
			name: "approvers unknown", edit: func(r *GrantRequest) { r.Approvers, r.Unknown = nil, []string{AttrApprovers} },
			approval: func(a *Approval) {},
			want:     []string{"value.unknown@approvers"}, detail: "approvers will only be known during apply",
		},
		{
			name: "entitlement unknown at plan", edit: func(r *GrantRequest) {
				r.Entitlement, r.TicketID, r.Principal, r.Unknown = "", "OPS-1", "anyone", []string{AttrEntitlement}
			},
			want: []string{"value.unknown@entitlement"},
		},
		{
			name: "expiry unknown", edit: func(r *GrantRequest) { r.ExpiresAt, r.Unknown = "", []string{AttrExpiresAt} },
			want: []string{"value.unknown@expires_at"},
		},
		{
			name: "requester unknown", edit: func(r *GrantRequest) {
				r.Requester, r.Unknown, r.Approvers = "alice@example.com", []string{AttrRequester}, []string{"alice@example.com"}
			},
			want: []string{"value.unknown@requester"},
		},
		{
			name: "several unknown, in a stable order", edit: func(r *GrantRequest) {
				r.Unknown = []string{AttrApprovalID, AttrTicketID, "description", AttrTTL, AttrPrincipal}
			},
			want: []string{"value.unknown@ticket_id", "value.unknown@principal", "value.unknown@ttl", "value.unknown@approval_id"},
		},
		{
			name: "break_glass unknown: the lenient rules apply",
			edit: func(r *GrantRequest) { r.Approvers, r.Unknown, r.Justification = nil, []string{AttrBreakGlass}, "" },
			want: []string{"value.unknown@break_glass"},
		},
		{
			name: "break_glass unknown: refused under both rules",
			edit: func(r *GrantRequest) { r.ExpiresAt, r.Unknown = stampAt(8*day), []string{AttrBreakGlass} },
			want: []string{"value.unknown@break_glass", "expiry.max_ttl@expires_at"},
		},
		{
			name: "break_glass unknown where the entitlement has none",
			edit: func(r *GrantRequest) {
				r.Entitlement, r.TicketID, r.Approvers, r.Unknown = "payments-db-write", "OPS-1", nil, []string{AttrBreakGlass}
			},
			want: []string{"value.unknown@break_glass", "approvers.missing@approvers"},
		},

		// many problems at once, in guide order
		{
			name: "everything wrong",
			edit: func(r *GrantRequest) {
				*r = GrantRequest{Entitlement: "payments-db-read", Principal: "root", Approvers: []string{"dev@example.com"},
					Requester: "dev@example.com", TTL: "forever", BreakGlass: true}
			},
			want: []string{
				"ticket.missing@ticket_id", "principal.not_allowed@principal",
				"approvers.unauthorised@approvers", "approvers.separation@approvers",
				"expiry.format@ttl", "break_glass.justification@justification",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pol := p
			if tt.policy != nil {
				pol = tt.policy
			}
			req := validGrant()
			tt.edit(&req)
			var rec *Approval
			if tt.approval != nil {
				rec = validApprovalRecord()
				tt.approval(rec)
			}
			_, vs := pol.EvaluateGrant(req, rec, evalNow)
			got := ruleAttrs(vs)
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("violations = %q, want %q\n%s", got, tt.want, describe(vs))
			}
			if tt.detail != "" {
				found := false
				for _, v := range vs {
					found = found || strings.Contains(v.Detail, tt.detail)
				}
				if !found {
					t.Errorf("no detail contains %q:\n%s", tt.detail, describe(vs))
				}
			}
			for _, v := range vs {
				if v.Detail == "" || v.Rule.Fix == "" || strings.Contains(v.Detail, v.Rule.Fix) {
					t.Errorf("violation %s: detail %q must be specific and not repeat the fix", v.Rule.Name, v.Detail)
				}
			}
		})
	}
}

func describe(vs []Violation) string {
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "  %s on %s: %s\n", v.Rule.Name, v.Attribute, v.Detail)
	}
	return b.String()
}

func TestEvaluateGrantDecision(t *testing.T) {
	t.Parallel()
	p := mustParse(t, evalPolicy)

	req := validGrant()
	req.Approvers = []string{"  Carol@Example.com", "rene\u0301@example.com", "ALICE@example.com"}
	dec, vs := p.EvaluateGrant(req, nil, evalNow)
	if len(vs) != 0 {
		t.Fatalf("violations:\n%s", describe(vs))
	}
	if dec.Entitlement != p.Entitlements["payments-db-read"] {
		t.Errorf("Entitlement = %v", dec.Entitlement)
	}
	if !dec.ExpiresAt.Equal(evalNow.Add(24 * time.Hour)) {
		t.Errorf("ExpiresAt = %v", dec.ExpiresAt)
	}

	req.ExpiresAt, req.TTL = "", "1d12h"
	dec, vs = p.EvaluateGrant(req, nil, evalNow)
	if len(vs) != 0 {
		t.Fatalf("violations:\n%s", describe(vs))
	}
	if !dec.ExpiresAt.Equal(evalNow.Add(36*time.Hour)) || dec.ExpiresAt.Location() != time.UTC {
		t.Errorf("ExpiresAt = %v; want now+36h in UTC", dec.ExpiresAt)
	}
}

// A grant that re-uses the approval or the ticket of a grant in the ledger
// passes only by narrowing one that is in force, and the decision names the
// grant it takes the place of.
func TestEvaluateGrantReuse(t *testing.T) {
	t.Parallel()
	p := mustParse(t, evalPolicy)
	// held is the predecessor every case starts from: in force until now+24h.
	held := func() Predecessor {
		return Predecessor{ID: "grt_old", Principal: "svc-payments-api", Entitlement: "payments-db-read",
			ExpiresAt: evalNow.Add(24 * time.Hour), InForce: true}
	}
	ended := func(q *Predecessor) { q.InForce, q.Ended = false, "expired at 2026-06-01T11:00:00Z" }
	tests := []struct {
		name string
		edit func(*GrantRequest)
		// holder edits the approval's holder; nil means the request names no approval record.
		holder func(*Predecessor)
		// ticket edits the one earlier grant under the ticket; nil means there is none.
		ticket   func(*Predecessor)
		want     []string
		replaces string
		detail   string
	}{
		{name: "approval: a narrower successor takes over", edit: func(r *GrantRequest) { r.ApprovalID, r.ExpiresAt = "apr-1", stampAt(12*time.Hour) },
			holder: func(*Predecessor) {}, replaces: "grt_old"},
		{name: "approval: the same expiry still narrows", edit: func(r *GrantRequest) { r.ApprovalID = "apr-1" },
			holder: func(*Predecessor) {}, replaces: "grt_old"},
		{name: "approval: a later expiry is refused", edit: func(r *GrantRequest) { r.ApprovalID, r.ExpiresAt = "apr-1", stampAt(25*time.Hour) },
			holder: func(*Predecessor) {}, want: []string{"approval.used@expires_at"}, detail: `which expires at 2026-06-02T12:00:00Z`},
		{name: "approval: a later expiry by ttl is refused", edit: func(r *GrantRequest) { r.ApprovalID, r.ExpiresAt, r.TTL = "apr-1", "", "36h" },
			holder: func(*Predecessor) {}, want: []string{"approval.used@ttl"}},
		{name: "approval: a holder that expired is never succeeded", edit: func(r *GrantRequest) { r.ApprovalID, r.ExpiresAt = "apr-1", stampAt(time.Hour) },
			holder: ended, want: []string{"approval.used@approval_id"}, detail: `already authorised grant "grt_old", which expired at`},
		{name: "ticket: a narrower successor takes over", edit: func(r *GrantRequest) { r.ExpiresAt = stampAt(12 * time.Hour) },
			ticket: func(*Predecessor) {}, replaces: "grt_old"},
		{name: "ticket: a later expiry is refused", edit: func(r *GrantRequest) { r.ExpiresAt = stampAt(48 * time.Hour) },
			ticket: func(*Predecessor) {}, want: []string{"ticket.used@expires_at"},
			detail: `ticket "SEC-1234" already authorised grant "grt_old" of "payments-db-read" to "svc-payments-api", which expires at`},
		{name: "ticket: a grant that ended is never issued again", edit: func(r *GrantRequest) { r.ExpiresAt = stampAt(time.Hour) },
			ticket: ended, want: []string{"ticket.used@ticket_id"}, detail: `a grant that expired or was revoked is never issued again`},
		{name: "ticket: a new approval record is a new authority", edit: func(r *GrantRequest) { r.ApprovalID, r.ExpiresAt = "apr-1", stampAt(30*time.Hour) },
			holder: nil, ticket: ended},
		{name: "ticket: unknown approval_id is judged later", edit: func(r *GrantRequest) { r.Unknown = []string{AttrApprovalID} },
			ticket: ended, want: []string{"value.unknown@approval_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := validGrant()
			tt.edit(&req)
			var rec *Approval
			if req.ApprovalID != "" {
				rec = validApprovalRecord()
				if tt.holder != nil {
					h := held()
					tt.holder(&h)
					rec.UsedBy, rec.Holder = h.ID, &h
				}
			}
			if tt.ticket != nil {
				q := held()
				tt.ticket(&q)
				req.TicketGrants = []Predecessor{q}
			}
			dec, vs := p.EvaluateGrant(req, rec, evalNow)
			if got := ruleAttrs(vs); strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("violations = %q, want %q\n%s", got, tt.want, describe(vs))
			}
			if len(vs) == 0 && dec.Replaces != tt.replaces {
				t.Errorf("Replaces = %q, want %q", dec.Replaces, tt.replaces)
			}
			if tt.detail != "" && (len(vs) == 0 || !strings.Contains(vs[len(vs)-1].Detail, tt.detail)) {
				t.Errorf("no detail contains %q:\n%s", tt.detail, describe(vs))
			}
		})
	}
}

func validApprovalRequest() ApprovalRequest {
	return ApprovalRequest{
		TicketID:      "SEC-1234",
		Entitlement:   "payments-db-read",
		Principal:     "svc-payments-api",
		Approvers:     []string{"alice@example.com", "bob@example.com"},
		Justification: "Quarterly reconciliation",
		ExpiresAt:     stampAt(48 * time.Hour),
		Requester:     "dev@example.com",
		Requesters:    providerRequester("ci@example.com"),
	}
}

func TestEvaluateApproval(t *testing.T) {
	t.Parallel()
	p := mustParse(t, evalPolicy)
	tests := []struct {
		name   string
		edit   func(r *ApprovalRequest)
		want   []string
		detail string
	}{
		{name: "valid", edit: func(r *ApprovalRequest) {}},
		{name: "valid at max_ttl", edit: func(r *ApprovalRequest) { r.ExpiresAt = stampAt(7 * 24 * time.Hour) }},
		{name: "ticket missing", edit: func(r *ApprovalRequest) { r.TicketID = "" }, want: []string{"ticket.missing@ticket_id"}},
		{name: "ticket pattern", edit: func(r *ApprovalRequest) { r.TicketID = "OPS-1" }, want: []string{"ticket.pattern@ticket_id"}},
		{name: "entitlement unknown", edit: func(r *ApprovalRequest) { r.Entitlement = "nope" }, want: []string{"entitlement.unknown@entitlement"}},
		{name: "principal missing", edit: func(r *ApprovalRequest) { r.Principal = "" }, want: []string{"principal.missing@principal"}},
		{name: "principal not allowed", edit: func(r *ApprovalRequest) { r.Principal = "svc-x" }, want: []string{"principal.not_allowed@principal"}},
		{name: "approvers missing", edit: func(r *ApprovalRequest) { r.Approvers = nil }, want: []string{"approvers.missing@approvers"}},
		{
			name: "approvers duplicate", edit: func(r *ApprovalRequest) { r.Approvers = []string{"bob@example.com", "BOB@example.com"} },
			want: []string{"approvers.duplicate@approvers"},
		},
		{
			name: "approver unauthorised", edit: func(r *ApprovalRequest) { r.Approvers = []string{"alice@example.com", "eve"} },
			want: []string{"approvers.unauthorised@approvers"},
		},
		{
			name: "requester approves", edit: func(r *ApprovalRequest) { r.Requester, r.Approvers = "bob@example.com", []string{"bob@example.com"} },
			want: []string{"approvers.separation@approvers"},
		},
		{
			name: "too few approvers",
			edit: func(r *ApprovalRequest) {
				r.Entitlement, r.TicketID, r.Approvers, r.ExpiresAt = "payments-db-write", "OPS-1", []string{"alice@example.com"}, stampAt(time.Hour)
			},
			want: []string{"approvers.min_approvals@approvers"},
		},
		{name: "justification missing", edit: func(r *ApprovalRequest) { r.Justification = "\n" }, want: []string{"justification.missing@justification"}},
		{name: "expires_at missing", edit: func(r *ApprovalRequest) { r.ExpiresAt = "" }, want: []string{"expiry.missing@expires_at"}},
		{name: "expires_at malformed", edit: func(r *ApprovalRequest) { r.ExpiresAt = "2026-06-03" }, want: []string{"expiry.format@expires_at"}},
		{name: "expires_at now", edit: func(r *ApprovalRequest) { r.ExpiresAt = stampAt(0) }, want: []string{"expiry.past@expires_at"}},
		{
			name: "expires_at beyond max_ttl", edit: func(r *ApprovalRequest) { r.ExpiresAt = stampAt(7*24*time.Hour + 1) },
			want: []string{"expiry.max_ttl@expires_at"}, detail: `entitlement "payments-db-read"'s max_ttl of 7d`,
		},
		{
			name: "unknowns", edit: func(r *ApprovalRequest) {
				r.Justification, r.ExpiresAt, r.Unknown = "", "", []string{AttrJustification, AttrExpiresAt, AttrTTL}
			},
			want: []string{"value.unknown@expires_at", "value.unknown@justification"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := validApprovalRequest()
			tt.edit(&req)
			dec, vs := p.EvaluateApproval(req, evalNow)
			got := ruleAttrs(vs)
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("violations = %q, want %q\n%s", got, tt.want, describe(vs))
			}
			if tt.detail != "" && !strings.Contains(vs[0].Detail, tt.detail) {
				t.Errorf("detail %q does not contain %q", vs[0].Detail, tt.detail)
			}
			if len(tt.want) == 0 {
				if dec.Entitlement == nil || dec.Entitlement.Name != req.Entitlement || dec.ExpiresAt.IsZero() {
					t.Errorf("decision = %+v", dec)
				}
			}
		})
	}
}

func TestEntitlementUnknownListsAFew(t *testing.T) {
	t.Parallel()
	var src strings.Builder
	for i := 0; i < 8; i++ {
		fmt.Fprintf(&src, "entitlement \"e%d\" {\n  max_ttl = \"1h\"\n  approvers = [\"a\"]\n  principals = [\"*\"]\n}\n", i)
	}
	p := mustParse(t, src.String())
	_, vs := p.EvaluateGrant(GrantRequest{Entitlement: "x"}, nil, evalNow)
	want := `entitlement "x" is not defined in the policy, which defines "e0", "e1", "e2", "e3", "e4" and 3 more`
	for _, v := range vs {
		if v.Rule == RuleEntitlementUnknown {
			if v.Detail != want {
				t.Errorf("detail = %q, want %q", v.Detail, want)
			}
			return
		}
	}
	t.Errorf("no entitlement.unknown violation:\n%s", describe(vs))
}

func TestRulesAreDistinctAndDocumented(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, r := range Rules {
		if seen[r.Name] {
			t.Errorf("rule %q listed twice", r.Name)
		}
		seen[r.Name] = true
		if r.Summary == "" || r.Fix == "" || !strings.Contains(r.Name, ".") {
			t.Errorf("rule %+v is incomplete", r)
		}
	}
}

// benchPolicy is a catalogue of realistic size: a few groups and forty entitlements.
func benchPolicy(b *testing.B) *Policy {
	var src strings.Builder
	src.WriteString("ticket_pattern = \"^(SEC|OPS|INC)-[0-9]+$\"\napproval_max_age = \"7d\"\n")
	for g := 0; g < 5; g++ {
		fmt.Fprintf(&src, "approver_group \"team-%d\" {\n  members = [", g)
		for m := 0; m < 8; m++ {
			fmt.Fprintf(&src, "%q, ", fmt.Sprintf("Member%d.Team%d@Example.com", m, g))
		}
		src.WriteString("]\n}\n")
	}
	for e := 0; e < 40; e++ {
		fmt.Fprintf(&src, `entitlement "service-%d-db-read" {
  description   = "Read access to service %d"
  target        = "postgres.db%d"
  role          = "service_%d_read"
  max_ttl       = "7d"
  approvers     = ["group:team-%d", "group:team-%d", "lead%d@example.com"]
  min_approvals = 2
  principals    = ["svc-service-%d-*", "spiffe://prod/ns/service-%d/*"]
  break_glass {
    max_ttl = "4h"
    min_approvals = 1
  }
}
`, e, e, e%3, e, e%5, (e+1)%5, e, e, e)
	}
	p, err := Parse("bench.hcl", []byte(src.String()))
	if err != nil {
		b.Fatal(err)
	}
	return p
}

func BenchmarkEvaluateGrant(b *testing.B) {
	p := benchPolicy(b)
	req := GrantRequest{
		Principal:   "spiffe://prod/ns/service-17/sa/api",
		Entitlement: "service-17-db-read",
		TicketID:    "SEC-40211",
		Approvers:   []string{"member3.team2@example.com", "Member5.Team3@Example.com"},
		TTL:         "3d",
		ApprovalID:  "apr-1",
		Requester:   "dev@example.com",
		Requesters:  providerRequester("ci-bot@example.com"),
	}
	rec := &Approval{
		ID: "apr-1", TicketID: req.TicketID, Entitlement: req.Entitlement, Principal: req.Principal,
		Approvers: []string{"member3.team2@example.com", "member5.team3@example.com"},
		ExpiresAt: evalNow.Add(5 * 24 * time.Hour), ApprovedAt: evalNow.Add(-time.Hour),
	}
	if _, vs := p.EvaluateGrant(req, rec, evalNow); len(vs) != 0 {
		b.Fatalf("benchmark request is refused:\n%s", describe(vs))
	}
	b.ReportAllocs()
	for b.Loop() {
		p.EvaluateGrant(req, rec, evalNow)
	}
}

// Messages show times to the second: the clock's fractions of a second say
// nothing to a reader.
func TestMessagesShowSeconds(t *testing.T) {
	t.Parallel()
	pol := mustParse(t, evalPolicy)
	now := evalNow.Add(123456789 * time.Nanosecond)
	for name, edit := range map[string]func(*GrantRequest){
		"past":    func(r *GrantRequest) { r.ExpiresAt = stampAt(-time.Hour) },
		"max_ttl": func(r *GrantRequest) { r.ExpiresAt, r.TTL = "", "30d" },
	} {
		req := validGrant()
		edit(&req)
		_, vs := pol.EvaluateGrant(req, nil, now)
		if len(vs) != 1 {
			t.Fatalf("%s: want one violation:\n%s", name, describe(vs))
		}
		if strings.Contains(vs[0].Detail, ".123") || !strings.Contains(vs[0].Detail, "T12:00:00Z") {
			t.Errorf("%s: %s", name, vs[0].Detail)
		}
	}
}
