package provider

import (
	"fmt"
	"strings"
	"time"
)

// The configurations tests apply are built by the small functions in this
// file, each from the values a test cares about, never by editing the text of
// another configuration.

// q quotes s as an HCL string.
func q(s string) string { return fmt.Sprintf("%q", s) }

// grantArgs are a governed_grant's arguments, as HCL expressions by name.
// The keys create_before_destroy and provider set those meta-arguments.
type grantArgs map[string]string

// grantArgOrder is the order in which hcl writes a grant's arguments.
var grantArgOrder = []string{"principal", "entitlement", "ticket_id", "approvers", "expires_at", "ttl", "approval_id", "justification", "requester", "break_glass"}

// validGrant is a grant of payments-db-read that the test policy allows;
// tests override what they test.
func validGrant() grantArgs {
	return grantArgs{
		"principal":   `"svc-payments-api"`,
		"entitlement": `"payments-db-read"`,
		"ticket_id":   `"SEC-101"`,
		"approvers":   `["alice@example.com"]`,
		"ttl":         `"8h"`,
	}
}

// appGrant is a grant of a pgWorld's app-read to principal under ticket.
func appGrant(principal, ticket string) grantArgs {
	return grantArgs{
		"principal":   q(principal),
		"entitlement": `"app-read"`,
		"ticket_id":   q(ticket),
		"approvers":   `["alice@example.com"]`,
		"ttl":         `"8h"`,
	}
}

// with returns a copy of g with pairs of name and value set; an empty value
// removes the argument.
func (g grantArgs) with(kv ...string) grantArgs {
	out := grantArgs{}
	for k, v := range g {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(out, kv[i])
		} else {
			out[kv[i]] = kv[i+1]
		}
	}
	return out
}

// hcl is the governed_grant resource called name.
func (g grantArgs) hcl(name string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "resource \"governed_grant\" %q {\n", name)
	if v, ok := g["provider"]; ok {
		fmt.Fprintf(&b, "  provider = %s\n", v)
	}
	for _, k := range grantArgOrder {
		if v, ok := g[k]; ok {
			fmt.Fprintf(&b, "  %s = %s\n", k, v)
		}
	}
	if v, ok := g["create_before_destroy"]; ok {
		fmt.Fprintf(&b, "\n  lifecycle {\n    create_before_destroy = %s\n  }\n", v)
	}
	b.WriteString("}\n")
	return b.String()
}

// approvedGrant is an approval record of payments-db-read for
// svc-payments-api, a grant under it, and, when gated, a built-in resource
// that exists only while the grant is active.
type approvedGrant struct {
	ttl           string // the grant's ttl
	justification string // the approval's justification
	gated         bool
}

// nightlyRead is the approved grant the lifecycle tests start from.
func nightlyRead() approvedGrant {
	return approvedGrant{ttl: "2d", justification: "Nightly reconciliation reads settled payments", gated: true}
}

func (a approvedGrant) hcl() string {
	config := approvalHCL("read", "SEC-101", "alice@example.com", a.justification, at(5*24*time.Hour)) +
		validGrant().with("approval_id", "governed_approval_record.read.id", "ttl", q(a.ttl)).hcl("read")
	if a.gated {
		config += `
resource "terraform_data" "gated" {
  count = governed_grant.read.active ? 1 : 0
  input = governed_grant.read.id
}
`
	}
	return config
}

// approvalHCL is the approval record called name, of payments-db-read for
// svc-payments-api.
func approvalHCL(name, ticket, approver, justification, expires string) string {
	return fmt.Sprintf(`
resource "governed_approval_record" %q {
  ticket_id     = %q
  entitlement   = "payments-db-read"
  principal     = "svc-payments-api"
  approvers     = [%q]
  justification = %q
  expires_at    = %q
}
`, name, ticket, approver, justification, expires)
}

// targetEntitlement is a policy entitlement called name that grants role in
// the target postgres.app.
func targetEntitlement(name, role string) string {
	return fmt.Sprintf(`
entitlement %q {
  target     = "postgres.app"
  role       = %q
  max_ttl    = "1d"
  approvers  = ["alice@example.com"]
  principals = ["svc-*"]
}
`, name, role)
}

// aliasedProvider is a second provider "governed" block, aliased alias, with
// args (HCL expressions by name) in the order given as pairs.
func aliasedProvider(alias string, args ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nprovider \"governed\" {\n  alias = %q\n", alias)
	for i := 0; i+1 < len(args); i += 2 {
		fmt.Fprintf(&b, "  %s = %s\n", args[i], args[i+1])
	}
	b.WriteString("}\n")
	return b.String()
}

// heredoc writes text as an HCL heredoc expression, as a policy given inline
// usually is.
func heredoc(text string) string {
	return "<<-EOT\n" + text + "\nEOT"
}
