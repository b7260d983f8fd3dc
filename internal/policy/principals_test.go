package policy

import (
	"strings"
	"testing"
)

// Names that reach a target are matched exactly (SPEC §3): a PostgreSQL
// target grants to the exact role named, so a principal that differs from
// the patterns only by case or Unicode form is another role, refused. A
// ledger-only entitlement records identities, compared folded.
func TestPrincipalsReachingATargetMatchExactly(t *testing.T) {
	t.Parallel()
	pol := mustParse(t, `
entitlement "pg" {
  target     = "postgres.app"
  role       = "payments_read"
  max_ttl    = "1d"
  approvers  = ["alice@example.com"]
  principals = ["svc-payments-*", "SVC-Reports"]
}
entitlement "recorded" {
  max_ttl    = "1d"
  approvers  = ["alice@example.com"]
  principals = ["svc-payments-*"]
}
`)
	pg, recorded := pol.Entitlements["pg"], pol.Entitlements["recorded"]
	for principal, want := range map[string]bool{
		"svc-payments-api":   true,
		"SVC-PAYMENTS-ADMIN": false,
		"Svc-Payments-Api":   false,
		"SVC-Reports":        true,
		"svc-reports":        false,
		" svc-payments-api":  false,
	} {
		if got := pg.AllowsPrincipal(principal); got != want {
			t.Errorf("postgres.app allows %q: %v, want %v", principal, got, want)
		}
	}
	if !recorded.AllowsPrincipal("SVC-PAYMENTS-API") {
		t.Error("a ledger-only entitlement no longer compares principals as identities")
	}
	if pg.SamePrincipal("svc-a", "SVC-A") || !recorded.SamePrincipal("svc-a", "SVC-A") {
		t.Error("SamePrincipal: exact for postgres.app, folded for the ledger")
	}

	// Patterns that differ only by case are two patterns for a PostgreSQL
	// target, one for the ledger.
	base := "entitlement \"e\" {\n  max_ttl = \"1d\"\n  approvers = [\"a@example.com\"]\n  principals = [\"svc-a\", \"SVC-A\"]\n%s}\n"
	if _, err := Parse("", []byte(strings.Replace(base, "%s", "  target = \"postgres.app\"\n  role = \"r\"\n", 1))); err != nil {
		t.Errorf("case-distinct patterns for a PostgreSQL target: %v", err)
	}
	if _, err := Parse("", []byte(strings.Replace(base, "%s", "", 1))); err == nil || !strings.Contains(err.Error(), "Duplicate principal pattern") {
		t.Errorf("case-distinct patterns for the ledger: %v, want a duplicate", err)
	}

	// A grant to another spelling is refused at plan.
	req := GrantRequest{Principal: "SVC-PAYMENTS-ADMIN", Entitlement: "pg", TicketID: "SEC-1",
		Approvers: []string{"alice@example.com"}, TTL: "1h", Requester: "dev@example.com"}
	if _, vs := pol.EvaluateGrant(req, nil, evalNow); strings.Join(ruleAttrs(vs), " ") != "principal.not_allowed@principal" {
		t.Errorf("grant to SVC-PAYMENTS-ADMIN:\n%s", describe(vs))
	}
	// Under a ticket that authorised svc-payments-api, another spelling is
	// another role, not a narrowing of that grant.
	req.Principal = "svc-payments-API"
	pol.Entitlements["pg"].Principals = append(pol.Entitlements["pg"].Principals, "svc-payments-API")
	req.TicketGrants = []Predecessor{{ID: "grt_1", Principal: "svc-payments-api", Entitlement: "pg", InForce: true, ExpiresAt: evalNow.Add(2 * 3600e9)}}
	if _, vs := pol.EvaluateGrant(req, nil, evalNow); strings.Join(ruleAttrs(vs), " ") != "ticket.used@principal" {
		t.Errorf("another spelling under the same ticket:\n%s", describe(vs))
	}
}
