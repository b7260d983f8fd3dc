package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// grantConfigCase is one governed_grant configuration: its attributes as
// Terraform values (absent ones null), and whether it is valid and would
// be granted (plain) by the test's policy in a verified world.
type grantConfigCase struct {
	name  string
	attrs map[string]tftypes.Value
	// valid: ValidateResourceConfig has nothing to say; plain: a plan of a
	// new grant has nothing to say either (in the verified world).
	valid, plain bool
}

func grantConfigCases(approvalID string) []grantConfigCase {
	str := func(s string) tftypes.Value { return tftypes.NewValue(tftypes.String, s) }
	set := func(ss ...string) tftypes.Value {
		elems := []tftypes.Value{}
		for _, s := range ss {
			elems = append(elems, str(s))
		}
		return tftypes.NewValue(tftypes.Set{ElementType: tftypes.String}, elems)
	}
	unknown := tftypes.NewValue(tftypes.String, tftypes.UnknownValue)
	later := testNow.Add(48 * time.Hour).Format(time.RFC3339)
	base := func(change func(m map[string]tftypes.Value)) map[string]tftypes.Value {
		m := map[string]tftypes.Value{
			"principal": str("svc-payments-api"), "entitlement": str("payments-db-read"), "ticket_id": str("SEC-1234"),
			"approvers": set("alice@example.com"), "ttl": str("8h"),
		}
		if change != nil {
			change(m)
		}
		return m
	}
	return []grantConfigCase{
		{"ttl", base(nil), true, true},
		{"expires_at", base(func(m map[string]tftypes.Value) { delete(m, "ttl"); m["expires_at"] = str(later) }), true, true},
		{"requester set", base(func(m map[string]tftypes.Value) { m["requester"] = str("other@example.com") }), true, true},
		{"break_glass false", base(func(m map[string]tftypes.Value) { m["break_glass"] = tftypes.NewValue(tftypes.Bool, false) }), true, true},
		{"two approvers", base(func(m map[string]tftypes.Value) { m["approvers"] = set("bob@example.com", "alice@example.com") }), true, true},
		{"justification", base(func(m map[string]tftypes.Value) { m["justification"] = str("quarterly report") }), true, true},
		{"long principal", base(func(m map[string]tftypes.Value) { m["principal"] = str("svc-payments-" + strings.Repeat("x", 200)) }), true, true},
		{"approval record", base(func(m map[string]tftypes.Value) {
			m["approval_id"], m["principal"], m["ticket_id"] = str(approvalID), str("svc-payments-k"), str("SEC-901")
		}), true, false}, // re-uses the record's ticket: judged, maybe with a note
		{"unknown approval record", base(func(m map[string]tftypes.Value) { m["approval_id"] = str("apr_missing") }), true, false},
		{"break-glass", base(func(m map[string]tftypes.Value) {
			m["break_glass"], m["justification"], m["ttl"] = tftypes.NewValue(tftypes.Bool, true), str("INC-7"), str("2h")
		}), true, false}, // a warning
		{"ticket refused", base(func(m map[string]tftypes.Value) { m["ticket_id"] = str("JIRA-1") }), true, false},
		{"principal refused", base(func(m map[string]tftypes.Value) { m["principal"] = str("human-bob") }), true, false},
		{"approver refused", base(func(m map[string]tftypes.Value) { m["approvers"] = set("mallory@example.com") }), true, false},
		{"requester approves", base(func(m map[string]tftypes.Value) { m["approvers"] = set("dev@example.com", "alice@example.com") }), true, false},
		{"no approvers", base(func(m map[string]tftypes.Value) { m["approvers"] = set() }), true, false},
		{"ttl too long", base(func(m map[string]tftypes.Value) { m["ttl"] = str("30d") }), true, false},
		{"unknown entitlement", base(func(m map[string]tftypes.Value) { m["entitlement"] = str("root") }), true, false},
		{"ttl and expires_at", base(func(m map[string]tftypes.Value) { m["expires_at"] = str(later) }), true, false},
		{"neither ttl nor expires_at", base(func(m map[string]tftypes.Value) { delete(m, "ttl") }), true, false},
		{"expires_at in the past", base(func(m map[string]tftypes.Value) {
			delete(m, "ttl")
			m["expires_at"] = str(testNow.Add(-time.Hour).Format(time.RFC3339))
		}), true, false},
		{"bad timestamp", base(func(m map[string]tftypes.Value) { delete(m, "ttl"); m["expires_at"] = str("tomorrow") }), false, false},
		{"bad ttl", base(func(m map[string]tftypes.Value) { m["ttl"] = str("8 hours") }), false, false},
		{"blank requester", base(func(m map[string]tftypes.Value) { m["requester"] = str("  ") }), false, false},
		{"empty approval_id", base(func(m map[string]tftypes.Value) { m["approval_id"] = str("") }), false, false},
		{"empty justification", base(func(m map[string]tftypes.Value) { m["justification"] = str("") }), false, false},
		{"no principal", base(func(m map[string]tftypes.Value) { delete(m, "principal") }), false, false},
		{"no approvers set", base(func(m map[string]tftypes.Value) { delete(m, "approvers") }), false, false},
		{"id configured", base(func(m map[string]tftypes.Value) { m["id"] = str("grt_mine") }), false, false},
		{"status configured", base(func(m map[string]tftypes.Value) { m["status"] = str("active") }), false, false},
		{"active configured", base(func(m map[string]tftypes.Value) { m["active"] = tftypes.NewValue(tftypes.Bool, true) }), false, false},
		{"principal unknown", base(func(m map[string]tftypes.Value) { m["principal"] = unknown }), true, false},
		{"ttl unknown", base(func(m map[string]tftypes.Value) { m["ttl"] = unknown }), true, false},
		{"approvers unknown", base(func(m map[string]tftypes.Value) {
			m["approvers"] = tftypes.NewValue(tftypes.Set{ElementType: tftypes.String}, tftypes.UnknownValue)
		}), true, false},
		{"approver unknown", base(func(m map[string]tftypes.Value) {
			m["approvers"] = tftypes.NewValue(tftypes.Set{ElementType: tftypes.String}, []tftypes.Value{str("alice@example.com"), unknown})
		}), true, false},
	}
}

