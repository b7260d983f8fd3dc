package evidence

import "strings"

// Control maps one control of a framework auditors test against to the
// columns of the evidence that answer it.
type Control struct {
	Framework string   `json:"framework"`
	ID        string   `json:"id"`
	Asks      string   `json:"asks"`
	Columns   []string `json:"columns"`
	How       string   `json:"how"`
}

// Controls is the control mapping, in the JSON and in the guide "Evidence for
// auditors". What each control asks is summarised in our words; the
// framework's own text is the authority.
var Controls = []Control{
	{
		Framework: "SOC 2 (2017 Trust Services Criteria)", ID: "CC6.2",
		Asks:    "Access is registered and authorised before credentials are issued, and removed when no longer authorised.",
		Columns: []string{"principal", "entitlement", "ticket_id", "requesters", "approvers", "min_approvals", "signatures", "signer_keys", "approval_id", "statement_digest", "granted_at", "authorised", "authorised_events"},
		How:     "Every grant issued in the period, with the approval recorded before it (authorised_events lists the approval and issue events in order) and, where signatures are required, the approvers' verified keys.",
	},
	{
		Framework: "SOC 2 (2017 Trust Services Criteria)", ID: "CC6.3",
		Asks:    "Access is authorised, changed and removed according to roles and least privilege, with segregation of duties.",
		Columns: []string{"entitlement", "target", "role", "requesters", "approvers", "policy_digest", "expires_at", "max_ttl", "status", "decided_at", "access_removed_at", "reason", "time_bound", "revoked_on_time", "revoked_on_time_events"},
		How:     "The role each grant gave, under the policy (by digest) that judged it; requesters are never among the approvers; each grant's expiry within max_ttl and the removal of its access, with the events that record it.",
	},
	{
		Framework: "ISO/IEC 27001:2022 Annex A", ID: "A.5.18",
		Asks:    "Access rights are provisioned, reviewed, changed and removed according to the access control policy.",
		Columns: []string{"policy_digest", "approvers", "authorised", "granted_at", "expires_at", "status", "decided_at", "access_removed_at", "lateness", "overdue", "revoked_on_time"},
		How:     "The whole population of grants with their provisioning, their policy and their removal; overdue marks access still in force past its expiry.",
	},
	{
		Framework: "NIST CSF 2.0", ID: "PR.AA-05",
		Asks:    "Access permissions are defined in policy, managed, enforced and reviewed, with least privilege and separation of duties.",
		Columns: []string{"policy_digest", "entitlement", "role", "max_ttl", "ttl", "requesters", "approvers", "min_approvals", "authorised", "time_bound", "revoked_on_time"},
		How:     "Each grant against the policy document the ledger keeps under policy_digest; the three verdicts are the review.",
	},
	{
		Framework: "OWASP Non-Human Identities Top 10 (2025)", ID: "NHI1",
		Asks:    "Improper offboarding: access of non-human identities left in place after it is no longer needed.",
		Columns: []string{"principal", "expires_at", "status", "access_removed_at", "lateness", "overdue", "revoked_on_time", "revoked_on_time_events"},
		How:     "Every grant's access removed by its expiry (within max_lateness) or flagged overdue while still in force.",
	},
	{
		Framework: "OWASP Non-Human Identities Top 10 (2025)", ID: "NHI5",
		Asks:    "Overprivileged non-human identities: more access than the workload needs.",
		Columns: []string{"principal", "entitlement", "target", "role", "break_glass", "justification", "approvers"},
		How:     "Each role given to each principal, named in the policy's catalogue, with break-glass grants flagged for review.",
	},
	{
		Framework: "OWASP Non-Human Identities Top 10 (2025)", ID: "NHI7",
		Asks:    "Long-lived secrets and access that never expire.",
		Columns: []string{"ttl", "granted_at", "expires_at", "max_ttl", "time_bound", "lateness", "overdue"},
		How:     "No grant without an expiry; each expiry within the entitlement's max_ttl at issue.",
	},
}

// controlIDs lists the controls, for one line of text.
func controlIDs() string {
	ids := make([]string, len(Controls))
	for i, c := range Controls {
		ids[i] = c.ID
	}
	return strings.Join(ids, ", ")
}
