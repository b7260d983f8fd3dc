package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger/ledgertest"
	"github.com/governed-entitlements/terraform-provider-governed/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

// benchEvents is the size of the verification fixture.
const benchEvents = 100_000

var benchFixture struct {
	once sync.Once
	path string
	err  error
}

// verifyFixture returns a ledger file with benchEvents events (half issues,
// half revocations of the same grants), built once per test binary.
func verifyFixture(b *testing.B) string {
	benchFixture.once.Do(func() {
		// Shared by every benchmark of the binary and removed by TestMain, so
		// not a b.TempDir, which goes with the first benchmark that asks.
		dir, err := os.MkdirTemp("", "governed-bench-") //nolint:usetesting
		if err != nil {
			benchFixture.err = err
			return
		}
		benchFixture.path = filepath.Join(dir, "ledger.db")
		benchFixture.err = writeFixture(benchFixture.path, benchEvents)
	})
	if benchFixture.err != nil {
		b.Fatal(benchFixture.err)
	}
	return benchFixture.path
}

func TestMain(m *testing.M) {
	// The tests decide at fixed instants (t0) while the stores record by
	// the clock; the tests of the bounds turn them on (boundedContext).
	ledgertest.UnboundDecisionTimes()
	code := pgtest.Main(m)
	if benchFixture.path != "" {
		os.RemoveAll(filepath.Dir(benchFixture.path))
	}
	os.Exit(code)
}

// fixtureEvent is event seq of the verification fixture, chained to prev, and
// the state of the grant it records: odd events issue a grant, even ones
// revoke it.
func fixtureEvent(seq int64, prev string) (Event, Grant, error) {
	i := (seq - 1) / 2
	g := testGrant(fmt.Sprintf("grt_%020d", i))
	g.Principal = fmt.Sprintf("svc-%d", i%100)
	g.Status, g.GrantedAt = StatusActive, t0.Add(time.Duration(i)*time.Second)
	typ := EventGrantIssued
	if seq%2 == 0 {
		g.Status, g.RevokedAt, g.RevocationReason, typ = StatusRevoked, g.GrantedAt.Add(time.Minute), ReasonOutOfBand, EventGrantRevoked
	}
	data, err := json.Marshal(g)
	if err != nil {
		return Event{}, Grant{}, err
	}
	e := Event{Seq: seq, At: g.GrantedAt, Type: typ, Subject: g.ID, Data: data, PrevHash: prev}
	e.Hash = HashEvent(prev, e)
	return e, g, nil
}

