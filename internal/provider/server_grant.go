package provider

import (
	"bytes"
	"context"
	"slices"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
)

// grantTypeName is the type name Terraform sends for governed_grant.
const grantTypeName = "governed_grant"

// grantObjectType is the Terraform type of governed_grant's schema.
var grantObjectType = sync.OnceValue(func() tftypes.Object {
	var resp resource.SchemaResponse
	NewGrantResource().Schema(context.Background(), resource.SchemaRequest{}, &resp)
	t, _ := resp.Schema.Type().TerraformType(context.Background()).(tftypes.Object)
	return t
})

// settledGrant is a governed_grant that the framework would leave exactly as
// it is: decoded from state without the framework, with its ledger record.
type settledGrant struct {
	value tftypes.Value
	state grantModel
	rec   ledger.Grant
}

// readSettledGrant decodes state (MessagePack) and reads its grant from the
// ledger. It reports false, for the framework to answer, unless state is a
// known grant with no private state whose ledger record is active, not past
// its expiry as of the run's now, has no revocation pending and is recorded
// only in the ledger (no target to observe).
func readSettledGrant(ctx context.Context, data *providerData, state *tfprotov6.DynamicValue, private []byte) (settledGrant, bool) {
	objectType := grantObjectType()
	if data == nil || state == nil || len(private) > 0 || objectType.AttributeTypes == nil {
		return settledGrant{}, false
	}
	v, err := state.Unmarshal(objectType)
	if err != nil || v.IsNull() || !v.IsFullyKnown() {
		return settledGrant{}, false
	}
	m, ok := grantModelFromValue(v)
	if !ok || m.ID.ValueString() == "" {
		return settledGrant{}, false
	}
	switch m.Status.ValueString() {
	case ledger.StatusExpired, ledger.StatusRevoked:
		return settledGrant{}, false // the ledger may have gone backwards (wentBackwards)
	}
	rec, err := data.ledger.Grant(ctx, m.ID.ValueString())
	if err != nil || rec.Status != ledger.StatusActive || rec.StatusAt(data.now) != ledger.StatusActive ||
		rec.RevokePending || data.run.Enforced(rec) {
		return settledGrant{}, false
	}
	return settledGrant{value: v, state: m, rec: rec}, true
}

// planGrantDirect answers a PlanResourceChange request for governed_grant
// without the framework when the framework's answer is known to be the prior
// state unchanged with nothing to say: Terraform proposes exactly the prior
// state, the configuration is known and leaves break_glass's default with
// nothing to change, and ModifyPlan would return at its first check (same
// arguments as the ledger's record, no drift from it, no expiry, no
// withdrawn approval, no pending revocation, nothing to observe in a
// target). It makes the same note as ModifyPlan (the grant is settled by
// this resource). Otherwise it reports false and the framework answers.
// TestGrantFastPathIsTheFramework holds the two answers equal byte for byte.
func planGrantDirect(ctx context.Context, data *providerData, req *tfprotov6.PlanResourceChangeRequest) (*tfprotov6.PlanResourceChangeResponse, bool) {
	if req.PriorState == nil || req.ProposedNewState == nil || req.Config == nil || req.PriorIdentity != nil ||
		len(req.PriorState.MsgPack) == 0 || !bytes.Equal(req.PriorState.MsgPack, req.ProposedNewState.MsgPack) {
		return nil, false
	}
	g, ok := readSettledGrant(ctx, data, req.PriorState, req.PriorPrivate)
	if !ok {
		return nil, false
	}
	cv, err := req.Config.Unmarshal(grantObjectType())
	if err != nil || cv.IsNull() || !cv.IsFullyKnown() {
		return nil, false
	}
	config, ok := grantModelFromValue(cv)
	if !ok {
		return nil, false
	}
	// The framework sets break_glass to its default, false, where the
	// configuration leaves it out.
	if config.BreakGlass.IsNull() && g.state.BreakGlass.ValueBool() {
		return nil, false
	}
	if len(changedArguments(g.state, config, g.rec)) > 0 || len(grantDrift(g.state, grantModelFromLedger(g.rec))) > 0 {
		return nil, false
	}
	if g.rec.ApprovalID != "" {
		under, err := data.run.UnderWithdrawnApproval(ctx)
		if err != nil || slices.ContainsFunc(under, func(o ledger.Grant) bool { return o.ID == g.rec.ID }) {
			return nil, false
		}
	}
	planned, ok := encodeGrantModel(g.state)
	if !ok {
		return nil, false
	}
	data.managed.Store(g.state.ID.ValueString(), true)
	return &tfprotov6.PlanResourceChangeResponse{PlannedState: planned}, true
}

// readGrantDirect answers a ReadResource request for governed_grant without
// the framework when Read would answer the ledger's view of the grant with
// no diagnostics: the grant is as readSettledGrant requires, and state does
// not differ from the ledger on the attributes Read reports on
// (addStateVersusLedger). Otherwise it reports false and the framework
// answers. TestGrantFastPathIsTheFramework holds the two answers equal.
func readGrantDirect(ctx context.Context, data *providerData, req *tfprotov6.ReadResourceRequest) (*tfprotov6.ReadResourceResponse, bool) {
	if req.CurrentIdentity != nil {
		return nil, false
	}
	g, ok := readSettledGrant(ctx, data, req.CurrentState, req.Private)
	if !ok {
		return nil, false
	}
	var diags diag.Diagnostics
	addStateVersusLedger(&diags, g.state, g.rec, "so its values replace the ones in state")
	if len(diags) > 0 {
		return nil, false
	}
	next, ok := encodeGrantModel(grantModelFromLedger(g.rec))
	if !ok {
		return nil, false
	}
	return &tfprotov6.ReadResourceResponse{NewState: next}, true
}

