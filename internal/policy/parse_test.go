package policy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// specPolicy is the example document of SPEC section 3, with a second group and
// entitlement so that group expansion and defaults are exercised.
const specPolicy = `
ticket_pattern     = "^(SEC|OPS)-[0-9]+$"   # default for every entitlement
approval_max_age   = "7d"                   # an approval must be used within this long
require_approval_record = false             # grants must point at a governed_approval_record

approver_group "security" {
  members = ["alice@example.com", "Bob@Example.com "]
}

entitlement "payments-db-read" {
  description   = "Read-only access to the payments database"
  target        = "ledger"
  role          = "payments_read"
  max_ttl       = "7d"
  approvers     = ["group:security", "carol@example.com"]
  min_approvals = 1
  principals    = ["svc-payments-*"]
  ticket_pattern = "^SEC-[0-9]+$"
  break_glass {
    max_ttl       = "4h"
    min_approvals = 0
  }
}

entitlement "payments-db-write" {
  target     = "postgres.payments"
  role       = "payments_write"
  max_ttl    = "1d12h"
  approvers  = ["group:security"]
  min_approvals = 2
  principals = ["svc-payments-api", "spiffe://prod/ns/payments/*"]
}
`

const specPolicyJSON = `{
  "ticket_pattern": "^(SEC|OPS)-[0-9]+$",
  "approval_max_age": "7d",
  "require_approval_record": true,
  "approver_group": {
    "security": {"members": ["alice@example.com", "Bob@Example.com "]}
  },
  "entitlement": {
    "payments-db-read": {
      "description": "Read-only access to the payments database",
      "max_ttl": "7d",
      "approvers": ["group:security", "carol@example.com"],
      "principals": ["svc-payments-*"],
      "ticket_pattern": "^SEC-[0-9]+$",
      "break_glass": {"max_ttl": "4h"}
    },
    "payments-db-write": {
      "target": "postgres.payments",
      "role": "payments_write",
      "max_ttl": "1d12h",
      "approvers": ["group:security"],
      "min_approvals": 2,
      "principals": ["svc-payments-api", "spiffe://prod/ns/payments/*"]
    }
  }
}`

func mustParse(t testing.TB, src string) *Policy {
	t.Helper()
	p, err := Parse("policy.hcl", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

func TestParseSpecExample(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, filename, src string
		requireRecord       bool
	}{
		{"hcl", "policy.hcl", specPolicy, false},
		{"json by name", "policy.json", specPolicyJSON, true},
		{"json by content", "policy", specPolicyJSON, true},
		{"json inline", "", "  \n" + specPolicyJSON, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := Parse(tc.filename, []byte(tc.src))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if p.TicketPattern == nil || p.TicketPattern.String() != "^(SEC|OPS)-[0-9]+$" {
				t.Errorf("TicketPattern = %v", p.TicketPattern)
			}
			if p.ApprovalMaxAge != 7*24*time.Hour {
				t.Errorf("ApprovalMaxAge = %v", p.ApprovalMaxAge)
			}
			if p.RequireApprovalRecord != tc.requireRecord {
				t.Errorf("RequireApprovalRecord = %v", p.RequireApprovalRecord)
			}
			if got := strings.Join(p.Groups["security"], ","); got != "alice@example.com,bob@example.com" {
				t.Errorf("Groups[security] = %q, want normalised members", got)
			}
			if got := strings.Join(p.EntitlementNames(), ","); got != "payments-db-read,payments-db-write" {
				t.Errorf("EntitlementNames = %q", got)
			}

			read := p.Entitlements["payments-db-read"]
			if read.Name != "payments-db-read" || read.Description != "Read-only access to the payments database" {
				t.Errorf("read = %+v", read)
			}
			if read.Target != TargetLedger || read.MaxTTL != 7*24*time.Hour || read.MinApprovals != 1 {
				t.Errorf("read target/max_ttl/min = %q/%v/%d", read.Target, read.MaxTTL, read.MinApprovals)
			}
			if read.TicketPattern == nil || read.TicketPattern.String() != "^SEC-[0-9]+$" {
				t.Errorf("read.TicketPattern = %v", read.TicketPattern)
			}
			if read.BreakGlass == nil || read.BreakGlass.MaxTTL != 4*time.Hour || read.BreakGlass.MinApprovals != 0 {
				t.Errorf("read.BreakGlass = %+v", read.BreakGlass)
			}
			if got := strings.Join(read.Approvers, ","); got != "group:security,carol@example.com" {
				t.Errorf("read.Approvers = %q", got)
			}
			set := read.ApproverSet(p)
			if len(set) != 3 || !set["alice@example.com"] || !set["bob@example.com"] || !set["carol@example.com"] {
				t.Errorf("read.ApproverSet = %v", set)
			}

			write := p.Entitlements["payments-db-write"]
			if write.Target != "postgres.payments" || write.Role != "payments_write" || write.MinApprovals != 2 {
				t.Errorf("write = %+v", write)
			}
			if write.MaxTTL != 36*time.Hour || write.BreakGlass != nil || write.TicketPattern != nil {
				t.Errorf("write max_ttl/break_glass/pattern = %v/%v/%v", write.MaxTTL, write.BreakGlass, write.TicketPattern)
			}
			if got := strings.Join(write.Principals, ","); got != "svc-payments-api,spiffe://prod/ns/payments/*" {
				t.Errorf("write.Principals = %q", got)
			}
		})
	}
}

