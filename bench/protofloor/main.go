// Command protofloor is a provider that does nothing, written on the plugin
// protocol itself (terraform-plugin-go) rather than on the plugin framework, for
// scripts/bench.sh: what Terraform and the plugin protocol cost for
// governed_grant in any external provider, the floor under every framework
// provider and under governed.
//
// It serves the real provider's schemas (asked of the real provider once, at
// start, so they cannot drift), and answers every request Terraform sends per
// resource instance itself, with as little work as the protocol allows:
// validation accepts everything; UpgradeResourceState decodes the stored JSON;
// ReadResource returns the state it was given; PlanResourceChange returns the
// proposed new state, with the computed attributes of a new grant unknown
// (status, active, target and role known, as governed plans them); and
// ApplyResourceChange fills the unknowns with fixed values, or removes the
// grant. Configuring it does nothing: the provider block's arguments are
// accepted and ignored, and the same configuration text works against
// governed, bench/floor and this.
//
// Build it into a dev_overrides directory under the provider's name:
//
//	go build -o DIR/terraform-provider-governed ./bench/protofloor
package main

import (
	"context"
	"errors"
	"log"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6/tf6server"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	governed "github.com/governed-entitlements/terraform-provider-governed/internal/provider"
)

const grantType = "governed_grant"

// Fixed values for the computed attributes, as bench/floor has them.
const (
	fixedGrantedAt = "2026-01-01T00:00:00Z"
	fixedExpiresAt = "2026-01-01T08:00:00Z"
)

func main() {
	governed.QuietUnreadLogs(governed.Address)
	framework, err := governed.NewProtocol6Server(governed.New("protofloor"))()
	if err != nil {
		log.Fatal(err)
	}
	schemas, err := framework.GetProviderSchema(context.Background(), &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		log.Fatal(err)
	}
	grant := schemas.ResourceSchemas[grantType]
	if grant == nil {
		log.Fatal(errors.New("the provider has no " + grantType))
	}
	// Only governed_grant is served; the rest of the real schema is dropped so
	// that nothing else can reach the real provider.
	schemas.ResourceSchemas = map[string]*tfprotov6.Schema{grantType: grant}
	schemas.DataSourceSchemas = map[string]*tfprotov6.Schema{}
	grantObject, ok := grant.ValueType().(tftypes.Object)
	if !ok {
		log.Fatal(errors.New(grantType + "'s schema is not an object"))
	}
	s := &server{ProviderServer: framework, schemas: schemas, grant: grantObject}
	if err := tf6server.Serve(governed.Address, func() tfprotov6.ProviderServer { return s }); err != nil {
		log.Fatal(err)
	}
}

// server answers the requests that Terraform sends; the embedded real server
// is only there to satisfy the interface's other methods, which Terraform does
// not call for this configuration.
type server struct {
	tfprotov6.ProviderServer
	schemas *tfprotov6.GetProviderSchemaResponse
	grant   tftypes.Object
}

func (s *server) GetMetadata(context.Context, *tfprotov6.GetMetadataRequest) (*tfprotov6.GetMetadataResponse, error) {
	return &tfprotov6.GetMetadataResponse{
		ServerCapabilities: s.schemas.ServerCapabilities,
		Resources:          []tfprotov6.ResourceMetadata{{TypeName: grantType}},
	}, nil
}

func (s *server) GetProviderSchema(context.Context, *tfprotov6.GetProviderSchemaRequest) (*tfprotov6.GetProviderSchemaResponse, error) {
	return s.schemas, nil
}

func (s *server) ValidateProviderConfig(_ context.Context, req *tfprotov6.ValidateProviderConfigRequest) (*tfprotov6.ValidateProviderConfigResponse, error) {
	return &tfprotov6.ValidateProviderConfigResponse{PreparedConfig: req.Config}, nil
}

func (s *server) ConfigureProvider(context.Context, *tfprotov6.ConfigureProviderRequest) (*tfprotov6.ConfigureProviderResponse, error) {
	return &tfprotov6.ConfigureProviderResponse{}, nil
}

func (s *server) StopProvider(context.Context, *tfprotov6.StopProviderRequest) (*tfprotov6.StopProviderResponse, error) {
	return &tfprotov6.StopProviderResponse{}, nil
}

func (s *server) ValidateResourceConfig(context.Context, *tfprotov6.ValidateResourceConfigRequest) (*tfprotov6.ValidateResourceConfigResponse, error) {
	return &tfprotov6.ValidateResourceConfigResponse{}, nil
}

func (s *server) UpgradeResourceState(_ context.Context, req *tfprotov6.UpgradeResourceStateRequest) (*tfprotov6.UpgradeResourceStateResponse, error) {
	v, err := req.RawState.UnmarshalWithOpts(s.grant, tfprotov6.UnmarshalOpts{
		ValueFromJSONOpts: tftypes.ValueFromJSONOpts{IgnoreUndefinedAttributes: true},
	})
	if err != nil {
		return &tfprotov6.UpgradeResourceStateResponse{Diagnostics: failed("Unable to read state", err)}, nil
	}
	dv, err := tfprotov6.NewDynamicValue(s.grant, v)
	if err != nil {
		return &tfprotov6.UpgradeResourceStateResponse{Diagnostics: failed("Unable to read state", err)}, nil
	}
	return &tfprotov6.UpgradeResourceStateResponse{UpgradedState: &dv}, nil
}

