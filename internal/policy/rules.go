package policy

import "strings"

// Rule names a policy check. Every refusal carries exactly one rule, so a user can
// look it up in the policy guide and a reviewer can grep for it.
type Rule struct {
	// Name is the stable identifier shown in diagnostics, e.g. "ticket.pattern".
	Name string
	// Summary says what the rule demands, in one sentence.
	Summary string
	// Fix says how to comply, in one sentence.
	Fix string
}

// The rules, in the order the guide lists them. Diagnostics and docs both draw
// their text from this list.
var (
	RuleTicketMissing = Rule{"ticket.missing", "Every grant and approval carries a ticket.", "Set ticket_id to the ticket that carries the request."}
	RuleTicketPattern = Rule{"ticket.pattern", "The ticket must match the entitlement's ticket_pattern (or the policy's default).", "Use a ticket from the tracker the policy names."}
	RuleTicketUsed    = Rule{"ticket.used", "A ticket that authorised a grant authorises no other grant of that entitlement to that principal without a new approval, except a narrower one (expiry no later) that takes the place of a grant still in force; a grant that expired or was revoked is never issued again under its ticket.", "Record a new approval for this grant (a governed_approval_record) and point approval_id at it, or use the new ticket that carries the request for more access."}

	RuleEntitlementUnknown = Rule{"entitlement.unknown", "The entitlement must be defined in the policy.", "Use one of the entitlements the policy defines, or add it to the policy first."}
	RulePrincipalMissing   = Rule{"principal.missing", "Every grant and approval names the identity that receives access.", "Set principal."}
	RulePrincipalAllowed   = Rule{"principal.not_allowed", "The principal must match one of the entitlement's principals patterns.", "Grant to a principal the entitlement allows, or widen its principals in the policy."}

	RuleApproversMissing      = Rule{"approvers.missing", "Every grant and approval names who approved it; only a break-glass grant whose rules need no approval may name none.", "List the approvers in approvers."}
	RuleApproversDuplicate    = Rule{"approvers.duplicate", "Each approver counts once; names that differ only by case, spacing or Unicode form are the same approver.", "List every approver once."}
	RuleApproversUnauthorised = Rule{"approvers.unauthorised", "Every approver must be one of the entitlement's approvers (groups expanded).", "Ask someone with authority over this entitlement to approve."}
	RuleApproversSeparation   = Rule{"approvers.separation", "No requester may approve: not the resource's requester, not the provider's, and not the pipeline's (from its environment). Identities are compared through the policy's identity aliases.", "Ask an approver who is none of the requesters."}
	RuleRequesterBlank        = Rule{"requester.blank", "A requester must name someone, wherever it is set (the pipeline's environment, the provider's requester, a resource's requester): a blank one would hide who asked.", "Name the requester, or leave the setting out."}
	RuleApproversMinimum      = Rule{"approvers.min_approvals", "The number of distinct authorised approvers, requesters aside, must reach the entitlement's min_approvals. Where an approver is refused under a rule of its own (approvers.duplicate, approvers.unauthorised, approvers.separation), this rule is reported only if replacing that approver would still fall short: one mistake, one error.", "Collect more approvals from the entitlement's approvers."}

	RuleExpiryMissing = Rule{"expiry.missing", "Every grant has exactly one of expires_at or ttl; every approval has expires_at.", "Set expires_at (RFC 3339 with offset) or ttl (a duration such as \"8h\" or \"7d\")."}
	RuleExpiryFormat  = Rule{"expiry.format", "expires_at is an RFC 3339 timestamp with an explicit offset; ttl is a positive duration.", "Write expires_at like \"2026-12-01T17:00:00Z\" and ttl like \"36h\", \"7d\" or \"2w\"."}
	RuleExpiryPast    = Rule{"expiry.past", "The expiry must be after now.", "Choose an expiry in the future."}
	RuleExpiryMaxTTL  = Rule{"expiry.max_ttl", "The expiry may be at most the entitlement's max_ttl (break-glass: its own max_ttl) from now.", "Shorten the expiry, and renew later under a new approval if access is still needed."}

	RuleApprovalRequired  = Rule{"approval.required", "The policy requires every grant to point at a governed_approval_record.", "Set approval_id to the id of an approval record for this grant."}
	RuleApprovalNotFound  = Rule{"approval.not_found", "The approval record must exist in the ledger.", "Record the approval first, or fix approval_id."}
	RuleApprovalWithdrawn = Rule{"approval.withdrawn", "A withdrawn approval authorises nothing.", "Record a new approval."}
	RuleApprovalScope     = Rule{"approval.scope", "The grant must stay inside its approval: same ticket, principal and entitlement, approvers on the record, expiry no later than the record's.", "Align the grant with its approval record, or record a new approval that covers it."}
	RuleApprovalRecorded  = Rule{"approval.recorded", "An approval id is recorded once: a record the ledger already holds, active or withdrawn, is never recorded again, so a withdrawn approval stays withdrawn and approval_max_age counts from the first recording.", "Record a new approval (a record whose ticket, justification, expiry or approvers differ gets a new id); to manage a record that is still active, import it instead."}
	RuleApprovalUsed      = Rule{"approval.used", "An approval record authorises one grant in force at a time: a replacement may re-use it only to narrow the grant it authorised while that grant is in force (same principal and entitlement, expiry no later); a renewal, a wider grant, or a grant after that one expired or was revoked needs a new approval.", "Record a new approval for this grant and point approval_id at it, or keep the expiry within that of the grant it replaces."}
	RuleApprovalMaxAge    = Rule{"approval.max_age", "An approval must be used within the policy's approval_max_age.", "Record a fresh approval."}

	RuleBreakGlassNotAllowed    = Rule{"break_glass.not_allowed", "Break-glass grants need a break_glass block on the entitlement.", "Request a normal grant, or add break-glass rules to the entitlement in the policy."}
	RuleBreakGlassJustification = Rule{"break_glass.justification", "A break-glass grant must say why.", "Set justification."}
	RuleJustificationMissing    = Rule{"justification.missing", "Every approval record says why access is needed.", "Set justification."}

	RuleTargetNotConfigured = Rule{"target.not_configured", "An entitlement's target must be configured in the provider: target postgres.NAME needs NAME in the provider's postgres_targets. Nothing is granted where it cannot be enforced.", "Add the target to the provider's postgres_targets (NAME = { url = \"postgres://role@host:5432/database\" }), or use an entitlement whose target is configured."}
	RuleTargetName          = Rule{"target.name", "A principal or role enforced in a PostgreSQL target must be a name PostgreSQL keeps whole: at most 63 bytes, no NUL.", "Use the role's exact name in the database."}
	RuleRoleUnknown         = Rule{"target.role_unknown", "The entitlement's role must exist in its PostgreSQL target.", "Create the role in the database first, or fix role in the policy."}
	RulePrincipalUnknown    = Rule{"target.principal_unknown", "The principal must be an existing role in the entitlement's PostgreSQL target.", "Create the principal's login role in the database first, or fix principal."}
	RuleRolePrivileged      = Rule{"target.role_privileged", "A granted role may not carry SUPERUSER, CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS, belong to a built-in role that reaches past the database (" + strings.Join(PrivilegedBuiltinRoles, ", ") + ") or hold the admin option on other roles, itself or through the roles it belongs to.", "Grant a role with only the privileges the workload needs; administrative roles are not handed out through grants."}
	RuleRoleAdminOption     = Rule{"target.admin_option", "Roles are never granted WITH ADMIN OPTION, and a principal that already administers the role outside governed cannot receive it through a grant.", "Drop the admin option from the role in the policy, or revoke the principal's admin option in the database."}
	RuleProviderPrivilege   = Rule{"target.provider_privilege", "The provider's own role in a PostgreSQL target must be able to grant and revoke the entitlement's role: it holds the role WITH ADMIN OPTION (before PostgreSQL 16, CREATEROLE also does for a role that is not a superuser). Without it the GRANT would fail at apply.", "As a superuser or an administrator of the role, run GRANT role TO provider_role WITH ADMIN OPTION in the target database, naming the entitlement's role and the provider's login role (in PostgreSQL 16 and later, add INHERIT FALSE, SET FALSE so that the provider cannot use the role itself)."}

	// Access that a REVOKE would leave behind: what these rules refuse could
	// be passed on or kept by a member, so the grant could not be taken back
	// whole.
	RulePrincipalGroup  = Rule{"target.principal_group", "The principal must be a role without members: every role that belongs to it would hold the granted role through it, without a grant of its own, unseen by the grant's checks and with sessions that a revocation does not end.", "Grant to each workload's own login role, or remove the members from the principal's role (REVOKE principal FROM member)."}
	RuleRoleOwner       = Rule{"target.role_owner", "A granted role, and every role it belongs to, may own nothing: no database, schema, table or other object, in any database of the server. A member can act as the owner, give the owner's privileges to itself directly, and keep them after the REVOKE.", "Give the objects to a role that is never granted (ALTER ... OWNER TO, or REASSIGN OWNED BY role TO owner) and grant the governed role only the privileges it needs on them."}
	RuleRoleGrantOption = Rule{"target.role_grant_option", "A granted role, and every role it belongs to, may hold no privilege WITH GRANT OPTION, on an object of the target's database, on a database or tablespace, or through default privileges: a member could grant the privilege to itself and keep it after the REVOKE.", "Take the grant option away and keep the privilege: REVOKE GRANT OPTION FOR privilege ON object FROM role (ALTER DEFAULT PRIVILEGES ... REVOKE GRANT OPTION FOR ... for default privileges)."}
	RuleRoleBuiltin     = Rule{"target.role_builtin", "A granted role may not be or belong to a built-in role (pg_monitor, pg_read_all_stats, pg_read_all_settings, pg_stat_scan_tables and the like), itself or through the roles it belongs to: they show other sessions' queries and the server's settings, which a member can copy and keep, and reach past the grant's database.", "Remove the built-in role from the governed role (REVOKE pg_monitor FROM role); monitoring access is given apart from grants."}
	RuleRoleLogin       = Rule{"target.role_login", "A granted role, and every role it belongs to, must be NOLOGIN: a member can act as a login role and set its password (ALTER ROLE ... PASSWORD), then log in as it after the REVOKE.", "Make the role NOLOGIN (ALTER ROLE role NOLOGIN), or grant a NOLOGIN role that holds the privileges instead."}

	RuleSignatureMissing   = Rule{"signature.missing", "Where the policy has approval_signatures, every approver of an approval record signs its statement with an SSH key, and every grant (except a break-glass grant whose rules need no approval) points at a signed record.", "Have the approver sign the statement with the command shown (ssh-keygen -Y sign -n " + SignatureNamespace + ") and add the signature to the record's signatures, usually with file(\"approvals/TICKET/NAME.sig\"); for a grant, set approval_id to a signed record."}
	RuleSignatureInvalid   = Rule{"signature.invalid", "A signature must be an armored SSH signature that verifies over the approval's exact statement.", "Sign the statement shown in the plan, as it is, and commit the .sig file unchanged; a statement changes whenever the record's arguments do."}
	RuleSignatureNamespace = Rule{"signature.namespace", "A signature counts only in namespace " + SignatureNamespace + ", and only with a key whose namespaces= option in allowed_signers allows it.", "Sign with ssh-keygen -Y sign -n " + SignatureNamespace + "; if allowed_signers restricts the key's namespaces, add " + SignatureNamespace + "."}
	RuleSignatureSigner    = Rule{"signature.signer", "A signature counts only with a key that the policy's allowed_signers file lists for that approver.", "Sign with the key allowed_signers lists for you, or have the file's owners add your key (a change reviewed apart from the grant)."}
	RuleSignatureValidity  = Rule{"signature.validity", "A key counts only inside its valid-after and valid-before times in allowed_signers.", "Sign with a key that is valid now, or have the file's owners renew the key's validity."}
	RuleSignatureRevoked   = Rule{"signature.revoked", "A key listed in the policy's revoked_keys never counts.", "Sign with a key that is not revoked; a revoked key must be replaced in allowed_signers."}
	RuleSignatureSharedKey = Rule{"signature.shared_key", "One key counts for one approver: two approvers who sign with the same key are one signer.", "Each approver signs with a key of their own."}
	RuleSignatureRequester = Rule{"signature.requester", "A key that allowed_signers lists for a requester never counts as an approval: nobody approves their own request.", "Have an approver other than the requester sign."}

	RuleValueUnknown = Rule{"value.unknown", "Every value a decision depends on must be known at plan time, so that the plan shows what will be granted.", "Use literal values or values known before apply, not another resource's computed output."}
)