// grantModelFields are grantModel's attributes by their schema names.
func grantModelFields(m *grantModel) map[string]any {
	return map[string]any{
		"id": &m.ID, "principal": &m.Principal, "entitlement": &m.Entitlement, "ticket_id": &m.TicketID,
		"approvers": &m.Approvers, "expires_at": &m.ExpiresAt, "ttl": &m.TTL, "approval_id": &m.ApprovalID,
		"justification": &m.Justification, "requester": &m.Requester, "break_glass": &m.BreakGlass,
		"status": &m.Status, "active": &m.Active, "granted_at": &m.GrantedAt, "revoked_at": &m.RevokedAt,
		"revocation_reason": &m.RevocationReason, "revocation_pending": &m.RevocationPending,
		"target": &m.Target, "role": &m.Role,
	}
}

// grantModelFromValue maps a governed_grant value to grantModel as the
// framework's reflection does, for known and null values; it reports false
// for anything else (unknown values, attributes the model lacks).
func grantModelFromValue(v tftypes.Value) (grantModel, bool) {
	return grantModelFromValues(v, false)
}

// grantPlanFromValue is grantModelFromValue for a planned value, whose
// attributes may be unknown (not their elements).
func grantPlanFromValue(v tftypes.Value) (grantModel, bool) {
	return grantModelFromValues(v, true)
}

func grantModelFromValues(v tftypes.Value, allowUnknown bool) (grantModel, bool) {
	var attrs map[string]tftypes.Value
	if err := v.As(&attrs); err != nil {
		return grantModel{}, false
	}
	var m grantModel
	fields := grantModelFields(&m)
	if len(attrs) != len(fields) {
		return grantModel{}, false
	}
	for name, av := range attrs {
		if !av.IsKnown() {
			if !allowUnknown {
				return grantModel{}, false
			}
			switch f := fields[name].(type) {
			case *types.String:
				*f = types.StringUnknown()
			case *types.Bool:
				*f = types.BoolUnknown()
			case *types.Set:
				*f = types.SetUnknown(types.StringType)
			default:
				return grantModel{}, false
			}
			continue
		}
		switch f := fields[name].(type) {
		case *types.String:
			if av.IsNull() {
				*f = types.StringNull()
				continue
			}
			var s string
			if av.As(&s) != nil {
				return grantModel{}, false
			}
			*f = types.StringValue(s)
		case *types.Bool:
			if av.IsNull() {
				*f = types.BoolNull()
				continue
			}
			var b bool
			if av.As(&b) != nil {
				return grantModel{}, false
			}
			*f = types.BoolValue(b)
		case *types.Set:
			if av.IsNull() {
				*f = types.SetNull(types.StringType)
				continue
			}
			var elems []tftypes.Value
			if av.As(&elems) != nil {
				return grantModel{}, false
			}
			values := make([]attr.Value, 0, len(elems))
			for _, e := range elems {
				var s string
				if !e.IsKnown() || e.IsNull() || e.As(&s) != nil {
					return grantModel{}, false
				}
				values = append(values, types.StringValue(s))
			}
			set, diags := types.SetValue(types.StringType, values)
			if diags.HasError() {
				return grantModel{}, false
			}
			*f = set
		default:
			return grantModel{}, false
		}
	}
	return m, true
}

// encodeGrantModel encodes m, every value known, in MessagePack as the
// framework does (msgpackWriter); false for an unknown value.
func encodeGrantModel(m grantModel) (*tfprotov6.DynamicValue, bool) {
	return encodeGrantValues(m, false)
}

// encodeGrantPlan encodes m, in which top-level values may be unknown, in
// MessagePack as the framework does.
func encodeGrantPlan(m grantModel) (*tfprotov6.DynamicValue, bool) {
	return encodeGrantValues(m, true)
}

func encodeGrantValues(m grantModel, allowUnknown bool) (*tfprotov6.DynamicValue, bool) {
	attrs := map[string]any{}
	for name, f := range grantModelFields(&m) {
		if u, ok := f.(interface{ IsUnknown() bool }); ok && u.IsUnknown() {
			if !allowUnknown {
				return nil, false
			}
			attrs[name] = msgpackUnknown{}
			continue
		}
		switch f := f.(type) {
		case *types.String:
			attrs[name] = nil
			if !f.IsNull() {
				attrs[name] = f.ValueString()
			}
		case *types.Bool:
			attrs[name] = nil
			if !f.IsNull() {
				attrs[name] = f.ValueBool()
			}
		case *types.Set:
			attrs[name] = nil
			if !f.IsNull() {
				// In the set's own order, as the framework encodes it
				// (setStrings would sort).
				strs := []string{}
				for _, e := range f.Elements() {
					s, ok := e.(types.String)
					if !ok || s.IsUnknown() || s.IsNull() {
						return nil, false
					}
					strs = append(strs, s.ValueString())
				}
				attrs[name] = strs
			}
		}
	}
	var w msgpackWriter
	if err := w.object(grantObjectType(), attrs); err != nil {
		return nil, false
	}
	return &tfprotov6.DynamicValue{MsgPack: w.b}, true
}
