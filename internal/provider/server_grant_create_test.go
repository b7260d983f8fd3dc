package provider

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// TestGrantCreateIsTheFramework: the provider's server issues a new
// governed_grant itself (applyGrantCreateDirect) with the answer the
// framework's Create gives: the same state, private state and diagnostics,
// and the same grant in the ledger. Since each issues a grant, the two run
// on twin copies of one ledger, and the new grant's id (random) is the only
// difference allowed. The configurations cover grants the policy allows,
// under an approval record, re-using a ticket to narrow a grant in force
// (which takes its place, with a warning), and refusals at apply; the
// worlds a ledger that verifies, a run that may only remove access and a
// ledger that does not verify, where nothing is issued.
func TestGrantCreateIsTheFramework(t *testing.T) {
	t.Parallel()
	for _, world := range []string{"verified", "revoke-only", "unverified"} {
		t.Run(world, func(t *testing.T) {
			t.Parallel()
			testGrantCreate(t, world)
		})
	}
}

func testGrantCreate(t *testing.T, world string) {
	ctx := context.Background()
	dirs := [2]string{t.TempDir(), t.TempDir()}
	paths := [2]string{filepath.Join(dirs[0], "governed.db"), filepath.Join(dirs[1], "governed.db")}
	l, err := ledger.Open(ctx, paths[0])
	if err != nil {
		t.Fatal(err)
	}
	at := testNow.Add(-time.Hour)
	doc := []byte(testPolicy)
	digest := policy.DocumentDigest(doc)
	if err := l.KeepPolicy(ctx, digest, doc, at); err != nil {
		t.Fatal(err)
	}
	if _, err := l.RecordApproval(ctx, ledger.Approval{ID: "apr_kept", TicketID: "SEC-901", Entitlement: "payments-db-read",
		Principal: "svc-payments-k", Approvers: []string{"alice@example.com"}, Justification: "fixture",
		ExpiresAt: testNow.Add(72 * time.Hour).Format(time.RFC3339), Statement: "fixture", Digest: policy.Digest("fixture"),
		PolicyDigest: digest}, at); err != nil {
		t.Fatal(err)
	}
	inForce, err := l.IssueGrant(ctx, ledger.Grant{ID: "grt_in_force", Principal: "svc-payments-t", Entitlement: "payments-db-read",
		TicketID: "SEC-200", Approvers: []string{"alice@example.com"}, Requester: "dev@example.com", Target: "ledger",
		Role: "payments_read", ExpiresAt: testNow.Add(3 * time.Hour).Format(time.RFC3339), PolicyDigest: digest}, at)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if world == "unverified" {
		execSQL(t, paths[0], `DROP TRIGGER events_no_update`, `UPDATE events SET data = replace(data, 'SEC-200"', 'SEC-201"') WHERE seq = 3`)
	}
	copyFile(t, paths[0], paths[1])

	// Twin servers: the framework answers on the first, the server itself on
	// the second.
	var frameworks [2]tfprotov6.ProviderServer
	var data [2]*providerData
	for i := range 2 {
		server, rs, _ := configuredServer(ctx, t, dirs[i], paths[i], testNow)
		frameworks[i], data[i] = rs.ProviderServer, rs.configured.Load()
		if i == 1 {
			frameworks[i] = server
		}
		if data[i] == nil {
			t.Fatal("ConfigureProvider did not keep what Configure made")
		}
		if world == "revoke-only" {
			data[i].revokeOnly = true
		}
	}
	if data[0].verification.OK == (world == "unverified") {
		t.Fatalf("in the %s world the ledger's verification says %+v", world, data[0].verification)
	}

	str := func(s string) tftypes.Value { return tftypes.NewValue(tftypes.String, s) }
	set := func(ss ...string) tftypes.Value {
		elems := []tftypes.Value{}
		for _, s := range ss {
			elems = append(elems, str(s))
		}
		return tftypes.NewValue(tftypes.Set{ElementType: tftypes.String}, elems)
	}
	base := func(n int, change func(m map[string]tftypes.Value)) map[string]tftypes.Value {
		m := map[string]tftypes.Value{
			"principal": str(fmt.Sprintf("svc-payments-%d", n)), "entitlement": str("payments-db-read"),
			"ticket_id": str(fmt.Sprintf("SEC-%d", 300+n)), "approvers": set("alice@example.com"), "ttl": str("8h"),
		}
		if change != nil {
			change(m)
		}
		return m
	}
	cases := []struct {
		name   string
		config map[string]tftypes.Value
		issued bool // in the verified world
	}{
		{"ttl", base(1, nil), true},
		{"expires_at", base(2, func(m map[string]tftypes.Value) {
			delete(m, "ttl")
			m["expires_at"] = str(testNow.Add(48 * time.Hour).Format(time.RFC3339))
		}), true},
		{"requester set", base(3, func(m map[string]tftypes.Value) { m["requester"] = str("other@example.com") }), true},
		{"break-glass", base(4, func(m map[string]tftypes.Value) {
			m["break_glass"], m["justification"], m["ttl"], m["approvers"] = tftypes.NewValue(tftypes.Bool, true), str("INC-7"), str("2h"), set()
		}), true},
		{"approval record", base(5, func(m map[string]tftypes.Value) {
			m["approval_id"], m["principal"], m["ticket_id"] = str("apr_kept"), str("svc-payments-k"), str("SEC-901")
		}), true},
		{"narrows a grant in force", base(6, func(m map[string]tftypes.Value) {
			m["principal"], m["ticket_id"], m["ttl"] = str(inForce.Principal), str(inForce.TicketID), str("1h")
		}), true},
		{"widens a grant in force", base(7, func(m map[string]tftypes.Value) {
			m["principal"], m["ticket_id"], m["ttl"] = str(inForce.Principal), str(inForce.TicketID), str("7d")
		}), false},
		{"ticket refused", base(8, func(m map[string]tftypes.Value) { m["ticket_id"] = str("JIRA-1") }), false},
		{"approver refused", base(9, func(m map[string]tftypes.Value) { m["approvers"] = set("mallory@example.com") }), false},
		{"requester approves", base(10, func(m map[string]tftypes.Value) { m["approvers"] = set("dev@example.com") }), false},
		{"approval record missing", base(11, func(m map[string]tftypes.Value) { m["approval_id"] = str("apr_missing") }), false},
		{"approval record spent", base(12, func(m map[string]tftypes.Value) {
			m["approval_id"], m["principal"], m["ticket_id"], m["ttl"] = str("apr_kept"), str("svc-payments-k"), str("SEC-901"), str("9h")
		}), false},
	}
	direct := 0
	var renames []string
	for _, c := range cases {
		config := grantValue(c.config)
		planned := plannedNewGrant(c.config)
		var got [2]*tfprotov6.ApplyResourceChangeResponse
		for i := range 2 {
			req := &tfprotov6.ApplyResourceChangeRequest{TypeName: grantTypeName,
				PriorState:   mustDynamicValue(t, tftypes.NewValue(grantObjectType(), nil)),
				PlannedState: mustDynamicValue(t, planned), Config: mustDynamicValue(t, config)}
			if i == 1 {
				resp, ok := applyGrantCreateDirect(ctx, data[1], req)
				if !ok {
					t.Fatalf("%s: the server left a create to the framework", c.name)
				}
				got[i] = resp
				continue
			}
			resp, err := frameworks[i].ApplyResourceChange(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			got[i] = resp
		}
		direct++
		ids := [2]string{}
		for i, resp := range got {
			v, err := resp.NewState.Unmarshal(grantObjectType())
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if !v.IsNull() {
				m, ok := grantModelFromValue(v)
				if !ok {
					t.Fatalf("%s: state %v", c.name, v)
				}
				ids[i] = m.ID.ValueString()
			}
		}
		issued := ids[0] != ""
		if (ids[1] != "") != issued {
			t.Errorf("%s: the framework issued %q, the server %q", c.name, ids[0], ids[1])
			continue
		}
		if want := c.issued && world == "verified"; issued != want {
			t.Errorf("%s: issued %t, want %t: %+v", c.name, issued, want, diagnosticTexts(got[0].Diagnostics))
		}
		if issued {
			// The server's answer with the framework's grant id.
			dv, err := got[1].NewState.Unmarshal(grantObjectType())
			if err != nil {
				t.Fatal(err)
			}
			m, _ := grantModelFromValue(dv)
			m.ID = types.StringValue(ids[0])
			if got[1].NewState, _ = encodeGrantModel(m); got[1].NewState == nil {
				t.Fatal("cannot encode")
			}
			renames = append(renames, ids[1], ids[0])
			recs := [2]ledger.Grant{}
			for i := range 2 {
				if recs[i], err = data[i].ledger.Grant(ctx, ids[i]); err != nil {
					t.Fatal(err)
				}
			}
			recs[1].ID = recs[0].ID
			if !reflect.DeepEqual(recs[0], recs[1]) {
				t.Errorf("%s: the ledgers differ:\n%+v\n%+v", c.name, recs[0], recs[1])
			}
		}
		// The twin's ledger path and the ids it gave grants are its own.
		rename := strings.NewReplacer(append(renames, dirs[1], dirs[0])...)
		for _, d := range got[1].Diagnostics {
			d.Detail, d.Summary = rename.Replace(d.Detail), rename.Replace(d.Summary)
		}
		if !reflect.DeepEqual(got[0], got[1]) {
			t.Errorf("%s: the server's answer differs from the framework's:\n%+v %+v\n%+v %+v", c.name,
				got[1], diagnosticTexts(got[1].Diagnostics), got[0], diagnosticTexts(got[0].Diagnostics))
		}
	}
	// What the server cannot decode goes to the framework before anything
	// is written.
	head, err := data[1].ledger.Store().Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	unknownTicket := base(20, nil)
	unknownTicket["ticket_id"] = tftypes.NewValue(tftypes.String, tftypes.UnknownValue)
	for name, req := range map[string]*tfprotov6.ApplyResourceChangeRequest{
		"private state": {TypeName: grantTypeName, PriorState: mustDynamicValue(t, tftypes.NewValue(grantObjectType(), nil)),
			PlannedState: mustDynamicValue(t, plannedNewGrant(base(21, nil))), Config: mustDynamicValue(t, grantValue(base(21, nil))),
			PlannedPrivate: []byte(`{"note":"eyJ4IjoxfQ=="}`)},
		"unknown in the configuration": {TypeName: grantTypeName, PriorState: mustDynamicValue(t, tftypes.NewValue(grantObjectType(), nil)),
			PlannedState: mustDynamicValue(t, plannedNewGrant(unknownTicket)), Config: mustDynamicValue(t, grantValue(unknownTicket))},
		"a destroy": {TypeName: grantTypeName, PriorState: mustDynamicValue(t, plannedNewGrant(base(22, nil))),
			PlannedState: mustDynamicValue(t, tftypes.NewValue(grantObjectType(), nil)), Config: mustDynamicValue(t, tftypes.NewValue(grantObjectType(), nil))},
	} {
		if _, ok := applyGrantCreateDirect(ctx, data[1], req); ok {
			t.Errorf("%s: answered directly", name)
		}
	}
	if after, err := data[1].ledger.Store().Head(ctx); err != nil || after != head {
		t.Errorf("requests left to the framework wrote to the ledger: head %+v, then %+v (%v)", head, after, err)
	}
	t.Logf("%d creates compared", direct)
}

// plannedNewGrant is the plan Terraform holds for a new grant of config, as
// planNewGrant makes it for the test's policy: break_glass defaulted, the
// requester the provider's where config has none, status and target known,
// id, granted_at and an expiry from ttl unknown.
func plannedNewGrant(config map[string]tftypes.Value) tftypes.Value {
	m := map[string]tftypes.Value{}
	for k, v := range config {
		m[k] = v
	}
	str := func(s string) tftypes.Value { return tftypes.NewValue(tftypes.String, s) }
	unknown := tftypes.NewValue(tftypes.String, tftypes.UnknownValue)
	if _, ok := m["break_glass"]; !ok {
		m["break_glass"] = tftypes.NewValue(tftypes.Bool, false)
	}
	if _, ok := m["requester"]; !ok {
		m["requester"] = str("dev@example.com")
	}
	if _, ok := m["expires_at"]; !ok {
		m["expires_at"] = unknown
	}
	m["id"], m["granted_at"] = unknown, unknown
	m["status"], m["active"], m["revocation_pending"] = str(ledger.StatusActive), tftypes.NewValue(tftypes.Bool, true), tftypes.NewValue(tftypes.Bool, false)
	m["target"], m["role"] = str("ledger"), str("payments_read")
	return grantValue(m)
}

func diagnosticTexts(diags []*tfprotov6.Diagnostic) []string {
	var out []string
	for _, d := range diags {
		out = append(out, fmt.Sprintf("%d %s: %s (%v)", d.Severity, d.Summary, d.Detail, d.Attribute))
	}
	return out
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
