package provider

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"

	"github.com/governed-entitlements/terraform-provider-governed/internal/clock/clocktest"
	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
)

// TestGrantFastPathIsTheFramework: the provider's server answers
// PlanResourceChange and ReadResource for settled governed_grant resources
// itself (planGrantDirect, readGrantDirect) with exactly the response the
// framework gives (state bytes, private bytes, diagnostics, RequiresReplace),
// over grants in every state, states as apply wrote them and as edited or
// left behind, configurations that keep or change the grant, with and
// without private state, on a ledger that verifies and one that does not,
// one that does not extend its checkpoint, and in a run that may only
// remove access. It answers the plain case (an
// active grant recorded only in the ledger, unchanged) itself, and leaves
// every answer that carries a diagnostic to the framework.
func TestGrantFastPathIsTheFramework(t *testing.T) {
	t.Parallel()
	for _, world := range []string{"verified", "revoke-only", "unverified", "checkpoint refused"} {
		t.Run(world, func(t *testing.T) {
			t.Parallel()
			testGrantFastPath(t, world)
		})
	}
}

func testGrantFastPath(t *testing.T, world string) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "governed.db")
	l, err := ledger.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	now := testNow
	at := now.Add(-48 * time.Hour)
	refused := errors.New("connection refused")
	n := 0
	mk := func(target string, expires time.Time, change func(g *ledger.Grant)) ledger.Grant {
		t.Helper()
		n++
		g := ledger.Grant{ID: fmt.Sprintf("grt_%04d", n), Principal: fmt.Sprintf("svc-payments-%d", n), Entitlement: "payments-db-read",
			TicketID: fmt.Sprintf("SEC-%d", n), Approvers: []string{"alice@example.com", "bob@example.com"},
			Requester: "dev@example.com", Target: target, Role: "payments_read", ExpiresAt: expires.Format(time.RFC3339)}
		if change != nil {
			change(&g)
		}
		g, err := l.IssueGrant(ctx, g, at)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	later, past := now.Add(8*time.Hour), now.Add(-time.Hour)
	withdrawn, err := l.RecordApproval(ctx, ledger.Approval{ID: "apr_withdrawn", TicketID: "SEC-900", Entitlement: "payments-db-read",
		Principal: "svc-payments-w", Approvers: []string{"alice@example.com"}, ExpiresAt: later.Format(time.RFC3339)}, at)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := l.RecordApproval(ctx, ledger.Approval{ID: "apr_kept", TicketID: "SEC-901", Entitlement: "payments-db-read",
		Principal: "svc-payments-k", Approvers: []string{"alice@example.com"}, ExpiresAt: later.Format(time.RFC3339)}, at)
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"ledger", "postgres.payments"} {
		mk(target, later, nil)                                                             // active
		mk(target, later, func(g *ledger.Grant) { g.Requester = "" })                      // no requester recorded
		mk(target, past, nil)                                                              // past its expiry, not yet recorded
		mk(target, later, func(g *ledger.Grant) { g.TTL = "8h" })                          // ttl
		mk(target, later, func(g *ledger.Grant) { g.BreakGlass, g.Approvers = true, nil }) // break-glass, no approvers
		mk(target, later, func(g *ledger.Grant) { g.BreakGlass, g.Justification = true, "incident INC-7" })
		mk(target, later, func(g *ledger.Grant) { g.ApprovalID, g.Principal = kept.ID, kept.Principal })
		mk(target, later, func(g *ledger.Grant) { g.ApprovalID = withdrawn.ID; g.Principal = withdrawn.Principal })
		mk(target, later, func(g *ledger.Grant) { g.ApprovalID = "apr_unknown" })
		mk(target, later, func(g *ledger.Grant) { g.Principal = "svc-payments-" + strings.Repeat("long", 70) })
		mk(target, later, func(g *ledger.Grant) {
			g.Approvers = nil
			for i := range 17 {
				g.Approvers = append(g.Approvers, fmt.Sprintf("approver-%d@example.com", i))
			}
		})
		g := mk(target, later, nil)
		if _, _, err := l.RevokeGrant(ctx, g.ID, now.Add(-time.Hour), ledger.ReasonOutOfBand, "INC-1", nil); err != nil {
			t.Fatal(err)
		}
		g = mk(target, later, nil)
		if _, _, err := l.RevokeGrant(ctx, g.ID, now.Add(-time.Hour), ledger.ReasonOutOfBand, "INC-2", refused); err != nil {
			t.Fatal(err) // revocation pending
		}
		g = mk(target, past, nil)
		if _, _, err := l.ExpireGrant(ctx, g.ID, now.Add(-time.Minute), nil); err != nil {
			t.Fatal(err)
		}
		pending := ledger.Grant{ID: "grt_pending_" + strings.ReplaceAll(target, ".", "_"), Principal: "svc-payments-p", Entitlement: "payments-db-read",
			TicketID: "SEC-99", Approvers: []string{"alice@example.com"}, Target: target, Role: "payments_read",
			ExpiresAt: later.Format(time.RFC3339)}
		if _, err := l.RequestGrant(ctx, pending, now.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.WithdrawApproval(ctx, withdrawn.ID, now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	grants, err := l.Grants(ctx, ledger.GrantFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if world == "unverified" {
		execSQL(t, path, `DROP TRIGGER events_no_update`, `UPDATE events SET data = replace(data, 'SEC-1"', 'SEC-8"') WHERE seq = 3`)
	}

	server, rs, _ := configuredServer(ctx, t, dir, path, now)
	data := rs.configured.Load()
	if data == nil {
		t.Fatal("ConfigureProvider did not keep what Configure made")
	}
	if world == "unverified" && data.verification.OK {
		t.Fatal("the edited ledger verifies")
	}
	switch world {
	case "revoke-only": // as GOVERNED_REVOKE_ONLY=1 sets it
		data.revokeOnly = true
	case "checkpoint refused": // as a pipeline checkpoint the ledger does not extend sets it
		data.anchor = "The ledger does not extend the checkpoint checkpoint.txt (ledger test, size 99): it is shorter."
	}

	encode := func(m grantModel) *tfprotov6.DynamicValue {
		t.Helper()
		dv, ok := encodeGrantModel(m)
		if !ok {
			t.Fatalf("cannot encode %+v", m)
		}
		return dv
	}
	fast, plain, withDiags := 0, 0, 0
	for _, g := range grants {
		exact := grantModelFromLedger(g)
		// The grant the ledger now holds is the one written (not the one
		// whose event was edited, which no longer verifies).
		rec, err := data.ledger.Grant(ctx, g.ID)
		settled := err == nil && reflect.DeepEqual(rec, g)
		states := map[string]grantModel{"as written": exact}
		behind := exact // written while the grant was active
		behind.Status, behind.Active, behind.RevokedAt, behind.RevocationReason = types.StringValue(ledger.StatusActive), types.BoolValue(true), types.StringNull(), types.StringNull()
		behind.RevocationPending = types.BoolValue(false)
		states["active in state"] = behind
		edited := exact
		edited.ExpiresAt = types.StringValue(now.Add(30 * 24 * time.Hour).Format(time.RFC3339))
		states["expiry edited"] = edited
		edited = exact
		edited.Status, edited.Active = types.StringValue(ledger.StatusRevoked), types.BoolValue(false)
		states["revoked in state"] = edited
		edited = exact
		edited.Principal = types.StringValue("svc-payments-edited")
		states["principal edited"] = edited
		edited = exact
		edited.RevocationPending = types.BoolNull()
		states["no revocation_pending"] = edited
		edited = exact
		edited.GrantedAt = types.StringValue(now.Format(time.RFC3339))
		states["granted_at edited"] = edited

		for sname, state := range states {
			prior := encode(state)
			for _, cfg := range []string{"all set", "defaults left out", "ticket changed", "break_glass flipped"} {
				config := state
				config.ID, config.Status, config.Active, config.GrantedAt = types.StringNull(), types.StringNull(), types.BoolNull(), types.StringNull()
				config.RevokedAt, config.RevocationReason, config.RevocationPending = types.StringNull(), types.StringNull(), types.BoolNull()
				config.Target, config.Role = types.StringNull(), types.StringNull()
				if !config.TTL.IsNull() {
					config.ExpiresAt = types.StringNull()
				}
				proposed := state
				switch cfg {
				case "defaults left out":
					config.Requester, config.BreakGlass = types.StringNull(), types.BoolNull()
				case "ticket changed":
					config.TicketID, proposed.TicketID = types.StringValue("SEC-4242"), types.StringValue("SEC-4242")
				case "break_glass flipped":
					config.BreakGlass = types.BoolValue(!state.BreakGlass.ValueBool())
					proposed.BreakGlass = config.BreakGlass
				}
				if sname != "as written" && (cfg == "ticket changed" || cfg == "break_glass flipped") {
					continue // a replacement is judged on the ledger's record, whatever state says
				}
				for _, private := range [][]byte{nil, []byte(`{"note":"eyJ4IjoxfQ=="}`)} {
					if private != nil && (sname != "as written" || cfg != "all set") {
						continue
					}
					name := fmt.Sprintf("%s (%s, %s), state %s, config %s, private %t", g.ID, g.Status, g.Target, sname, cfg, private != nil)
					req := &tfprotov6.PlanResourceChangeRequest{TypeName: grantTypeName, PriorState: prior,
						ProposedNewState: encode(proposed), Config: encode(config), PriorPrivate: private}
					want, err := rs.ProviderServer.PlanResourceChange(ctx, req)
					if err != nil {
						t.Fatal(err)
					}
					data.managed.Delete(g.ID)
					got, err := server.PlanResourceChange(ctx, req)
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(got, want) {
						t.Errorf("plan %s: the server's answer differs from the framework's:\n%+v\n%+v", name, got, want)
					}
					if _, ok := data.managed.Load(g.ID); !ok {
						t.Errorf("plan %s: the grant is not noted as settled by its resource", name)
					}
					direct, ok := planGrantDirect(ctx, data, req)
					if ok {
						fast++
						if !reflect.DeepEqual(direct, want) {
							t.Errorf("plan %s: the direct answer differs from the framework's", name)
						}
					}
					if ok && len(want.Diagnostics) > 0 {
						t.Errorf("plan %s: answered directly, with %d diagnostics from the framework", name, len(want.Diagnostics))
					}
					if len(want.Diagnostics) > 0 {
						withDiags++
					}
					isPlain := settled && g.Status == ledger.StatusActive && g.Target == "ledger" && g.ApprovalID != withdrawn.ID &&
						g.StatusAt(now) == ledger.StatusActive && sname == "as written" && private == nil &&
						(cfg == "all set" || cfg == "defaults left out" && !g.BreakGlass)
					if isPlain {
						plain++
						if !ok {
							t.Errorf("plan %s: left a settled grant to the framework", name)
						}
					}
				}
			}
			for _, private := range [][]byte{nil, []byte(`{"note":"eyJ4IjoxfQ=="}`)} {
				name := fmt.Sprintf("%s (%s, %s), state %s, private %t", g.ID, g.Status, g.Target, sname, private != nil)
				req := &tfprotov6.ReadResourceRequest{TypeName: grantTypeName, CurrentState: prior, Private: private}
				want, err := rs.ProviderServer.ReadResource(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				got, err := server.ReadResource(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("read %s: the server's answer differs from the framework's:\n%+v\n%+v", name, got, want)
				}
				direct, ok := readGrantDirect(ctx, data, req)
				if ok {
					fast++
					if !reflect.DeepEqual(direct, want) {
						t.Errorf("read %s: the direct answer differs from the framework's:\n%x\n%x", name, direct.NewState.MsgPack, want.NewState.MsgPack)
					}
					if len(want.Diagnostics) > 0 {
						t.Errorf("read %s: answered directly, with diagnostics from the framework", name)
					}
				} else if settled && g.Status == ledger.StatusActive && g.Target == "ledger" && g.StatusAt(now) == ledger.StatusActive &&
					(sname == "as written" || sname == "principal edited" || sname == "no revocation_pending") && private == nil {
					t.Errorf("read %s: left a settled grant to the framework", name)
				}
			}
		}
	}
	if plain == 0 || fast < plain || withDiags == 0 {
		t.Errorf("%d answers direct, %d plain cases, %d framework answers with diagnostics: the cases test nothing", fast, plain, withDiags)
	}
	t.Logf("%d direct answers, %d plain plans, %d plans with diagnostics", fast, plain, withDiags)
}

// configuredServer starts the provider's protocol server at now and
// configures it with the ledger at ledgerPath and testPolicy (written into
// dir), failing the test on any error. It returns the server, its
// releasingServer (whose ProviderServer is the framework's), and its schemas.
func configuredServer(ctx context.Context, t *testing.T, dir, ledgerPath string, now time.Time) (tfprotov6.ProviderServer, *releasingServer, *tfprotov6.GetProviderSchemaResponse) {
	t.Helper()
	factory := NewProtocol6Server(New("test", WithClock(clocktest.NewManual(now))))
	server, err := factory()
	if err != nil {
		t.Fatal(err)
	}
	rs, ok := server.(*releasingServer)
	if !ok {
		t.Fatalf("the provider's server is a %T", server)
	}
	schemas, err := server.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	policyFile := filepath.Join(dir, "policy.hcl")
	if err := os.WriteFile(policyFile, []byte(testPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	configured, err := server.ConfigureProvider(ctx, &tfprotov6.ConfigureProviderRequest{TerraformVersion: "1.11.4",
		Config: dynamicValue(t, schemas.Provider.ValueType(), map[string]string{"ledger": ledgerPath, "policy_file": policyFile, "requester": "dev@example.com"})})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range configured.Diagnostics {
		if d.Severity == tfprotov6.DiagnosticSeverityError {
			t.Fatalf("configure: %s: %s", d.Summary, d.Detail)
		}
	}
	return server, rs, schemas
}
