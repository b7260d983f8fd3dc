package provider

import (
	"context"
	"os"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6/tf6server"
)

// Address is the provider's registry address, which Terraform's configurations
// name it by.
const Address = "registry.terraform.io/governed-entitlements/governed"

// Serve serves the provider that factory makes to Terraform over protocol 6 at
// address, as the released binary does: logs that Terraform would discard are
// turned off (QuietUnreadLogs), the server is NewProtocol6Server's, and debug
// serves it for a debugger such as delve instead of for Terraform to start. It
// returns when Terraform is done with the provider.
func Serve(address string, factory func() provider.Provider, debug bool) error {
	QuietUnreadLogs()
	server, err := NewProtocol6Server(factory)()
	if err != nil {
		return err
	}
	var opts []tf6server.ServeOpt
	if debug {
		opts = append(opts, tf6server.WithManagedDebug())
	}
	return tf6server.Serve(address, func() tfprotov6.ProviderServer { return server }, opts...)
}

// NewProtocol6Server returns a factory for the provider's protocol 6 server:
// the framework's server, wrapped so that its memory stays flat over large plans.
//
// The framework keeps the context of every request it has served until
// Terraform calls StopProvider, which Terraform does only when interrupted. Over
// a plan of a thousand grants that holds some 60 MB of finished requests. The
// wrapper calls the framework's StopProvider whenever no request is in flight:
// it only cancels and forgets contexts, so with nothing in flight it releases
// finished requests and affects nothing else.
func NewProtocol6Server(p func() provider.Provider) func() (tfprotov6.ProviderServer, error) {
	inner := providerserver.NewProtocol6WithError(p())
	return func() (tfprotov6.ProviderServer, error) {
		s, err := inner()
		if err != nil {
			return nil, err
		}
		return &releasingServer{ProviderServer: s}, nil
	}
}

type releasingServer struct {
	tfprotov6.ProviderServer
	// Requests hold gate's read lock while they run; whoever finds it free
	// afterwards releases the finished requests' contexts.
	gate sync.RWMutex
}

// begin marks a request in flight; the returned function ends it.
func (s *releasingServer) begin() func() {
	s.gate.RLock()
	return func() {
		s.gate.RUnlock()
		if s.gate.TryLock() {
			//nolint:staticcheck // QF1008: the framework's StopProvider, named as such; the wrapper has none.
			_, _ = s.ProviderServer.StopProvider(context.Background(), &tfprotov6.StopProviderRequest{})
			s.gate.Unlock()
		}
	}
}

// ConfigureProvider is in flight like any other request: it opens and
// verifies the ledger, and must not have its context cancelled by a release
// that another provider instance's request, served by the same server (as
// in tests, where every instance is served from one process), triggers.
func (s *releasingServer) ConfigureProvider(ctx context.Context, req *tfprotov6.ConfigureProviderRequest) (*tfprotov6.ConfigureProviderResponse, error) {
	defer s.begin()()
	return s.ProviderServer.ConfigureProvider(ctx, req)
}

// The requests Terraform sends once per resource instance, which are the ones
// that add up.

func (s *releasingServer) ValidateResourceConfig(ctx context.Context, req *tfprotov6.ValidateResourceConfigRequest) (*tfprotov6.ValidateResourceConfigResponse, error) {
	defer s.begin()()
	return s.ProviderServer.ValidateResourceConfig(ctx, req)
}

func (s *releasingServer) UpgradeResourceState(ctx context.Context, req *tfprotov6.UpgradeResourceStateRequest) (*tfprotov6.UpgradeResourceStateResponse, error) {
	defer s.begin()()
	return s.ProviderServer.UpgradeResourceState(ctx, req)
}

func (s *releasingServer) ReadResource(ctx context.Context, req *tfprotov6.ReadResourceRequest) (*tfprotov6.ReadResourceResponse, error) {
	defer s.begin()()
	return s.ProviderServer.ReadResource(ctx, req)
}

func (s *releasingServer) PlanResourceChange(ctx context.Context, req *tfprotov6.PlanResourceChangeRequest) (*tfprotov6.PlanResourceChangeResponse, error) {
	defer s.begin()()
	return s.ProviderServer.PlanResourceChange(ctx, req)
}

func (s *releasingServer) ApplyResourceChange(ctx context.Context, req *tfprotov6.ApplyResourceChangeRequest) (*tfprotov6.ApplyResourceChangeResponse, error) {
	defer s.begin()()
	return s.ProviderServer.ApplyResourceChange(ctx, req)
}

func (s *releasingServer) ImportResourceState(ctx context.Context, req *tfprotov6.ImportResourceStateRequest) (*tfprotov6.ImportResourceStateResponse, error) {
	defer s.begin()()
	return s.ProviderServer.ImportResourceState(ctx, req)
}

func (s *releasingServer) ReadDataSource(ctx context.Context, req *tfprotov6.ReadDataSourceRequest) (*tfprotov6.ReadDataSourceResponse, error) {
	defer s.begin()()
	return s.ProviderServer.ReadDataSource(ctx, req)
}

// QuietUnreadLogs turns provider-side logging off when Terraform will discard
// it anyway: Terraform keeps provider logs only when TF_LOG or TF_LOG_PROVIDER
// is set, yet formatting the SDK's per-request trace lines costs about a third
// of a large plan. Any level set explicitly is left alone.
func QuietUnreadLogs() {
	if os.Getenv("TF_LOG") != "" || os.Getenv("TF_LOG_PROVIDER") != "" {
		return
	}
	for _, name := range []string{"TF_LOG_PROVIDER", "TF_LOG_SDK", "TF_LOG_SDK_PROTO", "TF_LOG_SDK_FRAMEWORK"} {
		if os.Getenv(name) == "" {
			_ = os.Setenv(name, "off")
		}
	}
}
