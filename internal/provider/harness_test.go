package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6/tf6server"

	"github.com/governed-entitlements/terraform-provider-governed/internal/clock"
)

// cliHarness runs the real Terraform CLI against a provider served from this
// test process, for what resource.Test cannot express: -refresh=false, state
// files edited by hand, commands run in a chosen order. The provider's clock is
// the test's, so expiry is reached by moving it, not by sleeping.
type cliHarness struct {
	t   *testing.T
	dir string
	env []string
	tf  string
}

func newCLIHarness(t *testing.T, clk clock.Clock, opts ...Option) *cliHarness {
	t.Helper()
	tf := cliPath(t)
	ctx, cancel := context.WithCancel(context.Background())
	reattachCh := make(chan *plugin.ReattachConfig)
	closeCh := make(chan struct{})
	server, err := NewProtocol6Server(New("test", append([]Option{WithClock(clk)}, opts...)...))()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		err := tf6server.Serve(providerAddress, func() tfprotov6.ProviderServer { return server },
			tf6server.WithDebug(ctx, reattachCh, closeCh),
			tf6server.WithGoPluginLogger(hclog.NewNullLogger()),
			tf6server.WithLoggingSink(t),
		)
		if err != nil {
			t.Errorf("serving the provider: %v", err)
		}
	}()
	cfg := <-reattachCh
	t.Cleanup(func() {
		cancel()
		<-closeCh
	})
	reattach, err := json.Marshal(map[string]any{
		providerAddress: map[string]any{
			"Protocol":        string(cfg.Protocol),
			"ProtocolVersion": cfg.ProtocolVersion,
			"Pid":             cfg.Pid,
			"Test":            true,
			"Addr":            map[string]string{"Network": cfg.Addr.Network(), "String": cfg.Addr.String()},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cliConfig := filepath.Join(dir, ".terraformrc")
	if err := os.WriteFile(cliConfig, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	h := &cliHarness{
		t:   t,
		dir: dir,
		tf:  tf,
		env: append(os.Environ(),
			"TF_REATTACH_PROVIDERS="+string(reattach),
			"TF_CLI_CONFIG_FILE="+cliConfig,
			"TF_IN_AUTOMATION=1",
			"TF_CLI_ARGS=-no-color",
			"CHECKPOINT_DISABLE=1",
		),
	}
	return h
}

// appliedHarness starts a test world and a CLI harness and applies resources
// in it, which is where most CLI-driven tests begin.
func appliedHarness(t *testing.T, resources string) (*testEnv, *cliHarness) {
	t.Helper()
	env := newTestEnv(t)
	return env, applyInHarness(t, env, resources)
}

// applyInHarness starts a CLI harness for env and applies resources in it.
func applyInHarness(t *testing.T, env *testEnv, resources string) *cliHarness {
	t.Helper()
	h := newCLIHarness(t, env.clock, env.options...)
	h.write("main.tf", env.config(resources))
	h.mustRun("init", "-input=false")
	h.mustRun("apply", "-input=false", "-auto-approve")
	return h
}

func (h *cliHarness) path(name string) string { return filepath.Join(h.dir, name) }

func (h *cliHarness) write(name, content string) {
	h.t.Helper()
	if err := os.WriteFile(h.path(name), []byte(content), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

// run runs terraform with args and returns its combined output.
func (h *cliHarness) run(args ...string) (string, error) {
	h.t.Helper()
	cmd := exec.Command(h.tf, args...)
	cmd.Dir = h.dir
	cmd.Env = h.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (h *cliHarness) mustRun(args ...string) string {
	h.t.Helper()
	out, err := h.run(args...)
	if err != nil {
		h.t.Fatalf("terraform %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// plannedChange is one resource's entry in `terraform show -json` of a plan.
type plannedChange struct {
	Address string `json:"address"`
	Change  struct {
		Actions []string       `json:"actions"`
		Before  map[string]any `json:"before"`
		After   map[string]any `json:"after"`
	} `json:"change"`
}

// plan saves a plan with extra args and returns its changes by address, and
// terraform's human output.
func (h *cliHarness) plan(args ...string) (map[string]plannedChange, string) {
	h.t.Helper()
	out := h.mustRun(append([]string{"plan", "-input=false", "-out=test.tfplan"}, args...)...)
	cmd := exec.Command(h.tf, "show", "-json", "test.tfplan")
	cmd.Dir, cmd.Env = h.dir, h.env
	js, err := cmd.Output()
	if err != nil {
		h.t.Fatalf("terraform show: %v", err)
	}
	var doc struct {
		ResourceChanges []plannedChange `json:"resource_changes"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		h.t.Fatalf("parsing plan JSON: %v", err)
	}
	changes := map[string]plannedChange{}
	for _, c := range doc.ResourceChanges {
		changes[c.Address] = c
	}
	return changes, out
}

// stateAttr returns an attribute of a resource instance in terraform.tfstate.
func (h *cliHarness) stateAttr(address, attr string) any {
	h.t.Helper()
	var attrs map[string]any
	h.editState(address, func(a map[string]any) { attrs = a })
	return attrs[attr]
}

// editState changes a resource instance's attributes in terraform.tfstate by
// hand, as a user with an editor would.
func (h *cliHarness) editState(address string, edit func(map[string]any)) {
	h.t.Helper()
	raw, err := os.ReadFile(h.path("terraform.tfstate"))
	if err != nil {
		h.t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(raw, &st); err != nil {
		h.t.Fatal(err)
	}
	found := false
	resources, _ := st["resources"].([]any)
	for _, r := range resources {
		res, _ := r.(map[string]any)
		typ, _ := res["type"].(string)
		name, _ := res["name"].(string)
		if typ+"."+name != address {
			continue
		}
		instances, _ := res["instances"].([]any)
		for _, i := range instances {
			inst, _ := i.(map[string]any)
			attrs, ok := inst["attributes"].(map[string]any)
			if !ok {
				h.t.Fatalf("%s in state has an instance without attributes", address)
			}
			edit(attrs)
			found = true
		}
	}
	if !found {
		h.t.Fatalf("%s not in state", address)
	}
	out, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(h.path("terraform.tfstate"), out, 0o600); err != nil {
		h.t.Fatal(err)
	}
}

func actions(c plannedChange) string { return strings.Join(c.Change.Actions, ",") }
