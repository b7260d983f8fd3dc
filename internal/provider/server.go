package provider

import (
	"context"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

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
// left unformatted (QuietUnreadLogs), the server is NewProtocol6Server's, and debug
// serves it for a debugger such as delve instead of for Terraform to start. It
// returns when Terraform is done with the provider.
func Serve(address string, factory func() provider.Provider, debug bool) error {
	QuietUnreadLogs(address)
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
	// configured is what the provider's Configure made for this server's
	// instance (nil before, or when it failed), handed back through the
	// context of ConfigureProvider (configuredSlot).
	configured atomic.Pointer[providerData]
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
	s.configured.Store(nil)
	return s.ProviderServer.ConfigureProvider(context.WithValue(ctx, configuredSlot{}, &s.configured), req)
}

// configuredSlot is the context key under which ConfigureProvider passes the
// provider's Configure the place to leave what it made (keepConfigured).
type configuredSlot struct{}

// keepConfigured leaves data where the server that is configuring the
// provider reads it, if one is; ctx is Configure's.
func keepConfigured(ctx context.Context, data *providerData) {
	if slot, ok := ctx.Value(configuredSlot{}).(*atomic.Pointer[providerData]); ok {
		slot.Store(data)
	}
}

// The requests Terraform sends once per resource instance, which are the ones
// that add up.

// ValidateResourceConfig answers a governed_grant configuration with nothing
// to say itself (validateGrantConfigDirect), and leaves everything else to
// the framework.
func (s *releasingServer) ValidateResourceConfig(ctx context.Context, req *tfprotov6.ValidateResourceConfigRequest) (*tfprotov6.ValidateResourceConfigResponse, error) {
	defer s.begin()()
	if req.TypeName == grantTypeName {
		if resp, ok := validateGrantConfigDirect(ctx, req); ok {
			return resp, nil
		}
	}
	return s.ProviderServer.ValidateResourceConfig(ctx, req)
}

// UpgradeResourceState reads governed_grant state of the current schema
// version itself (upgradeGrantStateDirect), and leaves everything else to
// the framework.
func (s *releasingServer) UpgradeResourceState(ctx context.Context, req *tfprotov6.UpgradeResourceStateRequest) (*tfprotov6.UpgradeResourceStateResponse, error) {
	defer s.begin()()
	if req.TypeName == grantTypeName {
		if resp, ok := upgradeGrantStateDirect(req); ok {
			return resp, nil
		}
	}
	return s.ProviderServer.UpgradeResourceState(ctx, req)
}

// ReadResource answers a settled governed_grant itself (readGrantDirect),
// and leaves everything else to the framework.
func (s *releasingServer) ReadResource(ctx context.Context, req *tfprotov6.ReadResourceRequest) (*tfprotov6.ReadResourceResponse, error) {
	defer s.begin()()
	if req.TypeName == grantTypeName {
		if resp, ok := readGrantDirect(ctx, s.configured.Load(), req); ok {
			return resp, nil
		}
	}
	return s.ProviderServer.ReadResource(ctx, req)
}

// PlanResourceChange answers an unchanged, settled governed_grant
// (planGrantDirect) and a new grant with nothing to say
// (planGrantCreateDirect) itself, and leaves everything else to the
// framework.
func (s *releasingServer) PlanResourceChange(ctx context.Context, req *tfprotov6.PlanResourceChangeRequest) (*tfprotov6.PlanResourceChangeResponse, error) {
	defer s.begin()()
	if req.TypeName == grantTypeName {
		if resp, ok := planGrantDirect(ctx, s.configured.Load(), req); ok {
			return resp, nil
		}
		if resp, ok := planGrantCreateDirect(ctx, s.configured.Load(), req); ok {
			return resp, nil
		}
	}
	return s.ProviderServer.PlanResourceChange(ctx, req)
}

// ApplyResourceChange issues a new governed_grant itself
// (applyGrantCreateDirect), and leaves everything else, every change and
// every destroy, to the framework.
func (s *releasingServer) ApplyResourceChange(ctx context.Context, req *tfprotov6.ApplyResourceChangeRequest) (*tfprotov6.ApplyResourceChangeResponse, error) {
	defer s.begin()()
	if req.TypeName == grantTypeName {
		if resp, ok := applyGrantCreateDirect(ctx, s.configured.Load(), req); ok {
			return resp, nil
		}
	}
	return s.ProviderServer.ApplyResourceChange(ctx, req)
}

func (s *releasingServer) ImportResourceState(ctx context.Context, req *tfprotov6.ImportResourceStateRequest) (*tfprotov6.ImportResourceStateResponse, error) {
	defer s.begin()()
	return s.ProviderServer.ImportResourceState(ctx, req)
}

// ReadDataSource answers governed_grants itself where it can
// (readGrantsDirect), and leaves everything else to the framework.
func (s *releasingServer) ReadDataSource(ctx context.Context, req *tfprotov6.ReadDataSourceRequest) (*tfprotov6.ReadDataSourceResponse, error) {
	defer s.begin()()
	if req.TypeName == grantsTypeName {
		if resp, ok := readGrantsDirect(ctx, s.configured.Load(), req); ok {
			return resp, nil
		}
	}
	return s.ProviderServer.ReadDataSource(ctx, req)
}

// QuietUnreadLogs keeps the provider from formatting log lines that Terraform
// will discard. Terraform keeps a provider's log lines at the level that
// TF_LOG_PROVIDER names, or else TF_LOG (as Terraform parses them: unset is
// off, JSON and unknown names are TRACE), and drops the rest after the
// provider has formatted and sent them; the SDK's loggers, left to themselves,
// format everything at TRACE, which costs about a third of a large plan. So
// every provider-side logger (TF_LOG_SDK, TF_LOG_SDK_PROTO,
// TF_LOG_SDK_FRAMEWORK and the provider's own, TF_LOG_PROVIDER_<NAME> for the
// last part of address) is set to the level Terraform keeps, or to its own
// level where that is set and less verbose. It changes only this process's
// environment and must run before the server starts.
func QuietUnreadLogs(address string) {
	for name, level := range providerLogLevels(address, os.Getenv) {
		_ = os.Setenv(name, level)
	}
}

// logLevels are the level names Terraform and the SDK's loggers know, from
// the most verbose; OFF comes last.
var logLevels = []string{"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "OFF"}

// keptLogLevel is the index in logLevels of the level Terraform keeps of a
// provider's logs, read as Terraform reads it.
func keptLogLevel(getenv func(string) string) int {
	level := strings.ToUpper(getenv("TF_LOG_PROVIDER"))
	if level == "" {
		level = strings.ToUpper(getenv("TF_LOG"))
	}
	if level == "" {
		return len(logLevels) - 1
	}
	if i := slices.Index(logLevels[:len(logLevels)-1], level); i >= 0 {
		return i
	}
	return 0 // JSON, or a name Terraform does not know: TRACE
}

// providerLogLevels returns the level each provider-side logger's variable
// should have: the level Terraform keeps, or the variable's own where it is
// less verbose. An own level the loggers cannot read counts as TRACE, as they
// read it.
func providerLogLevels(address string, getenv func(string) string) map[string]string {
	kept := keptLogLevel(getenv)
	name := address[strings.LastIndex(address, "/")+1:]
	out := map[string]string{}
	for _, v := range []string{"TF_LOG_SDK", "TF_LOG_SDK_PROTO", "TF_LOG_SDK_FRAMEWORK", "TF_LOG_PROVIDER_" + strings.ToUpper(name)} {
		level := kept
		if own := slices.Index(logLevels, strings.ToUpper(getenv(v))); own > kept {
			level = own
		}
		out[v] = logLevels[level]
	}
	return out
}