func (s *server) ReadResource(_ context.Context, req *tfprotov6.ReadResourceRequest) (*tfprotov6.ReadResourceResponse, error) {
	return &tfprotov6.ReadResourceResponse{NewState: req.CurrentState, Private: req.Private}, nil
}

// PlanResourceChange plans the proposed new state. A new grant gets its
// computed attributes: status, active, target and role known, the others
// unknown where the configuration leaves them open.
func (s *server) PlanResourceChange(_ context.Context, req *tfprotov6.PlanResourceChangeRequest) (*tfprotov6.PlanResourceChangeResponse, error) {
	prior, err := req.PriorState.Unmarshal(s.grant)
	if err != nil {
		return &tfprotov6.PlanResourceChangeResponse{Diagnostics: failed("Unable to plan", err)}, nil
	}
	if !prior.IsNull() {
		return &tfprotov6.PlanResourceChangeResponse{PlannedState: req.ProposedNewState, PlannedPrivate: req.PriorPrivate}, nil
	}
	proposed, err := req.ProposedNewState.Unmarshal(s.grant)
	if err != nil || proposed.IsNull() {
		return &tfprotov6.PlanResourceChangeResponse{PlannedState: req.ProposedNewState, Diagnostics: failed("Unable to plan", err)}, nil
	}
	planned, err := s.fill(proposed, func(name string, _ tftypes.Value) tftypes.Value {
		switch name {
		case "status":
			return tftypes.NewValue(tftypes.String, "active")
		case "active":
			return tftypes.NewValue(tftypes.Bool, true)
		case "target":
			return tftypes.NewValue(tftypes.String, "ledger")
		case "role":
			return tftypes.NewValue(tftypes.String, "bench_read")
		}
		return tftypes.NewValue(s.grant.AttributeTypes[name], tftypes.UnknownValue)
	}, func(v tftypes.Value) bool { return v.IsNull() })
	if err != nil {
		return &tfprotov6.PlanResourceChangeResponse{Diagnostics: failed("Unable to plan", err)}, nil
	}
	dv, err := tfprotov6.NewDynamicValue(s.grant, planned)
	if err != nil {
		return &tfprotov6.PlanResourceChangeResponse{Diagnostics: failed("Unable to plan", err)}, nil
	}
	return &tfprotov6.PlanResourceChangeResponse{PlannedState: &dv}, nil
}

// ApplyResourceChange makes the planned state the new state, with fixed
// values where the plan left values unknown; a planned null removes the grant.
func (s *server) ApplyResourceChange(_ context.Context, req *tfprotov6.ApplyResourceChangeRequest) (*tfprotov6.ApplyResourceChangeResponse, error) {
	planned, err := req.PlannedState.Unmarshal(s.grant)
	if err != nil {
		return &tfprotov6.ApplyResourceChangeResponse{Diagnostics: failed("Unable to apply", err)}, nil
	}
	if planned.IsNull() {
		return &tfprotov6.ApplyResourceChangeResponse{NewState: req.PlannedState}, nil
	}
	var principal string
	var attrs map[string]tftypes.Value
	if err := planned.As(&attrs); err == nil {
		_ = attrs["principal"].As(&principal)
	}
	state, err := s.fill(planned, func(name string, _ tftypes.Value) tftypes.Value {
		switch name {
		case "id":
			return tftypes.NewValue(tftypes.String, "grant-"+principal)
		case "granted_at":
			return tftypes.NewValue(tftypes.String, fixedGrantedAt)
		case "expires_at":
			return tftypes.NewValue(tftypes.String, fixedExpiresAt)
		case "revocation_pending", "break_glass":
			return tftypes.NewValue(tftypes.Bool, false)
		}
		return tftypes.NewValue(s.grant.AttributeTypes[name], nil)
	}, func(v tftypes.Value) bool { return !v.IsKnown() })
	if err != nil {
		return &tfprotov6.ApplyResourceChangeResponse{Diagnostics: failed("Unable to apply", err)}, nil
	}
	dv, err := tfprotov6.NewDynamicValue(s.grant, state)
	if err != nil {
		return &tfprotov6.ApplyResourceChangeResponse{Diagnostics: failed("Unable to apply", err)}, nil
	}
	return &tfprotov6.ApplyResourceChangeResponse{NewState: &dv}, nil
}

// fill replaces the value of every computed attribute of v for which open is
// true with with's value for it.
func (s *server) fill(v tftypes.Value, with func(name string, old tftypes.Value) tftypes.Value, open func(tftypes.Value) bool) (tftypes.Value, error) {
	var attrs map[string]tftypes.Value
	if err := v.As(&attrs); err != nil {
		return tftypes.Value{}, err
	}
	grant := s.schemas.ResourceSchemas[grantType]
	for _, a := range grant.Block.Attributes {
		if a.Computed && open(attrs[a.Name]) {
			attrs[a.Name] = with(a.Name, attrs[a.Name])
		}
	}
	return tftypes.NewValue(s.grant, attrs), nil
}

func failed(summary string, err error) []*tfprotov6.Diagnostic {
	detail := "no value"
	if err != nil {
		detail = err.Error()
	}
	return []*tfprotov6.Diagnostic{{Severity: tfprotov6.DiagnosticSeverityError, Summary: summary, Detail: detail}}
}
