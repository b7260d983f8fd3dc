package policy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A document past the size or nesting limit is refused before the parser
// sees it, with a diagnostic: never a stack overflow.
func TestDocumentLimits(t *testing.T) {
	t.Parallel()
	nested := func(opening, closing string, n int) string {
		return "x = " + strings.Repeat(opening, n) + "1" + strings.Repeat(closing, n) + "\n"
	}
	for name, tc := range map[string]struct {
		filename, src, want string
	}{
		"6 MB of brackets":      {"p.hcl", nested("[", "]", 3<<20), "Policy document too large"},
		"brackets":              {"p.hcl", nested("[", "]", MaxDocumentNesting+1), "Policy document nested too deeply"},
		"parentheses":           {"p.hcl", nested("(", ")", 1000), "Policy document nested too deeply"},
		"unary operators":       {"p.hcl", "x = " + strings.Repeat("!", 100000) + "true\n", "Policy document nested too deeply"},
		"negations with spaces": {"p.hcl", "x = " + strings.Repeat("- ", 1000) + "1\n", "Policy document nested too deeply"},
		"interpolations":        {"p.hcl", `x = "` + strings.Repeat("${[", 1000) + "1" + strings.Repeat("]}", 1000) + "\"\n", "Policy document nested too deeply"},
		"JSON":                  {"p.json", `{"x": ` + strings.Repeat("[", 1<<20) + strings.Repeat("]", 1<<20) + "}", "Policy document too large"},
		"JSON nesting":          {"p.json", `{"x": ` + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + "}", "Policy document nested too deeply"},
	} {
		_, err := Parse(tc.filename, []byte(tc.src))
		var pe *ParseError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	// Within the limits: a document is parsed as usual, and dashes in
	// comments and strings are not operators.
	within := "# " + strings.Repeat("-", 200) + "\n" + nested("[", "]", MaxDocumentNesting-1) +
		`y = "` + strings.Repeat("-", 200) + "\"\n"
	if _, err := Parse("p.hcl", []byte(within)); err != nil && strings.Contains(err.Error(), "Policy document") {
		t.Errorf("a document within the limits: %v", err)
	}
	if _, err := Parse("p.hcl", []byte(evalPolicy)); err != nil {
		t.Errorf("the test policy: %v", err)
	}
}

// Values past their limits, or with control characters, are refused at plan
// under one rule each; so are offsets a ledger cannot keep.
func TestValueLimits(t *testing.T) {
	t.Parallel()
	pol := mustParse(t, evalPolicy)
	for name, tc := range map[string]struct {
		edit func(*GrantRequest)
		want string
	}{
		"NUL in the principal":     {func(r *GrantRequest) { r.Principal = "svc-payments-api\x00" }, "value.control_character@principal"},
		"escape in an approver":    {func(r *GrantRequest) { r.Approvers = []string{"alice@example.com\x1b[2J"} }, "value.control_character@approvers"},
		"newline in the ticket":    {func(r *GrantRequest) { r.TicketID = "SEC-1\nSEC-2" }, "value.control_character@ticket_id"},
		"NUL in the justification": {func(r *GrantRequest) { r.Justification = "why\x00" }, "value.control_character@justification"},
		"a 6.4 MB justification":   {func(r *GrantRequest) { r.Justification = strings.Repeat("why ", 1600000) }, "value.too_long@justification"},
		"a long principal":         {func(r *GrantRequest) { r.Principal = "svc-payments-" + strings.Repeat("a", MaxIdentityBytes) }, "value.too_long@principal"},
		"too many approvers":       {func(r *GrantRequest) { r.Approvers = make([]string, MaxApprovers+1) }, "value.too_long@approvers"},
		"an offset past 15:59":     {func(r *GrantRequest) { r.ExpiresAt = "2026-06-02T12:00:00-23:59" }, "expiry.format@expires_at"},
	} {
		req := validGrant()
		tc.edit(&req)
		_, vs := pol.EvaluateGrant(req, nil, evalNow)
		if got := strings.Join(ruleAttrs(vs), " "); got != tc.want {
			t.Errorf("%s: violations %q, want %q (one mistake, one error)\n%s", name, got, tc.want, describe(vs))
		}
	}
	// Tab and newline are prose; spaces around a name are not looked at.
	req := validGrant()
	req.Justification, req.Principal = "line one\n\tline two", " svc-payments-api "
	if _, vs := pol.EvaluateGrant(req, nil, evalNow); len(vs) != 0 {
		t.Errorf("a justification with tab and newline:\n%s", describe(vs))
	}
	// The offset's limit holds for approvals too.
	a := validApprovalRequest()
	a.ExpiresAt = evalNow.Add(time.Hour).In(time.FixedZone("", 16*3600)).Format(time.RFC3339)
	if _, vs := pol.EvaluateApproval(a, evalNow); strings.Join(ruleAttrs(vs), " ") != "expiry.format@expires_at" {
		t.Errorf("an approval with offset +16:00:\n%s", describe(vs))
	}
}
