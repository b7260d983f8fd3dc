package provider

import (
	"context"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/governed-entitlements/terraform-provider-governed/internal/benchledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/clock/clocktest"
)

// The history fixture: a SQLite ledger of historyEvents events (set
// GOVERNED_BENCH_EVENTS to change it), as benchledger.AppendHistory writes it.
var (
	historyNow = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

	historyFixture struct {
		once sync.Once
		dir  string
		path string
		err  error
	}
)

func historyEvents() int {
	if n, err := strconv.Atoi(os.Getenv("GOVERNED_BENCH_EVENTS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// historyLedger returns the path of the history fixture, written once per
// test binary into a directory that TestMain removes (removeHistory).
func historyLedger(b *testing.B) string {
	historyFixture.once.Do(func() {
		historyFixture.dir, historyFixture.err = os.MkdirTemp("", "governed-history-") //nolint:usetesting // shared by every benchmark of the binary
		if historyFixture.err == nil {
			historyFixture.path = filepath.Join(historyFixture.dir, "ledger.db")
			historyFixture.err = benchledger.AppendHistory(context.Background(), historyFixture.path, historyEvents(), historyNow)
		}
	})
	if historyFixture.err != nil {
		b.Fatal(historyFixture.err)
	}
	return historyFixture.path
}

// BenchmarkGrantsDataSource reads governed_grants through the provider's
// protocol server, as Terraform does, over the history fixture (a million
// events by default), with the filters people use. Configure, which
// verifies the ledger, runs once before the timer starts. Besides time and
// allocation per read it reports the grants returned and the process's peak
// resident memory during the reads (peak-RSS-MiB; the fixture's writing and
// the verification are not counted).
func BenchmarkGrantsDataSource(b *testing.B) {
	path := historyLedger(b)
	ctx := context.Background()
	server, err := NewProtocol6Server(New("bench", WithClock(clocktest.NewManual(historyNow))))()
	if err != nil {
		b.Fatal(err)
	}
	schemas, err := server.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		b.Fatal(err)
	}
	policyFile := filepath.Join(b.TempDir(), "policy.hcl")
	if err := os.WriteFile(policyFile, []byte(testPolicy), 0o600); err != nil {
		b.Fatal(err)
	}
	config := dynamicValue(b, schemas.Provider.ValueType(), map[string]string{
		"ledger": path, "policy_file": policyFile, "requester": "dev@example.com",
	})
	configured, err := server.ConfigureProvider(ctx, &tfprotov6.ConfigureProviderRequest{TerraformVersion: "1.11.4", Config: config})
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range configured.Diagnostics {
		if d.Severity == tfprotov6.DiagnosticSeverityError {
			b.Fatalf("configure: %s: %s", d.Summary, d.Detail)
		}
	}
	dataType := schemas.DataSourceSchemas["governed_grants"].ValueType()
	for _, bm := range []struct {
		name   string
		filter map[string]string
	}{
		{"principal", map[string]string{"principal": "HIST-42"}},
		{"entitlement_active", map[string]string{"entitlement": "ent-3", "status": "active"}},
		{"entitlement_expiring", map[string]string{"entitlement": "ent-3", "expiring_before": "2026-06-01T09:00:00Z"}},
		{"entitlement_principal_none", map[string]string{"entitlement": "ent-3", "principal": "hist-nobody"}},
		{"entitlement_all", map[string]string{"entitlement": "ent-3"}},
	} {
		b.Run(bm.name, func(b *testing.B) {
			req := &tfprotov6.ReadDataSourceRequest{TypeName: "governed_grants", Config: dynamicValue(b, dataType, bm.filter)}
			resetPeakRSS()
			var resp *tfprotov6.ReadDataSourceResponse
			for b.Loop() {
				var err error
				if resp, err = server.ReadDataSource(ctx, req); err != nil {
					b.Fatal(err)
				}
				if len(resp.Diagnostics) > 0 {
					b.Fatalf("%s: %s", resp.Diagnostics[0].Summary, resp.Diagnostics[0].Detail)
				}
			}
			b.ReportMetric(float64(countGrants(b, dataType, resp.State)), "grants")
			if peak := peakRSS(); peak > 0 {
				b.ReportMetric(peak, "peak-RSS-MiB")
			}
		})
	}
}

// dynamicValue is an object of type t with the given string attributes and
// every other attribute null, as Terraform sends a configuration.
func dynamicValue(b testing.TB, t tftypes.Type, strs map[string]string) *tfprotov6.DynamicValue {
	b.Helper()
	object, ok := t.(tftypes.Object)
	if !ok {
		b.Fatalf("%s is not an object type", t)
	}
	attrs := map[string]tftypes.Value{}
	for name, at := range object.AttributeTypes {
		attrs[name] = tftypes.NewValue(at, nil)
	}
	for name, v := range strs {
		attrs[name] = tftypes.NewValue(tftypes.String, v)
	}
	dv, err := tfprotov6.NewDynamicValue(object, tftypes.NewValue(object, attrs))
	if err != nil {
		b.Fatal(err)
	}
	return &dv
}

// countGrants decodes a governed_grants state and counts its grants.
func countGrants(b testing.TB, t tftypes.Type, state *tfprotov6.DynamicValue) int {
	b.Helper()
	v, err := state.Unmarshal(t)
	if err != nil {
		b.Fatal(err)
	}
	var attrs map[string]tftypes.Value
	var list []tftypes.Value
	if err := v.As(&attrs); err != nil {
		b.Fatal(err)
	}
	if err := attrs["grants"].As(&list); err != nil {
		b.Fatal(err)
	}
	return len(list)
}

// resetPeakRSS returns the heap's free memory to the system and resets the
// process's peak resident memory (VmHWM) to what it holds then, where Linux
// allows it.
func resetPeakRSS() {
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSS is the process's peak resident memory (VmHWM) in MiB, or 0 where
// it cannot be read.
func peakRSS() float64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			if err == nil {
				return kib / 1024
			}
		}
	}
	return 0
}

// removeHistory removes the history fixture, if a benchmark wrote one.
func removeHistory() {
	if historyFixture.dir != "" {
		os.RemoveAll(historyFixture.dir)
	}
}
