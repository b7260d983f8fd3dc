package provider

import (
	"context"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// The requests Terraform sends for every governed_grant in every plan and
// apply before the plan itself: UpgradeResourceState for each grant in state,
// ValidateResourceConfig for each one configured (three times in an apply:
// validate, plan and apply walks), and PlanResourceChange for each new grant
// (twice in an apply). The framework answers them through its reflection and
// schema walks; the server answers the plain cases itself, with the bytes
// the framework would send, and leaves everything else to the framework.
// TestGrantConfigPathsAreTheFramework holds the two answers identical.

// grantSchemaOnce is governed_grant's schema, made once.
var grantSchemaOnce = sync.OnceValue(grantSchema)

// grantAttributeChecks are what the framework checks of each configured
// attribute of governed_grant when it validates a configuration: whether it
// is required, whether it may be configured at all (computed only), and the
// schema's validators of string attributes. ok is false when the schema has
// something these checks do not cover (validators of other kinds, deprecated
// attributes, write-only attributes, resource-level validation), and then
// every configuration goes to the framework.
type grantAttributeCheck struct {
	required, computedOnly bool
	strings                []validator.String
}

var grantAttributeChecks = sync.OnceValues(func() (map[string]grantAttributeCheck, bool) {
	r := NewGrantResource()
	if _, ok := r.(resource.ResourceWithValidateConfig); ok {
		return nil, false
	}
	if _, ok := r.(resource.ResourceWithConfigValidators); ok {
		return nil, false
	}
	s := grantSchemaOnce()
	if len(s.Blocks) > 0 || s.DeprecationMessage != "" || s.Version != 0 {
		return nil, false
	}
	checks := map[string]grantAttributeCheck{}
	for name, a := range s.Attributes {
		if a.GetDeprecationMessage() != "" || a.IsWriteOnly() || a.IsSensitive() {
			return nil, false
		}
		c := grantAttributeCheck{required: a.IsRequired(), computedOnly: a.IsComputed() && !a.IsOptional() && !a.IsRequired()}
		switch a := a.(type) {
		case schema.StringAttribute:
			c.strings = a.Validators
		case schema.BoolAttribute:
			if len(a.Validators) > 0 {
				return nil, false
			}
		case schema.SetAttribute:
			if len(a.Validators) > 0 {
				return nil, false
			}
		default:
			return nil, false
		}
		checks[name] = c
	}
	return checks, true
})

// validateGrantConfigDirect answers ValidateResourceConfig for governed_grant
// when the framework would find nothing to say: the configuration is known,
// every required attribute is set, no computed-only one is, and every
// validator of the schema passes. It reports false otherwise, so that every
// diagnostic of validation is the framework's.
func validateGrantConfigDirect(ctx context.Context, req *tfprotov6.ValidateResourceConfigRequest) (*tfprotov6.ValidateResourceConfigResponse, bool) {
	checks, ok := grantAttributeChecks()
	if !ok || req.Config == nil {
		return nil, false
	}
	v, err := req.Config.Unmarshal(grantObjectType())
	if err != nil || v.IsNull() || !v.IsFullyKnown() {
		return nil, false
	}
	var attrs map[string]tftypes.Value
	if err := v.As(&attrs); err != nil || len(attrs) != len(checks) {
		return nil, false
	}
	m, ok := grantModelFromValue(v)
	if !ok {
		return nil, false
	}
	fields := grantModelFields(&m)
	config := tfsdk.Config{Raw: v, Schema: grantSchemaOnce()}
	for name, c := range checks {
		av, ok := attrs[name]
		if !ok || c.required && av.IsNull() || c.computedOnly && !av.IsNull() {
			return nil, false
		}
		if len(c.strings) == 0 {
			continue
		}
		s, ok := fields[name].(*types.String)
		if !ok {
			return nil, false
		}
		vreq := validator.StringRequest{Path: path.Root(name), PathExpression: path.MatchRoot(name), ConfigValue: *s, Config: config}
		for _, check := range c.strings {
			var vresp validator.StringResponse
			check.ValidateString(ctx, vreq, &vresp)
			if len(vresp.Diagnostics) > 0 {
				return nil, false
			}
		}
	}
	return &tfprotov6.ValidateResourceConfigResponse{}, true
}

// upgradeGrantStateDirect answers UpgradeResourceState for governed_grant
// state of the schema's own version as the framework does: the JSON state
// read against the schema, attributes the schema no longer has ignored, and
// encoded again in MessagePack. State the schema cannot read goes to the
// framework, which explains why.
func upgradeGrantStateDirect(req *tfprotov6.UpgradeResourceStateRequest) (*tfprotov6.UpgradeResourceStateResponse, bool) {
	if _, ok := grantAttributeChecks(); !ok || req.Version != grantSchemaOnce().Version || req.RawState == nil ||
		len(req.RawState.JSON) == 0 || req.RawState.Flatmap != nil {
		return nil, false
	}
	objectType := grantObjectType()
	v, err := req.RawState.UnmarshalWithOpts(objectType, tfprotov6.UnmarshalOpts{
		ValueFromJSONOpts: tftypes.ValueFromJSONOpts{IgnoreUndefinedAttributes: true},
	})
	if err != nil {
		return nil, false
	}
	dv, err := tfprotov6.NewDynamicValue(objectType, v)
	if err != nil {
		return nil, false
	}
	return &tfprotov6.UpgradeResourceStateResponse{UpgradedState: &dv}, true
}

// planGrantCreateDirect answers PlanResourceChange for a new governed_grant
// (no prior state) as the framework does when the plan has nothing to say:
// the proposed state with break_glass's default where the configuration
// leaves it out, every other computed attribute the configuration leaves
// out unknown, then planNewGrant, exactly as ModifyPlan runs it. Any
// diagnostic (a refusal, a warning) sends the request to the framework,
// which judges the grant again and reports it; so do unknown values in the
// configuration and private state.
func planGrantCreateDirect(ctx context.Context, data *providerData, req *tfprotov6.PlanResourceChangeRequest) (*tfprotov6.PlanResourceChangeResponse, bool) {
	objectType := grantObjectType()
	if data == nil || req.PriorState == nil || req.ProposedNewState == nil || req.Config == nil ||
		req.PriorIdentity != nil || len(req.PriorPrivate) > 0 || objectType.AttributeTypes == nil {
		return nil, false
	}
	prior, err := req.PriorState.Unmarshal(objectType)
	if err != nil || !prior.IsNull() {
		return nil, false
	}
	pv, err := req.ProposedNewState.Unmarshal(objectType)
	if err != nil || pv.IsNull() || !pv.IsFullyKnown() {
		return nil, false
	}
	cv, err := req.Config.Unmarshal(objectType)
	if err != nil || cv.IsNull() || !cv.IsFullyKnown() {
		return nil, false
	}
	plan, ok := grantModelFromValue(pv)
	if !ok {
		return nil, false
	}
	config, ok := grantModelFromValue(cv)
	if !ok {
		return nil, false
	}
	// The framework's steps before ModifyPlan: defaults, then every computed
	// attribute left out of the configuration unknown (UseStateForUnknown
	// keeps nothing without a prior state).
	if config.BreakGlass.IsNull() {
		plan.BreakGlass = types.BoolValue(false)
	}
	unknownString := func(planned *types.String, configured types.String) {
		if configured.IsNull() {
			*planned = types.StringUnknown()
		}
	}
	unknownString(&plan.ID, config.ID)
	unknownString(&plan.ExpiresAt, config.ExpiresAt)
	unknownString(&plan.Requester, config.Requester)
	unknownString(&plan.Status, config.Status)
	unknownString(&plan.GrantedAt, config.GrantedAt)
	unknownString(&plan.RevokedAt, config.RevokedAt)
	unknownString(&plan.RevocationReason, config.RevocationReason)
	unknownString(&plan.Target, config.Target)
	unknownString(&plan.Role, config.Role)
	if config.Active.IsNull() {
		plan.Active = types.BoolUnknown()
	}
	if config.RevocationPending.IsNull() {
		plan.RevocationPending = types.BoolUnknown()
	}
	var diags diag.Diagnostics
	(&grantResource{data: data}).planNewGrant(ctx, &plan, config, &diags)
	if len(diags) > 0 {
		return nil, false
	}
	planned, ok := encodeGrantPlan(plan)
	if !ok {
		return nil, false
	}
	return &tfprotov6.PlanResourceChangeResponse{PlannedState: planned}, true
}

// applyGrantCreateDirect answers ApplyResourceChange for a new governed_grant
// as the framework's Create does, without its reflection: it decodes the
// planned state and the configuration and runs create, the function Create
// runs, then encodes the issued grant's state, or a null state and the
// diagnostics when create refused. Requests it cannot decode (unknown
// values in the configuration or inside the approvers, private state, an
// identity) go to the framework before anything is written. Once create has
// run, its answer is this one, whatever it says: a grant is never issued
// twice. TestGrantCreateIsTheFramework holds the answers identical.
func applyGrantCreateDirect(ctx context.Context, data *providerData, req *tfprotov6.ApplyResourceChangeRequest) (*tfprotov6.ApplyResourceChangeResponse, bool) {
	objectType := grantObjectType()
	if data == nil || req.PriorState == nil || req.PlannedState == nil || req.Config == nil ||
		req.PlannedIdentity != nil || len(req.PlannedPrivate) > 0 || objectType.AttributeTypes == nil {
		return nil, false
	}
	prior, err := req.PriorState.Unmarshal(objectType)
	if err != nil || !prior.IsNull() {
		return nil, false
	}
	pv, err := req.PlannedState.Unmarshal(objectType)
	if err != nil || pv.IsNull() {
		return nil, false
	}
	cv, err := req.Config.Unmarshal(objectType)
	if err != nil || cv.IsNull() || !cv.IsFullyKnown() {
		return nil, false
	}
	plan, ok := grantPlanFromValue(pv)
	if !ok {
		return nil, false
	}
	config, ok := grantModelFromValue(cv)
	if !ok {
		return nil, false
	}
	var diags diag.Diagnostics
	resp := &tfprotov6.ApplyResourceChangeResponse{}
	state, ok := (&grantResource{data: data}).create(ctx, plan, config, &diags)
	if ok {
		if resp.NewState, ok = encodeGrantModel(state); !ok {
			diags.AddError("Unable to Convert State", "The issued grant "+state.ID.ValueString()+" could not be encoded for Terraform.")
		}
	}
	if resp.NewState == nil {
		null, err := tfprotov6.NewDynamicValue(objectType, tftypes.NewValue(objectType, nil))
		if err == nil {
			resp.NewState = &null
		}
	}
	resp.Diagnostics = protocolDiagnostics(diags)
	return resp, true
}

// protocolDiagnostics converts diagnostics for the protocol as the
// framework does (toproto6.Diagnostics): severity, summary, detail, and the
// attribute path of a diagnostic that has one.
func protocolDiagnostics(diags diag.Diagnostics) []*tfprotov6.Diagnostic {
	var out []*tfprotov6.Diagnostic
	for _, d := range diags {
		pd := &tfprotov6.Diagnostic{Detail: d.Detail(), Summary: d.Summary(), Severity: tfprotov6.DiagnosticSeverityInvalid}
		switch d.Severity() {
		case diag.SeverityError:
			pd.Severity = tfprotov6.DiagnosticSeverityError
		case diag.SeverityWarning:
			pd.Severity = tfprotov6.DiagnosticSeverityWarning
		}
		if dp, ok := d.(diag.DiagnosticWithPath); ok {
			var steps []tftypes.AttributePathStep
			for _, step := range dp.Path().Steps() {
				switch step := step.(type) {
				case path.PathStepAttributeName:
					steps = append(steps, tftypes.AttributeName(string(step)))
				case path.PathStepElementKeyInt:
					steps = append(steps, tftypes.ElementKeyInt(int64(step)))
				case path.PathStepElementKeyString:
					steps = append(steps, tftypes.ElementKeyString(string(step)))
				case path.PathStepElementKeyValue:
					v, err := step.ToTerraformValue(context.Background())
					if err != nil {
						continue
					}
					steps = append(steps, tftypes.ElementKeyValue(v))
				}
			}
			pd.Attribute = tftypes.NewAttributePathWithSteps(steps)
		}
		out = append(out, pd)
	}
	return out
}
