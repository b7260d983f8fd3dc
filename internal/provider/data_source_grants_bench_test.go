package provider

import (
	"context"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
// allocation per read it reports the CPU time per read (cpu-s/op, every
// goroutine's, the garbage collector's included), the grants returned, the process's
// resident memory before the reads (base-RSS-MiB: the test binary, the
// SQLite caches, the Go runtime) and its peak during them (peak-RSS-MiB; the
// fixture's writing and the verification are not counted), and the size of
// the state the read returns (state-MiB), which the plugin protocol then
// copies into its own messages.
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
			base := resetPeakRSS()
			cpu := processCPU()
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
			b.StopTimer()
			b.ReportMetric((processCPU()-cpu).Seconds()/float64(b.N), "cpu-s/op")
			if peak := rssField("VmHWM:"); peak > 0 {
				b.ReportMetric(base, "base-RSS-MiB")
				b.ReportMetric(peak, "peak-RSS-MiB")
			}
			b.ReportMetric(float64(len(resp.State.MsgPack))/(1<<20), "state-MiB")
			b.ReportMetric(float64(countGrants(b, dataType, resp.State)), "grants")
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

// processCPU is the CPU time the process has used, in user and system mode:
// on a machine that other work shares, it varies less than the wall time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS returns the heap's free memory to the system and resets the
// process's peak resident memory (VmHWM) to what it holds then, where Linux
// allows it. It returns that resident memory (VmRSS) in MiB, 0 where it
// cannot be read.
func resetPeakRSS() float64 {
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	return rssField("VmRSS:")
}

// rssField is a field of /proc/self/status in MiB, such as the process's
// peak resident memory (VmHWM:), or 0 where it cannot be read.
func rssField(field string) float64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
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