// grantValue is a governed_grant object with attrs set and every other
// attribute null.
func grantValue(attrs map[string]tftypes.Value) tftypes.Value {
	t := grantObjectType()
	all := map[string]tftypes.Value{}
	for name, at := range t.AttributeTypes {
		all[name] = tftypes.NewValue(at, nil)
		if v, ok := attrs[name]; ok {
			all[name] = v
		}
	}
	return tftypes.NewValue(t, all)
}

func mustDynamicValue(t *testing.T, v tftypes.Value) *tfprotov6.DynamicValue {
	t.Helper()
	dv, err := tfprotov6.NewDynamicValue(grantObjectType(), v)
	if err != nil {
		t.Fatal(err)
	}
	return &dv
}

// proposedNewGrant is what Terraform proposes for a new grant of config:
// the configuration, computed attributes it leaves out null.
func proposedNewGrant(config map[string]tftypes.Value) tftypes.Value {
	return grantValue(config)
}

// TestGrantConfigPathsAreTheFramework: the provider's server answers
// ValidateResourceConfig, UpgradeResourceState and the plan of a new grant
// for governed_grant itself (validateGrantConfigDirect,
// upgradeGrantStateDirect, planGrantCreateDirect) with exactly the response
// the framework gives, over valid and invalid configurations, grants the
// policy allows and refuses, unknown values, states as apply wrote them,
// edited, of an older shape or unreadable, and in every world a run can be
// in (a ledger that verifies, a run that may only remove access, a ledger
// that does not verify, one that does not extend its checkpoint). Every
// answer with a diagnostic is the framework's.
func TestGrantConfigPathsAreTheFramework(t *testing.T) {
	t.Parallel()
	for _, world := range []string{"verified", "revoke-only", "unverified", "checkpoint refused"} {
		t.Run(world, func(t *testing.T) {
			t.Parallel()
			testGrantConfigPaths(t, world)
		})
	}
}