// Rules lists every rule, in guide order.
var Rules = []Rule{
	RuleTicketMissing, RuleTicketPattern, RuleTicketUsed,
	RuleEntitlementUnknown, RulePrincipalMissing, RulePrincipalAllowed,
	RuleApproversMissing, RuleApproversDuplicate, RuleApproversUnauthorised, RuleApproversSeparation, RuleApproversMinimum,
	RuleRequesterBlank,
	RuleExpiryMissing, RuleExpiryFormat, RuleExpiryPast, RuleExpiryMaxTTL,
	RuleApprovalRequired, RuleApprovalNotFound, RuleApprovalRecorded, RuleApprovalWithdrawn, RuleApprovalScope, RuleApprovalUsed,
	RuleApprovalMaxAge,
	RuleBreakGlassNotAllowed, RuleBreakGlassJustification, RuleJustificationMissing,
	RuleSignatureMissing, RuleSignatureInvalid, RuleSignatureNamespace, RuleSignatureSigner, RuleSignatureValidity,
	RuleSignatureRevoked, RuleSignatureSharedKey, RuleSignatureRequester,
	RuleTargetNotConfigured, RuleTargetName, RuleRoleUnknown, RulePrincipalUnknown, RuleRolePrivileged, RuleRoleAdminOption, RuleProviderPrivilege,
	RulePrincipalGroup, RuleRoleOwner, RuleRoleGrantOption, RuleRoleBuiltin, RuleRoleLogin,
	RuleValueUnknown, RuleValueTooLong, RuleValueControl,
}
