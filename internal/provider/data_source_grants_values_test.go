package provider

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
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
	objectType := sr.Schema.Type().TerraformType(ctx).(tftypes.Object)
	listType := objectType.AttributeTypes["grants"].(tftypes.List)
	itemType := listType.ElementType.(tftypes.Object)

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