// writeFixture writes n events in one transaction, the way appends would write
// them one by one.
func writeFixture(path string, n int) error {
	ctx := context.Background()
	s, err := openSQLite(ctx, path, true, Origin{})
	if err != nil {
		return err
	}
	defer s.Close()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	insertEvent, err := tx.PrepareContext(ctx, `INSERT INTO events (seq, at, type, subject, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	upsertGrant, err := tx.PrepareContext(ctx, sqliteUpsert["grants"])
	if err != nil {
		return err
	}
	prev := ""
	for seq := int64(1); seq <= int64(n); seq++ {
		e, g, err := fixtureEvent(seq, prev)
		if err != nil {
			return err
		}
		if _, err := insertEvent.ExecContext(ctx, e.Seq, formatAt(e.At), e.Type, e.Subject, string(e.Data), e.PrevHash, e.Hash); err != nil {
			return err
		}
		expires, err := time.Parse(time.RFC3339, g.ExpiresAt)
		if err != nil {
			return err
		}
		if _, err := upsertGrant.ExecContext(ctx, g.ID, seq, g.Principal, g.Entitlement, g.Status, expires.Unix(), g.RevokePending, g.ApprovalID); err != nil {
			return err
		}
		prev = e.Hash
	}
	if _, err := tx.ExecContext(ctx, `UPDATE ledger_head SET seq = ?, hash = ? WHERE id = 1`, n, prev); err != nil {
		return err
	}
	return tx.Commit()
}

func BenchmarkVerify(b *testing.B) {
	path := verifyFixture(b)
	l, err := OpenExisting(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.ResetTimer()
	cpu := processCPU()
	for b.Loop() {
		r, err := l.Verify(context.Background())
		if err != nil || !r.OK || r.Events != benchEvents {
			b.Fatalf("Verify = %+v, %v", r, err)
		}
	}
	reportEvents(b, cpu)
}

// processCPU is the CPU time the process has used so far, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportEvents reports the verification benchmark's rate, events/s of wall
// time, and its CPU cost, CPU-ns/event summed over all goroutines since
// cpuBefore (processCPU at the start of the loop): on a machine shared with
// other work the wall time says more about the neighbours than about the
// code, and the CPU cost much less.
func reportEvents(b *testing.B, cpuBefore time.Duration) {
	n := float64(benchEvents) * float64(b.N)
	b.ReportMetric(n/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(processCPU()-cpuBefore)/n, "CPU-ns/event")
}

// BenchmarkVerifyWalk measures the chain walk over the stored events alone,
// without the replay of the current-state tables.
func BenchmarkVerifyWalk(b *testing.B) {
	path := verifyFixture(b)
	s, err := openSQLite(context.Background(), path, false, Origin{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	cpu := processCPU()
	for b.Loop() {
		tx, err := s.begin(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		v := newVerification()
		if _, err := tx.walkEvents(ctx, v, 0, false); err != nil || v.failed || v.events != benchEvents {
			b.Fatalf("walk: %v, %+v", err, v.report(Head{}))
		}
		tx.end()
	}
	reportEvents(b, cpu)
}

func BenchmarkVerifyChain(b *testing.B) {
	events := make([]Event, benchEvents)
	prev := ""
	for i := range events {
		g := testGrant(fmt.Sprintf("grt_%020d", i))
		g.Status, g.GrantedAt = StatusActive, t0
		data, _ := json.Marshal(g)
		e := Event{Seq: int64(i + 1), At: t0.Add(time.Duration(i) * time.Second), Type: EventGrantIssued, Subject: g.ID, Data: data, PrevHash: prev}
		e.Hash = HashEvent(prev, e)
		events[i], prev = e, e.Hash
	}
	b.ResetTimer()
	for b.Loop() {
		if ok, firstBad, problem := verifyChain(events); !ok {
			b.Fatalf("chain does not verify: %d: %s", firstBad, problem)
		}
	}
	b.ReportMetric(float64(benchEvents)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkAppend(b *testing.B) {
	l, _ := openTestLedger(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		if _, err := l.IssueGrant(ctx, testGrant(fmt.Sprintf("grt_%d", i)), t0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

// The fixture of the PostgreSQL benchmarks, on their server
// (benchPostgresServer). Unlike the tests' server that one keeps fsync on: an
// append pays for a durable commit, as the SQLite store's synchronous=FULL does.
var pgBenchServer struct {
	fixtureOnce sync.Once
	fixture     string // URL of a ledger holding benchEvents events
	fixtureErr  error
}

func benchPostgresServer(b *testing.B) *pgtest.Server {
	b.Helper()
	return pgtest.SharedWith(b, pgtest.Options{Durable: true})
}

// benchPostgresLedger opens a new PostgreSQL ledger on the benchmarks' server;
// query is added to its URL.
func benchPostgresLedger(b *testing.B, query string) *Ledger {
	b.Helper()
	srv := benchPostgresServer(b)
	db, err := srv.CreateDatabase(context.Background(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	l, err := Open(context.Background(), srv.URL(db)+query)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

// BenchmarkAppendPostgres: one writer, one append at a time.
func BenchmarkAppendPostgres(b *testing.B) {
	l := benchPostgresLedger(b, "")
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		if _, err := l.IssueGrant(ctx, testGrant(fmt.Sprintf("grt_%d", i)), t0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

// BenchmarkAppendPostgresConcurrent: 16 writers append at once through one
// store of 16 connections; appends take turns on the head row.
func BenchmarkAppendPostgresConcurrent(b *testing.B) {
	const writers = 16
	l := benchPostgresLedger(b, fmt.Sprintf("&pool_max_conns=%d", writers))
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism((writers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.IssueGrant(ctx, testGrant(fmt.Sprintf("grt_%d", n.Add(1))), t0); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
	if r, err := l.Verify(ctx); err != nil || !r.OK || r.Events != int64(b.N) {
		b.Fatalf("Verify = %+v, %v; want %d events", r, err, b.N)
	}
}

// postgresVerifyFixture returns the URL of a ledger with the events of
// writeFixture, loaded once per test binary with COPY.
func postgresVerifyFixture(b *testing.B) string {
	srv := benchPostgresServer(b)
	pgBenchServer.fixtureOnce.Do(func() {
		pgBenchServer.fixture, pgBenchServer.fixtureErr = writePostgresFixture(srv, benchEvents)
	})
	if pgBenchServer.fixtureErr != nil {
		b.Fatal(pgBenchServer.fixtureErr)
	}
	return pgBenchServer.fixture
}

func writePostgresFixture(srv *pgtest.Server, n int) (string, error) {
	ctx := context.Background()
	db, err := srv.CreateDatabase(ctx, "fixture")
	if err != nil {
		return "", err
	}
	location := srv.URL(db)
	s, err := openPostgres(ctx, location, true, Origin{})
	if err != nil {
		return "", err
	}
	s.Close()
	conn, err := pgx.Connect(ctx, location)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		return "", err
	}
	defer tx.Rollback(ctx)
	events := make([][]any, 0, n)
	last := map[string][]any{} // the current state of each grant
	prev := ""
	for seq := int64(1); seq <= int64(n); seq++ {
		e, g, err := fixtureEvent(seq, prev)
		if err != nil {
			return "", err
		}
		exp, err := g.Expiry()
		if err != nil {
			return "", err
		}
		events = append(events, []any{e.Seq, formatAt(e.At), e.Type, e.Subject, string(e.Data), e.PrevHash, e.Hash})
		last[g.ID] = []any{g.ID, e.Seq, string(e.Data), exp}
		prev = e.Hash
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"events"}, []string{"seq", "at", "type", "subject", "data", "prev_hash", "hash"},
		pgx.CopyFromRows(events)); err != nil {
		return "", err
	}
	grants := slices.Collect(maps.Values(last))
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"grants"}, []string{"id", "seq", "data", "expires_at"}, pgx.CopyFromRows(grants)); err != nil {
		return "", err
	}
	if _, err := tx.Exec(ctx, `UPDATE ledger_head SET seq = $1, hash = $2 WHERE id = 1`, n, prev); err != nil {
		return "", err
	}
	if err := tx.Commit(ctx); err != nil {
		return "", err
	}
	// As autovacuum would in time: statistics for the planner.
	if _, err := conn.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		return "", err
	}
	return location, nil
}

func BenchmarkVerifyPostgres(b *testing.B) {
	location := postgresVerifyFixture(b)
	l, err := OpenExisting(context.Background(), location)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.ResetTimer()
	for b.Loop() {
		r, err := l.Verify(context.Background())
		if err != nil || !r.OK || r.Events != benchEvents {
			b.Fatalf("Verify = %+v, %v", r, err)
		}
	}
	b.ReportMetric(float64(benchEvents)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkVerifyMeaning measures the checks of meaning alone (reading each
// payload's members and following each grant's life) over the events of the
// verification fixture, held in memory; BenchmarkVerifyChain is the hashing
// of the same number of events, for comparison.
func BenchmarkVerifyMeaning(b *testing.B) {
	type raw struct{ at, typ, subject, data []byte }
	events := make([]raw, benchEvents)
	prev := ""
	for i := range events {
		e, _, err := fixtureEvent(int64(i+1), prev)
		if err != nil {
			b.Fatal(err)
		}
		events[i], prev = raw{[]byte(formatAt(e.At)), []byte(e.Type), []byte(e.Subject), e.Data}, e.Hash
	}
	b.ResetTimer()
	for b.Loop() {
		v := newVerification()
		v.expectSubjects(benchEvents/2, 0)
		for i, e := range events {
			seq := int64(i + 1)
			k := eventKind(e.typ)
			j, isNew, prevSeq := v.subjects[k].record(e.subject, seq, 0, 0)
			v.meaning.event(v, k, j, isNew, prevSeq, seq, e.at, e.typ, e.subject, e.data, readPayload(e.data, &v.meaning.fields))
		}
		if v.meaning.firstBad != 0 {
			b.Fatal(v.meaning.problem)
		}
	}
	b.ReportMetric(float64(benchEvents)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