func testGrantConfigPaths(t *testing.T, world string) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "governed.db")
	l, err := ledger.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	at := testNow.Add(-time.Hour)
	doc := []byte(testPolicy)
	if err := l.KeepPolicy(ctx, policy.DocumentDigest(doc), doc, at); err != nil {
		t.Fatal(err)
	}
	kept, err := l.RecordApproval(ctx, ledger.Approval{ID: "apr_kept", TicketID: "SEC-901", Entitlement: "payments-db-read",
		Principal: "svc-payments-k", Approvers: []string{"alice@example.com"}, Justification: "fixture",
		ExpiresAt: testNow.Add(72 * time.Hour).Format(time.RFC3339), Statement: "fixture", Digest: policy.Digest("fixture"),
		PolicyDigest: policy.DocumentDigest(doc)}, at)
	if err != nil {
		t.Fatal(err)
	}
	issued := []ledger.Grant{}
	for i, change := range []func(g *ledger.Grant){
		nil,
		func(g *ledger.Grant) { g.TTL = "3h" },
		func(g *ledger.Grant) { g.BreakGlass, g.Justification, g.Approvers = true, "INC-7", nil },
		func(g *ledger.Grant) { g.Requester = "" },
	} {
		g := ledger.Grant{ID: fmt.Sprintf("grt_cfg_%d", i), Principal: fmt.Sprintf("svc-payments-%d", i), Entitlement: "payments-db-read",
			TicketID: fmt.Sprintf("SEC-%d", 100+i), Approvers: []string{"alice@example.com"}, Requester: "dev@example.com",
			Target: "ledger", Role: "payments_read", ExpiresAt: testNow.Add(2 * time.Hour).Format(time.RFC3339),
			PolicyDigest: policy.DocumentDigest(doc)}
		if change != nil {
			change(&g)
		}
		g, err := l.IssueGrant(ctx, g, at)
		if err != nil {
			t.Fatal(err)
		}
		issued = append(issued, g)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if world == "unverified" {
		execSQL(t, path, `DROP TRIGGER events_no_update`, `UPDATE events SET data = replace(data, 'SEC-100"', 'SEC-800"') WHERE seq = 3`)
	}
	server, rs, _ := configuredServer(ctx, t, dir, path, testNow)
	data := rs.configured.Load()
	if data == nil {
		t.Fatal("ConfigureProvider did not keep what Configure made")
	}
	if data.verification.OK == (world == "unverified") {
		t.Fatalf("in the %s world the ledger's verification says %+v", world, data.verification)
	}
	switch world {
	case "revoke-only":
		data.revokeOnly = true
	case "checkpoint refused":
		data.anchor = "The ledger does not extend the checkpoint checkpoint.txt (ledger test, size 99): it is shorter."
	}

	direct, withDiags := 0, 0
	compare := func(kind, name string, got, want any, answered bool, wantDirect bool, diags int) {
		t.Helper()
		sortDiagnostics(got)
		sortDiagnostics(want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s %s: the server's answer differs from the framework's:\n%+v\n%+v", kind, name, got, want)
		}
		if diags > 0 {
			withDiags++
			if answered {
				t.Errorf("%s %s: answered directly, with %d diagnostics from the framework", kind, name, diags)
			}
		}
		if answered {
			direct++
		} else if wantDirect {
			t.Errorf("%s %s: left a plain case to the framework", kind, name)
		}
	}

	// Validation: the configuration alone, with or without a configured
	// provider.
	for _, c := range grantConfigCases(kept.ID) {
		req := &tfprotov6.ValidateResourceConfigRequest{TypeName: grantTypeName, Config: mustDynamicValue(t, grantValue(c.attrs))}
		want, err := rs.ProviderServer.ValidateResourceConfig(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := server.ValidateResourceConfig(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		_, answered := validateGrantConfigDirect(ctx, req)
		allKnown := grantValue(c.attrs).IsFullyKnown()
		compare("validate", c.name, got, want, answered, c.valid && allKnown, len(want.Diagnostics))
		if c.valid != (len(want.Diagnostics) == 0) {
			t.Errorf("validate %s: the framework says %+v; the case says valid=%t", c.name, want.Diagnostics, c.valid)
		}
	}
	// Terraform validates before it configures the provider.
	if world == "verified" {
		unconfigured, err := NewProtocol6Server(New("test"))()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := unconfigured.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{}); err != nil {
			t.Fatal(err)
		}
		rs, ok := unconfigured.(*releasingServer)
		if !ok {
			t.Fatalf("the provider's server is a %T", unconfigured)
		}
		framework := rs.ProviderServer
		for _, c := range grantConfigCases(kept.ID) {
			req := &tfprotov6.ValidateResourceConfigRequest{TypeName: grantTypeName, Config: mustDynamicValue(t, grantValue(c.attrs))}
			want, err := framework.ValidateResourceConfig(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := unconfigured.ValidateResourceConfig(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			_, answered := validateGrantConfigDirect(ctx, req)
			compare("validate unconfigured", c.name, got, want, answered, c.valid && grantValue(c.attrs).IsFullyKnown(), len(want.Diagnostics))
		}
	}
	for _, name := range []string{"null", "wrong type"} {
		v := tftypes.NewValue(grantObjectType(), nil)
		if name == "wrong type" {
			v = tftypes.NewValue(tftypes.Object{AttributeTypes: map[string]tftypes.Type{"principal": tftypes.String}},
				map[string]tftypes.Value{"principal": tftypes.NewValue(tftypes.String, "svc-payments-api")})
		}
		dv, err := tfprotov6.NewDynamicValue(v.Type(), v)
		if err != nil {
			t.Fatal(err)
		}
		req := &tfprotov6.ValidateResourceConfigRequest{TypeName: grantTypeName, Config: &dv}
		want, err := rs.ProviderServer.ValidateResourceConfig(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := server.ValidateResourceConfig(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		_, answered := validateGrantConfigDirect(ctx, req)
		compare("validate", name, got, want, answered, false, len(want.Diagnostics))
		if answered {
			t.Errorf("validate %s: answered directly", name)
		}
	}

	// The plan of a new grant.
	for _, c := range grantConfigCases(kept.ID) {
		for _, private := range [][]byte{nil, []byte(`{"note":"eyJ4IjoxfQ=="}`)} {
			name := fmt.Sprintf("%s, private %t", c.name, private != nil)
			req := &tfprotov6.PlanResourceChangeRequest{TypeName: grantTypeName,
				PriorState:       mustDynamicValue(t, tftypes.NewValue(grantObjectType(), nil)),
				ProposedNewState: mustDynamicValue(t, proposedNewGrant(c.attrs)),
				Config:           mustDynamicValue(t, grantValue(c.attrs)), PriorPrivate: private}
			want, err := rs.ProviderServer.PlanResourceChange(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := server.PlanResourceChange(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			_, answered := planGrantCreateDirect(ctx, data, req)
			compare("plan", name, got, want, answered, c.plain && private == nil && world == "verified", len(want.Diagnostics))
		}
	}

	// State read back: as apply wrote it, edited, of an older shape, and
	// unreadable.
	states := map[string]string{}
	for _, g := range issued {
		dv, ok := encodeGrantModel(grantModelFromLedger(g))
		if !ok {
			t.Fatal("cannot encode", g.ID)
		}
		v, err := dv.Unmarshal(grantObjectType())
		if err != nil {
			t.Fatal(err)
		}
		b, err := tftypesToJSON(v)
		if err != nil {
			t.Fatal(err)
		}
		states[g.ID+" as written"] = string(b)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		edit := func(name string, change func(m map[string]any)) {
			c := map[string]any{}
			for k, v := range m {
				c[k] = v
			}
			change(c)
			b, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			states[g.ID+" "+name] = string(b)
		}
		edit("with a retired attribute", func(m map[string]any) { m["legacy_note"] = "x" })
		edit("without revocation_pending", func(m map[string]any) { delete(m, "revocation_pending") })
		edit("principal a number", func(m map[string]any) { m["principal"] = 5 })
		edit("approvers a string", func(m map[string]any) { m["approvers"] = "alice@example.com" })
		edit("approvers with null", func(m map[string]any) { m["approvers"] = []any{"alice@example.com", nil} })
		edit("approvers repeated", func(m map[string]any) { m["approvers"] = []any{"alice@example.com", "alice@example.com"} })
		edit("active a string", func(m map[string]any) { m["active"] = "true" })
	}
	states["empty object"] = `{}`
	states["null"] = `null`
	states["not JSON"] = `{"id": `
	states["an array"] = `[]`
	for name, raw := range states {
		for _, version := range []int64{0, 1} {
			for _, flatmap := range []map[string]string{nil, {"id": "grt_x"}} {
				rs0 := &tfprotov6.RawState{JSON: []byte(raw), Flatmap: flatmap}
				if flatmap != nil {
					rs0.JSON = nil
				}
				req := &tfprotov6.UpgradeResourceStateRequest{TypeName: grantTypeName, Version: version, RawState: rs0}
				label := fmt.Sprintf("%s (version %d, flatmap %t)", name, version, flatmap != nil)
				want, err := rs.ProviderServer.UpgradeResourceState(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				got, err := server.UpgradeResourceState(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				_, answered := upgradeGrantStateDirect(req)
				compare("upgrade", label, got, want, answered, strings.HasSuffix(name, " as written") && version == 0 && flatmap == nil, len(want.Diagnostics))
			}
		}
	}
	if direct == 0 || withDiags == 0 {
		t.Errorf("%d direct answers, %d framework answers with diagnostics: the cases test nothing", direct, withDiags)
	}
	t.Logf("%d direct answers, %d framework answers with diagnostics", direct, withDiags)
}

// sortDiagnostics puts the diagnostics of a response in one order: the
// framework validates attributes in the order of a Go map, so its own
// answers to one request list the same diagnostics in different orders.
func sortDiagnostics(resp any) {
	var diags []*tfprotov6.Diagnostic
	switch r := resp.(type) {
	case *tfprotov6.ValidateResourceConfigResponse:
		diags = r.Diagnostics
	case *tfprotov6.PlanResourceChangeResponse:
		diags = r.Diagnostics
	case *tfprotov6.UpgradeResourceStateResponse:
		diags = r.Diagnostics
	}
	key := func(d *tfprotov6.Diagnostic) string {
		return fmt.Sprintf("%d|%s|%s|%v", d.Severity, d.Summary, d.Detail, d.Attribute)
	}
	slices.SortStableFunc(diags, func(a, b *tfprotov6.Diagnostic) int { return strings.Compare(key(a), key(b)) })
}

// tftypesToJSON writes v as Terraform writes state: an object of its
// attributes, null for null.
func tftypesToJSON(v tftypes.Value) ([]byte, error) {
	var conv func(v tftypes.Value) (any, error)
	conv = func(v tftypes.Value) (any, error) {
		if v.IsNull() {
			return nil, nil
		}
		switch {
		case v.Type().Is(tftypes.String):
			var s string
			return s, v.As(&s)
		case v.Type().Is(tftypes.Bool):
			var b bool
			return b, v.As(&b)
		default:
			var elems []tftypes.Value
			if err := v.As(&elems); err == nil {
				out := []any{}
				for _, e := range elems {
					x, err := conv(e)
					if err != nil {
						return nil, err
					}
					out = append(out, x)
				}
				return out, nil
			}
			var attrs map[string]tftypes.Value
			if err := v.As(&attrs); err != nil {
				return nil, err
			}
			out := map[string]any{}
			for k, a := range attrs {
				x, err := conv(a)
				if err != nil {
					return nil, err
				}
				out[k] = x
			}
			return out, nil
		}
	}
	x, err := conv(v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(x)
}