func TestParseMinimal(t *testing.T) {
	t.Parallel()
	p := mustParse(t, `
entitlement "e" {
  max_ttl    = "1h"
  approvers  = ["Alice@Example.com"]
  principals = ["SVC-*"]
}`)
	e := p.Entitlements["e"]
	if p.TicketPattern != nil || p.ApprovalMaxAge != 0 || p.RequireApprovalRecord || len(p.Groups) != 0 {
		t.Errorf("policy defaults = %+v", p)
	}
	if e.Target != TargetLedger || e.MinApprovals != 1 || e.BreakGlass != nil || e.Role != "" {
		t.Errorf("entitlement defaults = %+v", e)
	}
	if e.Approvers[0] != "alice@example.com" || e.Principals[0] != "svc-*" {
		t.Errorf("identities not normalised: %q %q", e.Approvers, e.Principals)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	// A valid entitlement body to build broken documents from.
	const body = `max_ttl = "1h"
  approvers = ["alice@example.com", "bob@example.com"]
  principals = ["svc-*"]`
	tests := []struct {
		name     string
		filename string
		src      string
		want     []string // each must appear in the error, positions included
	}{
		{
			name: "syntax error",
			src:  "entitlement \"e\" {\n  max_ttl = \n}\n",
			want: []string{"policy.hcl:2,"},
		},
		{
			name: "unclosed block",
			src:  "entitlement \"e\" {\n  " + body + "\n",
			want: []string{"policy.hcl:"},
		},
		{
			name: "unknown top-level attribute",
			src:  "entitlement \"e\" {\n  " + body + "\n}\nticket_patern = \"x\"\n",
			want: []string{"policy.hcl:6,1: Unsupported argument", `"ticket_patern"`},
		},
		{
			name: "unknown block",
			src:  "entitlement \"e\" {\n  " + body + "\n}\n\nrole \"r\" {\n}\n",
			want: []string{"policy.hcl:7,1: Unsupported block type", `"role"`},
		},
		{
			name: "unknown attribute in entitlement",
			src:  "entitlement \"e\" {\n  " + body + "\n  owner = \"x\"\n}\n",
			want: []string{"policy.hcl:5,3: Unsupported argument", `"owner"`},
		},
		{
			name: "unknown block in entitlement",
			src:  "entitlement \"e\" {\n  " + body + "\n  audit {\n  }\n}\n",
			want: []string{"policy.hcl:5,3: Unsupported block type", `"audit"`},
		},
		{
			name: "unknown attribute in break_glass",
			src:  "entitlement \"e\" {\n  " + body + "\n  break_glass {\n    max_ttl = \"1h\"\n    ttl = \"1h\"\n  }\n}\n",
			want: []string{"policy.hcl:7,5: Unsupported argument", `"ttl"`},
		},
		{
			name:     "unknown property in json",
			filename: "policy.json",
			src:      "{\n  \"entitlement\": {\"e\": {\"max_ttl\": \"1h\", \"approvers\": [\"a\"], \"principals\": [\"p\"]}},\n  \"colour\": \"blue\"\n}",
			want:     []string{"policy.json:3,3:", `"colour"`},
		},
		{
			name:     "bad json syntax",
			filename: "policy.json",
			src:      "{\n  \"entitlement\": {,}\n}",
			want:     []string{"policy.json:2,"},
		},
		{
			name: "empty policy",
			src:  "",
			want: []string{"policy.hcl:1,1: Empty policy", "The policy defines no entitlement"},
		},
		{
			name: "only settings",
			src:  "ticket_pattern = \"^SEC-\"\napprover_group \"g\" {\n  members = [\"a\"]\n}\n",
			want: []string{"policy.hcl:", "The policy defines no entitlement"},
		},
		{
			name:     "empty policy, unnamed",
			filename: "-",
			src:      "   \n",
			want:     []string{"-:1,4: Empty policy"},
		},
		{
			name: "missing required attributes",
			src:  "entitlement \"e\" {\n}\n",
			want: []string{`policy.hcl:1,17: Missing required argument: The argument "approvers" is required`, `"max_ttl" is required`, `"principals" is required`},
		},
		{
			name: "bad default ticket_pattern",
			src:  "ticket_pattern = \"^(SEC\"\nentitlement \"e\" {\n  " + body + "\n}\n",
			want: []string{"policy.hcl:1,18: Invalid ticket_pattern", "not a valid regular expression", "missing closing )"},
		},
		{
			name: "bad entitlement ticket_pattern",
			src:  "entitlement \"e\" {\n  " + body + "\n  ticket_pattern = \"[\"\n}\n",
			want: []string{"policy.hcl:5,20: Invalid ticket_pattern", "not a valid regular expression"},
		},
		{
			name: "empty ticket_pattern",
			src:  "entitlement \"e\" {\n  " + body + "\n  ticket_pattern = \"\"\n}\n",
			want: []string{"policy.hcl:5,20: Invalid ticket_pattern", "is empty"},
		},
		{
			name: "bad max_ttl",
			src:  "entitlement \"e\" {\n  max_ttl = \"7 days\"\n  approvers = [\"a\"]\n  principals = [\"p\"]\n}\n",
			want: []string{"policy.hcl:2,13: Invalid max_ttl", `Duration "7 days" has unknown unit " days"`},
		},
		{
			name: "zero max_ttl",
			src:  "entitlement \"e\" {\n  max_ttl = \"0s\"\n  approvers = [\"a\"]\n  principals = [\"p\"]\n}\n",
			want: []string{"policy.hcl:2,13: Invalid max_ttl", "is zero"},
		},
		{
			name: "negative max_ttl",
			src:  "entitlement \"e\" {\n  max_ttl = \"-1h\"\n  approvers = [\"a\"]\n  principals = [\"p\"]\n}\n",
			want: []string{"policy.hcl:2,13: Invalid max_ttl", "has a sign"},
		},
		{
			name: "bad approval_max_age",
			src:  "approval_max_age = \"7\"\nentitlement \"e\" {\n  " + body + "\n}\n",
			want: []string{"policy.hcl:1,20: Invalid approval_max_age", "without a unit"},
		},
		{
			name: "bad break_glass max_ttl",
			src:  "entitlement \"e\" {\n  " + body + "\n  break_glass {\n    max_ttl = \"soon\"\n  }\n}\n",
			want: []string{"policy.hcl:6,15: Invalid max_ttl"},
		},
		{
			name: "break_glass without max_ttl",
			src:  "entitlement \"e\" {\n  " + body + "\n  break_glass {\n  }\n}\n",
			want: []string{"policy.hcl:5,", `The argument "max_ttl" is required`},
		},
		{
			name: "two break_glass blocks",
			src:  "entitlement \"e\" {\n  " + body + "\n  break_glass {\n    max_ttl = \"1h\"\n  }\n  break_glass {\n    max_ttl = \"2h\"\n  }\n}\n",
			want: []string{"policy.hcl:8,3: Duplicate break_glass block", "policy.hcl:5,3"},
		},
		{
			name: "require_approval_record not a bool",
			src:  "require_approval_record = \"sometimes\"\nentitlement \"e\" {\n  " + body + "\n}\n",
			want: []string{"policy.hcl:1,27: Invalid require_approval_record", "must be bool"},
		},
		{
			name: "unknown group",
			src:  "approver_group \"ops\" {\n  members = [\"a\"]\n}\nentitlement \"e\" {\n  max_ttl = \"1h\"\n  approvers = [\"carol\", \"group:security\"]\n  principals = [\"p\"]\n}\n",
			want: []string{"policy.hcl:6,25: Unknown approver group", `group "security", which is not defined; defined groups: "ops"`},
		},
		{
			name: "duplicate group",
			src:  "approver_group \"g\" {\n  members = [\"a\"]\n}\napprover_group \"g\" {\n  members = [\"b\"]\n}\nentitlement \"e\" {\n  max_ttl = \"1h\"\n  approvers = [\"group:g\"]\n  principals = [\"p\"]\n}\n",
			want: []string{"policy.hcl:4,16: Duplicate approver group", "already defined at policy.hcl:1,1"},
		},
		{
			name: "duplicate entitlement",
			src:  "entitlement \"e\" {\n  " + body + "\n}\nentitlement \"e\" {\n  " + body + "\n}\n",
			want: []string{"policy.hcl:6,13: Duplicate entitlement", "already defined at policy.hcl:1,1"},
		},
		{
			name: "group with no members",
			src:  "approver_group \"g\" {\n  members = []\n}\nentitlement \"e\" {\n  max_ttl = \"1h\"\n  approvers = [\"group:g\"]\n  min_approvals = 0\n  principals = [\"p\"]\n}\n",
			want: []string{"policy.hcl:2,13: Empty approver group", `group "g" has no members`},
		},
		{
			name: "group without members attribute",
			src:  "approver_group \"g\" {\n}\nentitlement \"e\" {\n  " + body + "\n}\n",
			want: []string{"policy.hcl:1,20: Missing required argument", `"members" is required`},
		},
		{
			name: "group member duplicate by normalisation",
			src:  "approver_group \"g\" {\n  members = [\"Ren\u00e9@x\", \"rene\u0301@x\"]\n}\nentitlement \"e\" {\n  " + body + "\n}\n",
			want: []string{"policy.hcl:2,", "Duplicate group member", "same identity"},
		},
		{
			name: "group within a group",
			src:  "approver_group \"g\" {\n  members = [\"group:h\"]\n}\nentitlement \"e\" {\n  " + body + "\n}\n",
			want: []string{"policy.hcl:2,14: Invalid group member", "cannot contain another group"},
		},
		{
			name: "empty group member",
			src:  "approver_group \"g\" {\n  members = [\"a\", \" \"]\n}\nentitlement \"e\" {\n  " + body + "\n}\n",
			want: []string{"policy.hcl:2,19: Invalid group member", "Member 2"},
		},
		{
			name: "bad target",
			src:  "entitlement \"e\" {\n  " + body + "\n  target = \"mysql.orders\"\n}\n",
			want: []string{"policy.hcl:5,12: Invalid target", `"mysql.orders"`, `"postgres.NAME"`},
		},
		{
			name: "postgres target without a name",
			src:  "entitlement \"e\" {\n  " + body + "\n  target = \"postgres.\"\n  role = \"r\"\n}\n",
			want: []string{"policy.hcl:5,12: Invalid target"},
		},
		{
			name: "postgres target without a role",
			src:  "entitlement \"e\" {\n  " + body + "\n  target = \"postgres.payments\"\n}\n",
			want: []string{"policy.hcl:5,12: Missing role"},
		},
		{
			name: "no approvers",
			src:  "entitlement \"e\" {\n  max_ttl = \"1h\"\n  approvers = []\n  principals = [\"p\"]\n}\n",
			want: []string{"policy.hcl:3,15: Missing approvers"},
		},
		{
			name: "approvers not a list",
			src:  "entitlement \"e\" {\n  max_ttl = \"1h\"\n  approvers = \"alice\"\n  principals = [\"p\"]\n}\n",
			want: []string{"policy.hcl:3,15: Invalid approvers", "must be a list of strings"},
		},
		{
			name: "approver not a string",
			src:  "entitlement \"e\" {\n  max_ttl = \"1h\"\n  approvers = [\"a\", [\"b\"]]\n  principals = [\"p\"]\n}\n",
			want: []string{"policy.hcl:3,", "Invalid approvers", "Element 2"},
		},
		{
			name: "duplicate approver",
			src:  "entitlement \"e\" {\n  max_ttl = \"1h\"\n  approvers = [\"alice@x\", \" ALICE@x\"]\n  principals = [\"p\"]\n}\n",
			want: []string{"policy.hcl:3,27: Duplicate approver"},
		},
		{
			name: "empty approver",
			src:  "entitlement \"e\" {\n  max_ttl = \"1h\"\n  approvers = [\"\"]\n  principals = [\"p\"]\n}\n",
			want: []string{"policy.hcl:3,16: Invalid approver"},
		},
		{
			name: "no principals",
			src:  "entitlement \"e\" {\n  max_ttl = \"1h\"\n  approvers = [\"a\"]\n  principals = []\n}\n",
			want: []string{"policy.hcl:4,16: Missing principals"},
		},
		{
			name: "empty principal",
			src:  "entitlement \"e\" {\n  max_ttl = \"1h\"\n  approvers = [\"a\"]\n  principals = [\"p\", \"\"]\n}\n",
			want: []string{"policy.hcl:4,", "Invalid principal pattern"},
		},
		{
			name: "duplicate principal pattern",
			src:  "entitlement \"e\" {\n  max_ttl = \"1h\"\n  approvers = [\"a\"]\n  principals = [\"svc-*\", \"SVC-*\"]\n}\n",
			want: []string{"policy.hcl:4,26: Duplicate principal pattern"},
		},
		{
			name:     "null required value in json",
			filename: "policy.json",
			src:      "{\"entitlement\": {\"e\": {\"max_ttl\": null, \"approvers\": [\"a\"], \"principals\": [\"p\"]}}}",
			want:     []string{"policy.json:1,35: Missing max_ttl", "may not be null"},
		},
		{
			name: "negative min_approvals",
			src:  "entitlement \"e\" {\n  " + body + "\n  min_approvals = -1\n}\n",
			want: []string{"policy.hcl:5,19: Invalid min_approvals", "at least 0"},
		},
		{
			name: "fractional min_approvals",
			src:  "entitlement \"e\" {\n  " + body + "\n  min_approvals = 1.5\n}\n",
			want: []string{"policy.hcl:5,19: Invalid min_approvals", "whole number"},
		},
		{
			name: "min_approvals beyond the approvers",
			src:  "entitlement \"e\" {\n  " + body + "\n  min_approvals = 3\n}\n",
			want: []string{"policy.hcl:5,19: Unreachable min_approvals", "requires 3 approvals but has only 2 distinct approvers"},
		},
		{
			name: "min_approvals beyond the approvers, groups overlapping",
			src:  "approver_group \"g\" {\n  members = [\"Alice\", \"bob\"]\n}\nentitlement \"e\" {\n  max_ttl = \"1h\"\n  approvers = [\"group:g\", \"alice\"]\n  min_approvals = 3\n  principals = [\"p\"]\n}\n",
			want: []string{"policy.hcl:7,19: Unreachable min_approvals", "only 2 distinct approvers"},
		},
		{
			name: "break_glass min_approvals above the entitlement's",
			src:  "entitlement \"e\" {\n  " + body + "\n  break_glass {\n    max_ttl = \"1h\"\n    min_approvals = 2\n  }\n}\n",
			want: []string{"policy.hcl:7,21: Invalid break_glass min_approvals", "(2) is more than entitlement \"e\"'s min_approvals (1)"},
		},
		{
			name: "break_glass max_ttl longer than the entitlement's",
			src:  "entitlement \"e\" {\n  " + body + "\n  break_glass {\n    max_ttl = \"365d\"\n  }\n}\n",
			want: []string{"policy.hcl:6,15: Invalid break_glass max_ttl", "is longer than entitlement \"e\"'s max_ttl"},
		},
		{
			name: "variables are not available",
			src:  "entitlement \"e\" {\n  max_ttl = var.ttl\n  approvers = [\"a\"]\n  principals = [\"p\"]\n}\n",
			want: []string{"policy.hcl:2,13: Variables not allowed"},
		},
		{
			name: "empty entitlement name",
			src:  "entitlement \"\" {\n  " + body + "\n}\n",
			want: []string{"policy.hcl:1,13: Invalid entitlement name"},
		},
		{
			name: "several problems at once",
			src:  "entitlement \"e\" {\n  max_ttl = \"1y\"\n  approvers = [\"group:nobody\"]\n  principals = [\"p\"]\n  target = \"s3\"\n}\n",
			want: []string{"policy.hcl:2,13: Invalid max_ttl", "policy.hcl:3,16: Unknown approver group", "policy.hcl:5,12: Invalid target"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			filename := tt.filename
			if filename == "" {
				filename = "policy.hcl"
			}
			p, err := Parse(filename, []byte(tt.src))
			if err == nil {
				t.Fatalf("Parse succeeded with %d entitlements, want an error", len(p.Entitlements))
			}
			if p != nil {
				t.Errorf("Parse returned a policy along with an error")
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error is %T, want *ParseError", err)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not contain %q:\n%s", w, msg)
				}
			}
			for _, m := range pe.Messages() {
				if !strings.HasPrefix(m, filename+":") {
					t.Errorf("message %q does not start with the file name", m)
				}
			}
		})
	}
}

