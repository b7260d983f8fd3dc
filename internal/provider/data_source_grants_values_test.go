package provider

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
)

// grantItemModel is one element of governed_grants' list as the framework
// maps it by reflection: the reference that grantItemValue must equal.
type grantItemModel struct {
	ID                types.String `tfsdk:"id"`
	Principal         types.String `tfsdk:"principal"`
	Entitlement       types.String `tfsdk:"entitlement"`
	TicketID          types.String `tfsdk:"ticket_id"`
	Approvers         types.Set    `tfsdk:"approvers"`
	BreakGlass        types.Bool   `tfsdk:"break_glass"`
	Status            types.String `tfsdk:"status"`
	Active            types.Bool   `tfsdk:"active"`
	GrantedAt         types.String `tfsdk:"granted_at"`
	ExpiresAt         types.String `tfsdk:"expires_at"`
	RevokedAt         types.String `tfsdk:"revoked_at"`
	RevocationReason  types.String `tfsdk:"revocation_reason"`
	RevocationPending types.Bool   `tfsdk:"revocation_pending"`
}

type grantsReflectedModel struct {
	Principal      types.String     `tfsdk:"principal"`
	Entitlement    types.String     `tfsdk:"entitlement"`
	Status         types.String     `tfsdk:"status"`
	ExpiringBefore types.String     `tfsdk:"expiring_before"`
	Grants         []grantItemModel `tfsdk:"grants"`
}

func grantItemFromLedger(g ledger.Grant, status string) grantItemModel {
	return grantItemModel{
		ID:                types.StringValue(g.ID),
		Principal:         types.StringValue(g.Principal),
		Entitlement:       types.StringValue(g.Entitlement),
		TicketID:          types.StringValue(g.TicketID),
		Approvers:         stringSet(g.Approvers),
		BreakGlass:        types.BoolValue(g.BreakGlass),
		Status:            types.StringValue(status),
		Active:            types.BoolValue(status == ledger.StatusActive),
		GrantedAt:         timeOrNull(g.GrantedAt),
		ExpiresAt:         types.StringValue(g.ExpiresAt),
		RevokedAt:         timeOrNull(g.RevokedAt),
		RevocationReason:  stringOrNull(g.RevocationReason),
		RevocationPending: types.BoolValue(g.RevokePending),
	}
}

// TestGrantItemValueIsTheReflectedValue: the list governed_grants builds
// without reflection is, value for value, the one the framework builds from
// the model, for grants in every state.
func TestGrantItemValueIsTheReflectedValue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var sr datasource.SchemaResponse
	NewGrantsDataSource().Schema(ctx, datasource.SchemaRequest{}, &sr)
	objectType, ok := sr.Schema.Type().TerraformType(ctx).(tftypes.Object)
	listType, ok2 := objectType.AttributeTypes["grants"].(tftypes.List)
	itemType, ok3 := listType.ElementType.(tftypes.Object)
	if !ok || !ok2 || !ok3 {
		t.Fatal("governed_grants' schema has no list of objects named grants")
	}

	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	base := ledger.Grant{ID: "grt_1", Principal: "svc-a", Entitlement: "read", TicketID: "SEC-1",
		Approvers: []string{"alice@example.com", "Bob@example.com"}, Target: "ledger",
		ExpiresAt: "2026-05-01T20:00:00Z", GrantedAt: now.Add(-time.Hour), Status: ledger.StatusActive}
	variants := map[string]func(g *ledger.Grant){
		"active":      func(*ledger.Grant) {},
		"past expiry": func(g *ledger.Grant) { g.ExpiresAt = "2026-05-01T11:00:00+02:00" },
		"revoked": func(g *ledger.Grant) {
			g.Status, g.RevokedAt, g.RevocationReason = ledger.StatusRevoked, now.Add(-time.Minute), ledger.ReasonOutOfBand
		},
		"revocation pending": func(g *ledger.Grant) {
			g.Status, g.RevokedAt, g.RevocationReason, g.RevokePending = ledger.StatusExpired, now, ledger.ReasonExpired, true
		},
		"pending":       func(g *ledger.Grant) { g.Status, g.GrantedAt = ledger.StatusPending, time.Time{} },
		"break-glass":   func(g *ledger.Grant) { g.BreakGlass, g.Approvers = true, nil },
		"one approver":  func(g *ledger.Grant) { g.Approvers = []string{"carol@example.com"} },
		"odd principal": func(g *ledger.Grant) { g.Principal = " SVC-\u00c4 " },
	}
	var grants []ledger.Grant
	var reflected []grantItemModel
	var direct []tftypes.Value
	for name, change := range variants {
		g := base
		g.ID = "grt_" + name
		change(&g)
		grants = append(grants, g)
		status := g.StatusAt(now)
		reflected = append(reflected, grantItemFromLedger(g, status))
		direct = append(direct, grantItemValue(itemType, g, status))
	}
	for _, items := range [][2]int{{0, 0}, {0, 1}, {0, len(grants)}} {
		state := tfsdk.State{Schema: sr.Schema, Raw: tftypes.NewValue(objectType, nil)}
		m := grantsReflectedModel{Principal: types.StringNull(), Entitlement: types.StringValue("read"),
			Status: types.StringNull(), ExpiringBefore: types.StringNull(), Grants: reflected[items[0]:items[1]]}
		if m.Grants == nil {
			m.Grants = []grantItemModel{}
		}
		if diags := state.Set(ctx, &m); diags.HasError() {
			t.Fatal(diags)
		}
		want := tftypes.NewValue(objectType, map[string]tftypes.Value{
			"principal":       tftypes.NewValue(tftypes.String, nil),
			"entitlement":     tftypes.NewValue(tftypes.String, "read"),
			"status":          tftypes.NewValue(tftypes.String, nil),
			"expiring_before": tftypes.NewValue(tftypes.String, nil),
			"grants":          tftypes.NewValue(listType, append([]tftypes.Value{}, direct[items[0]:items[1]]...)),
		})
		if diff, err := state.Raw.Diff(want); err != nil || len(diff) > 0 || !state.Raw.Equal(want) {
			t.Errorf("%d grants: the direct value differs from the reflected one (%v):\n%v\n%v", items[1], err, diff, state.Raw)
		}
	}
}

