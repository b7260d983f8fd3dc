package provider

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
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

	"github.com/governed-entitlements/terraform-provider-governed/internal/clock/clocktest"
	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
)

// The history fixture: a SQLite ledger of historyEvents events (set
// GOVERNED_BENCH_EVENTS to change it), made of grants of ten entitlements to
// ten thousand principals, each issued, expired and retired, except the last
// historyActive, which are still in force at historyNow.
const (
	historyActive       = 2_000
	historyEntitlements = 10
	historyPrincipals   = 10_000
)

var (
	historyStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	historyNow   = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

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
			historyFixture.err = writeHistory(historyFixture.path, historyEvents())
		}
	})
	if historyFixture.err != nil {
		b.Fatal(historyFixture.err)
	}
	return historyFixture.path
}

// writeHistory makes a ledger with the store's own schema, then writes n
// events into it in one transaction, chained as appends chain them, with the
// current-state rows appends keep: as a ledger that has lived for years
// would be, made in seconds rather than hours of durable appends.
func writeHistory(path string, n int) error {
	ctx := context.Background()
	l, err := ledger.Open(ctx, path)
	if err != nil {
		return err
	}
	if err := l.Close(); err != nil {
		return err
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, it does nothing
	insertEvent, err := tx.PrepareContext(ctx, `INSERT INTO events (seq, at, type, subject, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	upsertGrant, err := tx.PrepareContext(ctx, `INSERT INTO grants (id, seq, data) VALUES (?, ?, ?)
ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, data = excluded.data`)
	if err != nil {
		return err
	}
	seq, prev := int64(0), ""
	appendEvent := func(typ string, at time.Time, g ledger.Grant) error {
		data, err := json.Marshal(g)
		if err != nil {
			return err
		}
		seq++
		e := ledger.Event{Seq: seq, At: at, Type: typ, Subject: g.ID, Data: data, PrevHash: prev}
		e.Hash = ledger.HashEvent(prev, e)
		if _, err := insertEvent.ExecContext(ctx, e.Seq, at.Format(time.RFC3339Nano), typ, g.ID, string(data), prev, e.Hash); err != nil {
			return err
		}
		if _, err := upsertGrant.ExecContext(ctx, g.ID, seq, string(data)); err != nil {
			return err
		}
		prev = e.Hash
		return nil
	}
	// Grants that live their whole lives (three events each), then the
	// active ones (one event each), with n events in all.
	past := (n - historyActive) / 3
	active := n - 3*past
	step := historyNow.Add(-9*time.Hour).Sub(historyStart) / time.Duration(past+active)
	for i := range past + active {
		at := historyStart.Add(time.Duration(i) * step)
		g := ledger.Grant{
			ID:          fmt.Sprintf("grt_%020d", i),
			Principal:   fmt.Sprintf("svc-%d", i%historyPrincipals),
			Entitlement: fmt.Sprintf("ent-%d", i%historyEntitlements),
			TicketID:    fmt.Sprintf("SEC-%d", i),
			Approvers:   []string{"alice@example.com"},
			Requester:   "dev@example.com",
			Target:      "ledger",
			Role:        "reader",
			TTL:         "8h",
			ExpiresAt:   at.Add(8 * time.Hour).Format(time.RFC3339),
			GrantedAt:   at,
			Status:      ledger.StatusActive,
			Evidence:    "asserted",
		}
		if i >= past {
			g.ExpiresAt = historyNow.Add(8 * time.Hour).Format(time.RFC3339)
		}
		if err := appendEvent(ledger.EventGrantIssued, at, g); err != nil {
			return err
		}
		if i >= past {
			continue
		}
		exp := at.Add(8 * time.Hour)
		g.Status, g.RevokedAt, g.RevocationReason = ledger.StatusExpired, exp, ledger.ReasonExpired
		if err := appendEvent(ledger.EventGrantExpired, exp, g); err != nil {
			return err
		}
		g.RetiredAt = exp.Add(time.Minute)
		if err := appendEvent(ledger.EventGrantRetired, g.RetiredAt, g); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE ledger_head SET seq = ?, hash = ? WHERE id = 1`, seq, prev); err != nil {
		return err
	}
	return tx.Commit()
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
		{"principal", map[string]string{"principal": "SVC-42"}},
		{"entitlement_active", map[string]string{"entitlement": "ent-3", "status": "active"}},
		{"entitlement_expiring", map[string]string{"entitlement": "ent-3", "expiring_before": "2026-06-01T09:00:00Z"}},
		{"entitlement_principal_none", map[string]string{"entitlement": "ent-3", "principal": "svc-nobody"}},
		{"entitlement_all", map[string]string{"entitlement": "ent-3"}},
	} {
		b.Run(bm.name, func(b *testing.B) {
			req := &tfprotov6.ReadDataSourceRequest{TypeName: "governed_grants", Config: dynamicValue(b, dataType, bm.filter)}
			resetPeakRSS()
			var grants int
			for b.Loop() {
				resp, err := server.ReadDataSource(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				if len(resp.Diagnostics) > 0 {
					b.Fatalf("%s: %s", resp.Diagnostics[0].Summary, resp.Diagnostics[0].Detail)
				}
				grants = countGrants(b, dataType, resp.State)
			}
			b.ReportMetric(float64(grants), "grants")
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
	object := t.(tftypes.Object)
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
