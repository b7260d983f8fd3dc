package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
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
		dir, err := os.MkdirTemp("", "governed-bench-")
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
	code := m.Run()
	if benchFixture.path != "" {
		os.RemoveAll(filepath.Dir(benchFixture.path))
	}
	os.Exit(code)
}

// writeFixture writes n events in one transaction, the way appends would write
// them one by one.
func writeFixture(path string, n int) error {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, path)
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
	upsertGrant, err := tx.PrepareContext(ctx, `INSERT INTO grants (id, seq, data) VALUES (?, ?, ?)
ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, data = excluded.data`)
	if err != nil {
		return err
	}
	prev := ""
	for seq := int64(1); seq <= int64(n); seq++ {
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
			return err
		}
		e := Event{Seq: seq, At: g.GrantedAt, Type: typ, Subject: g.ID, Data: data, PrevHash: prev}
		e.Hash = HashEvent(prev, e)
		if _, err := insertEvent.ExecContext(ctx, e.Seq, formatAt(e.At), e.Type, e.Subject, string(e.Data), e.PrevHash, e.Hash); err != nil {
			return err
		}
		if _, err := upsertGrant.ExecContext(ctx, g.ID, seq, string(data)); err != nil {
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
	for b.Loop() {
		r, err := l.Verify(context.Background())
		if err != nil || !r.OK || r.Events != benchEvents {
			b.Fatalf("Verify = %+v, %v", r, err)
		}
	}
	b.ReportMetric(float64(benchEvents)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkVerifyWalk measures the chain walk over the stored events alone,
// without the replay of the current-state tables.
func BenchmarkVerifyWalk(b *testing.B) {
	path := verifyFixture(b)
	s, err := openSQLite(context.Background(), path, false)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for b.Loop() {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		v := newVerification()
		if err := s.verifyEvents(ctx, tx, v); err != nil || v.failed || v.events != benchEvents {
			b.Fatalf("walk: %v, %+v", err, v.report(Head{}))
		}
		tx.Rollback()
	}
	b.ReportMetric(float64(benchEvents)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
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
		if ok, firstBad, problem := VerifyChain(events); !ok {
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