// TestGrantsDirectReadIsTheFrameworkRead: the provider's server answers
// governed_grants itself (readGrantsDirect) with exactly the bytes the
// framework answers with, for grants in every state and every kind of
// filter, and leaves to the framework what it does not answer, so that its
// diagnostics are the framework's.
func TestGrantsDirectReadIsTheFrameworkRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "governed.db")
	l, err := ledger.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	now := testNow
	refused := errors.New("connection refused")
	n := 0
	mk := func(principal, entitlement string, expires time.Time, change func(g *ledger.Grant)) ledger.Grant {
		t.Helper()
		n++
		g := ledger.Grant{ID: fmt.Sprintf("grt_%04d", n), Principal: principal, Entitlement: entitlement,
			TicketID: fmt.Sprintf("SEC-%d", n), Approvers: []string{"alice@example.com", "bob@example.com"},
			Target: "ledger", Role: "reader", ExpiresAt: expires.Format(time.RFC3339)}
		if change != nil {
			change(&g)
		}
		g, err := l.IssueGrant(ctx, g, now.Add(-48*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	later, past := now.Add(8*time.Hour), now.Add(-time.Hour)
	for _, p := range []string{"svc-a", "SVC-A", "svc-\u00e4", "svc-b"} {
		for _, e := range []string{"payments-db-read", "ci-deploy"} {
			mk(p, e, later, nil)                                                             // active
			mk(p, e, past, nil)                                                              // past its expiry, not yet recorded
			mk(p, e, later, func(g *ledger.Grant) { g.BreakGlass, g.Approvers = true, nil }) // break-glass, no approvers
			mk(p, e, later, func(g *ledger.Grant) { g.TTL = "8h" })                          // ttl
			g := mk(p, e, later, nil)
			if _, _, err := l.RevokeGrant(ctx, g.ID, now.Add(-time.Hour), ledger.ReasonOutOfBand, "INC-1", nil); err != nil {
				t.Fatal(err)
			}
			g = mk(p, e, later, nil)
			if _, _, err := l.RevokeGrant(ctx, g.ID, now.Add(-time.Hour), ledger.ReasonOutOfBand, "INC-2", refused); err != nil {
				t.Fatal(err) // revocation pending
			}
			g = mk(p, e, past, nil)
			if _, _, err := l.ExpireGrant(ctx, g.ID, now.Add(-time.Minute), nil); err != nil {
				t.Fatal(err)
			}
			if _, _, err := l.RetireGrant(ctx, g.ID, now.Add(-time.Second), nil); err != nil {
				t.Fatal(err)
			}
			pending := ledger.Grant{ID: fmt.Sprintf("grt_p%s%s", p, e), Principal: p, Entitlement: e, TicketID: "SEC-9",
				Approvers: []string{"alice@example.com"}, Target: "postgres.payments", Role: "payments_read",
				ExpiresAt: later.Format(time.RFC3339)}
			if _, err := l.RequestGrant(ctx, pending, now.Add(-time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Lengths at every MessagePack header size: strings of 32 and 256 bytes
	// and more, a set of 16 approvers and more.
	mk("svc-"+strings.Repeat("long", 10), "payments-db-read", later, nil)
	mk("svc-"+strings.Repeat("longer", 60), "payments-db-read", later, nil)
	mk("svc-many", "payments-db-read", later, func(g *ledger.Grant) {
		g.Approvers = nil
		for i := range 17 {
			g.Approvers = append(g.Approvers, fmt.Sprintf("approver-%d@example.com", i))
		}
	})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	server, rs, schemas := configuredServer(ctx, t, dir, path, now)
	if rs.configured.Load() == nil {
		t.Fatal("ConfigureProvider did not keep what Configure made")
	}

	dataType := schemas.DataSourceSchemas[grantsTypeName].ValueType()
	var filters []map[string]string
	for _, p := range []string{"", "svc-a", " Svc-A ", "SVC-\u00c4", "svc-nobody", "   ", "svc-many", "SVC-" + strings.Repeat("LONG", 10)} {
		for _, e := range []string{"", "payments-db-read", "ci-deploy"} {
			for _, st := range []string{"", "active", "expired", "revoked", "pending"} {
				f := map[string]string{}
				for k, v := range map[string]string{"principal": p, "entitlement": e, "status": st} {
					if v != "" {
						f[k] = v
					}
				}
				filters = append(filters, f)
			}
		}
	}
	for _, before := range []string{now.Add(time.Hour).Format(time.RFC3339), later.Add(time.Second).Format(time.RFC3339), "2026-11-28T13:00:00+02:00"} {
		filters = append(filters, map[string]string{"expiring_before": before}, map[string]string{"expiring_before": before, "principal": "svc-a"})
	}
	// What the direct read leaves to the framework.
	// (A status the validators refuse is refused before a read; a read of
	// one lists nothing, either way.)
	framework := []map[string]string{{"expiring_before": "tomorrow"}}
	filters = append(filters, map[string]string{"status": "lost"})
	filters = append(filters, framework...)

	direct := 0
	for _, f := range filters {
		req := &tfprotov6.ReadDataSourceRequest{TypeName: grantsTypeName, Config: dynamicValue(t, dataType, f)}
		want, err := rs.ProviderServer.ReadDataSource(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := server.ReadDataSource(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%v: the server's answer differs from the framework's:\n%+v\n%+v", f, got, want)
		}
		mine, ok := readGrantsDirect(ctx, rs.configured.Load(), req)
		if ok {
			direct++
			if !reflect.DeepEqual(mine, want) {
				t.Errorf("%v: the direct answer differs from the framework's", f)
			}
		} else if !slices.ContainsFunc(framework, func(g map[string]string) bool { return maps.Equal(f, g) }) {
			t.Errorf("%v: the direct read left a plain read to the framework", f)
		}
		if ok == (len(want.Diagnostics) > 0) {
			t.Errorf("%v: answered directly %v, with %d diagnostics from the framework", f, ok, len(want.Diagnostics))
		}
	}
	if direct < len(filters)-len(framework) {
		t.Errorf("only %d of %d reads were answered directly", direct, len(filters))
	}
	// Nothing listed is a test of nothing: the filters must find grants.
	req := &tfprotov6.ReadDataSourceRequest{TypeName: grantsTypeName, Config: dynamicValue(t, dataType, map[string]string{"principal": "svc-a", "status": "active"})}
	if resp, _ := server.ReadDataSource(ctx, req); countGrants(t, dataType, resp.State) != 12 {
		t.Errorf("svc-a (as svc-a and SVC-A) has %d active grants, want 12", countGrants(t, dataType, resp.State))
	}
}

// TestChunkedWriterKeepsOrder: values written across many chunks read back
// as one text, in the order written, as one writer would have written them.
func TestChunkedWriterKeepsOrder(t *testing.T) {
	t.Parallel()
	var chunked chunkedWriter
	var whole msgpackWriter
	for i := range 3 * chunkSize / 10 {
		s := strings.Repeat("x", i%300)
		chunked.next().str(s)
		whole.str(s)
	}
	if len(chunked.done) < 2 {
		t.Fatalf("%d full chunks, want several", len(chunked.done))
	}
	got := chunked.appendTo([]byte("head"))
	if chunked.len() != len(whole.b) || string(got) != "head"+string(whole.b) {
		t.Fatalf("chunks hold %d bytes that differ from the %d written", chunked.len(), len(whole.b))
	}
}