func TestParseErrorFormat(t *testing.T) {
	t.Parallel()
	_, err := Parse("access-policy.hcl", []byte("entitlement \"e\" {\n  max_ttl = \"0s\"\n  approvers = [\"group:x\"]\n  principals = [\"p\"]\n}\n"))
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error is %T (%v), want *ParseError", err, err)
	}
	want := []string{
		`access-policy.hcl:2,13: Invalid max_ttl: Duration "0s" is zero; expected a positive number followed by a unit`,
		`access-policy.hcl:3,16: Unknown approver group: Entitlement "e" refers to approver group "x", which is not defined; defined groups: none.`,
	}
	msgs := pe.Messages()
	if len(msgs) != len(want) {
		t.Fatalf("got %d messages, want %d:\n%s", len(msgs), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(msgs[i], w) {
			t.Errorf("message %d = %q, want it to start with %q", i, msgs[i], w)
		}
	}
	if err.Error() != strings.Join(msgs, "\n") {
		t.Errorf("Error() = %q, want the messages one per line", err.Error())
	}
}

func TestParseEdgeCases(t *testing.T) {
	t.Parallel()
	// Groups may be defined after the entitlements that use them; a group
	// reference is matched without regard to the case of "group:".
	p := mustParse(t, `
entitlement "e" {
  max_ttl    = "1h"
  approvers  = ["Group:late"]
  min_approvals = 0
  principals = ["p"]
}
approver_group "late" {
  members = ["x@example.com"]
}`)
	e := p.Entitlements["e"]
	if e.MinApprovals != 0 || e.Approvers[0] != "group:late" || !e.ApproverSet(p)["x@example.com"] {
		t.Errorf("entitlement = %+v", e)
	}
	// The set returned is a copy.
	e.ApproverSet(p)["mallory"] = true
	if e.ApproverSet(p)["mallory"] {
		t.Errorf("ApproverSet exposes the entitlement's own set")
	}
	// A break-glass max_ttl equal to the normal one is allowed.
	p = mustParse(t, `
entitlement "e" {
  max_ttl    = "1d"
  approvers  = ["a"]
  principals = ["p"]
  break_glass {
    max_ttl = "1d"
    min_approvals = 1
  }
}`)
	if bg := p.Entitlements["e"].BreakGlass; bg.MaxTTL != 24*time.Hour || bg.MinApprovals != 1 {
		t.Errorf("break_glass = %+v", bg)
	}
}

func TestApproverSetWithoutParse(t *testing.T) {
	t.Parallel()
	p := &Policy{Groups: map[string][]string{"sec": {"Alice"}}}
	e := &Entitlement{Approvers: []string{"group:sec", " Carol "}}
	set := e.ApproverSet(p)
	if len(set) != 2 || !set["alice"] || !set["carol"] {
		t.Errorf("ApproverSet = %v", set)
	}
}
