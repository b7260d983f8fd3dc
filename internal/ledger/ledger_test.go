package ledger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// openTestLedger opens a new SQLite ledger in a temporary directory.
func openTestLedger(t testing.TB) (*Ledger, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() { l.Close() })
	return l, path
}

func testGrant(id string) Grant {
	return Grant{
		ID:          id,
		Principal:   "svc-payments-api",
		Entitlement: "payments-db-read",
		TicketID:    "SEC-101",
		Approvers:   []string{"alice@example.com"},
		Requester:   "dev@example.com",
		Target:      "ledger",
		Role:        "payments_read",
		ExpiresAt:   t0.Add(7 * 24 * time.Hour).Format(time.RFC3339),
	}
}

func testApproval(id string) Approval {
	return Approval{
		ID:            id,
		TicketID:      "SEC-101",
		Entitlement:   "payments-db-read",
		Principal:     "svc-payments-api",
		Approvers:     []string{"alice@example.com"},
		Justification: "nightly reconciliation",
		ExpiresAt:     t0.Add(7 * 24 * time.Hour).Format(time.RFC3339),
		Statement:     "alice@example.com approves ...",
		Digest:        "abc",
	}
}

func mustVerify(t testing.TB, l *Ledger) Report {
	t.Helper()
	r, err := l.Verify(context.Background())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !r.OK {
		t.Fatalf("ledger does not verify: first bad %d: %s", r.FirstBad, r.Problem)
	}
	return r
}

func TestIssueGrant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, _ := openTestLedger(t)

	at := time.Date(2026, 3, 1, 10, 0, 0, 5, time.FixedZone("CET", 3600))
	in := testGrant("grt_1")
	in.Status = StatusRevoked // ignored: issuing makes it active
	g, err := l.IssueGrant(ctx, in, at)
	if err != nil {
		t.Fatalf("IssueGrant: %v", err)
	}
	if g.Status != StatusActive || !g.GrantedAt.Equal(at) || g.GrantedAt.Location() != time.UTC || g.Seq != 1 {
		t.Fatalf("issued grant = %+v", g)
	}
	got, err := l.Grant(ctx, "grt_1")
	if err != nil {
		t.Fatalf("Grant: %v", err)
	}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", g) {
		t.Fatalf("read back\n%+v\nwant\n%+v", got, g)
	}

	if _, err := l.IssueGrant(ctx, testGrant("grt_1"), at); !errors.Is(err, ErrExists) {
		t.Fatalf("issuing a taken id: err = %v, want ErrExists", err)
	}
	if _, err := l.Grant(ctx, "grt_unknown"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown grant: err = %v, want ErrNotFound", err)
	}

	// An empty id gets a fresh one.
	g2, err := l.IssueGrant(ctx, testGrant(""), at)
	if err != nil {
		t.Fatalf("IssueGrant without id: %v", err)
	}
	if !regexp.MustCompile(`^grt_[0-9a-f]{20}$`).MatchString(g2.ID) {
		t.Fatalf("generated id %q", g2.ID)
	}

	bad := testGrant("grt_bad")
	bad.ExpiresAt = "next tuesday"
	if _, err := l.IssueGrant(ctx, bad, at); err == nil || !strings.Contains(err.Error(), "RFC 3339") {
		t.Fatalf("bad expiry: err = %v", err)
	}
	if h, _ := l.Head(ctx); h.Seq != 2 {
		t.Fatalf("head after refused issues = %d, want 2", h.Seq)
	}
	mustVerify(t, l)
}

func TestGrantTransitions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	at := t0.Add(time.Hour)

	tests := []struct {
		name       string
		prepare    func(l *Ledger, id string) (Grant, bool, error) // after the issue
		act        func(l *Ledger, id string) (Grant, error)
		wantStatus string
		wantReason string
		wantNote   string
		wantRetire bool
		wantEvent  string // "" when the act must not append
	}{
		{
			name:       "expire active",
			act:        func(l *Ledger, id string) (Grant, error) { return dropAppended(l.ExpireGrant(ctx, id, at, nil)) },
			wantStatus: StatusExpired, wantReason: ReasonExpired, wantEvent: EventGrantExpired,
		},
		{
			name: "revoke active",
			act: func(l *Ledger, id string) (Grant, error) {
				return dropAppended(l.RevokeGrant(ctx, id, at, ReasonOutOfBand, "INC-7", nil))
			},
			wantStatus: StatusRevoked, wantReason: ReasonOutOfBand, wantNote: "INC-7", wantEvent: EventGrantRevoked,
		},
		{
			name:       "retire active",
			act:        func(l *Ledger, id string) (Grant, error) { return dropAppended(l.RetireGrant(ctx, id, at, nil)) },
			wantStatus: StatusRevoked, wantReason: ReasonDestroyed, wantRetire: true, wantEvent: EventGrantRetired,
		},
		{
			name:       "retire expired keeps the expiry",
			prepare:    func(l *Ledger, id string) (Grant, bool, error) { return l.ExpireGrant(ctx, id, t0, nil) },
			act:        func(l *Ledger, id string) (Grant, error) { return dropAppended(l.RetireGrant(ctx, id, at, nil)) },
			wantStatus: StatusExpired, wantReason: ReasonExpired, wantRetire: true, wantEvent: EventGrantRetired,
		},
		{
			name: "expire revoked is a no-op",
			prepare: func(l *Ledger, id string) (Grant, bool, error) {
				return l.RevokeGrant(ctx, id, t0, ReasonOutOfBand, "", nil)
			},
			act:        func(l *Ledger, id string) (Grant, error) { return dropAppended(l.ExpireGrant(ctx, id, at, nil)) },
			wantStatus: StatusRevoked, wantReason: ReasonOutOfBand,
		},
		{
			name:    "revoke expired is a no-op",
			prepare: func(l *Ledger, id string) (Grant, bool, error) { return l.ExpireGrant(ctx, id, t0, nil) },
			act: func(l *Ledger, id string) (Grant, error) {
				return dropAppended(l.RevokeGrant(ctx, id, at, ReasonOutOfBand, "late", nil))
			},
			wantStatus: StatusExpired, wantReason: ReasonExpired,
		},
		{
			name:       "retire retired is a no-op",
			prepare:    func(l *Ledger, id string) (Grant, bool, error) { return l.RetireGrant(ctx, id, t0, nil) },
			act:        func(l *Ledger, id string) (Grant, error) { return dropAppended(l.RetireGrant(ctx, id, at, nil)) },
			wantStatus: StatusRevoked, wantReason: ReasonDestroyed, wantRetire: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, _ := openTestLedger(t)
			if _, err := l.IssueGrant(ctx, testGrant("grt_1"), t0.Add(-time.Hour)); err != nil {
				t.Fatal(err)
			}
			if tt.prepare != nil {
				if _, _, err := tt.prepare(l, "grt_1"); err != nil {
					t.Fatalf("prepare: %v", err)
				}
			}
			before, _ := l.Head(ctx)
			g, err := tt.act(l, "grt_1")
			if err != nil {
				t.Fatalf("act: %v", err)
			}
			if g.Status != tt.wantStatus || g.RevocationReason != tt.wantReason || g.RevocationNote != tt.wantNote ||
				g.RetiredAt.IsZero() == tt.wantRetire {
				t.Fatalf("grant = %+v", g)
			}
			after, _ := l.Head(ctx)
			if tt.wantEvent == "" {
				if after != before {
					t.Fatalf("no-op appended: head %d -> %d", before.Seq, after.Seq)
				}
			} else {
				if after.Seq != before.Seq+1 || g.Seq != after.Seq {
					t.Fatalf("head %d -> %d, grant seq %d", before.Seq, after.Seq, g.Seq)
				}
				var last Event
				if err := l.Store().Events(ctx, func(e Event) error { last = e; return nil }); err != nil {
					t.Fatal(err)
				}
				if last.Type != tt.wantEvent || last.Subject != "grt_1" {
					t.Fatalf("last event = %s %s, want %s grt_1", last.Type, last.Subject, tt.wantEvent)
				}
				if tt.wantRetire && !g.RetiredAt.Equal(at) {
					t.Fatalf("retired at %v, want %v", g.RetiredAt, at)
				}
			}
			stored, err := l.Grant(ctx, "grt_1")
			if err != nil || fmt.Sprintf("%+v", stored) != fmt.Sprintf("%+v", g) {
				t.Fatalf("stored = %+v, %v\nreturned = %+v", stored, err, g)
			}
			mustVerify(t, l)
		})
	}
}

func TestGrantTransitionsUnknownAndBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, _ := openTestLedger(t)
	for name, act := range map[string]func() (Grant, error){
		"expire": func() (Grant, error) { return dropAppended(l.ExpireGrant(ctx, "grt_none", t0, nil)) },
		"revoke": func() (Grant, error) {
			return dropAppended(l.RevokeGrant(ctx, "grt_none", t0, ReasonOutOfBand, "", nil))
		},
		"retire": func() (Grant, error) { return dropAppended(l.RetireGrant(ctx, "grt_none", t0, nil)) },
	} {
		if _, err := act(); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s unknown: err = %v, want ErrNotFound", name, err)
		}
	}
	if _, err := l.IssueGrant(ctx, testGrant("grt_1"), t0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.RevokeGrant(ctx, "grt_1", t0, "", "", nil); err == nil {
		t.Error("revoking without a reason succeeded")
	}
}

func TestApprovalTransitions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, _ := openTestLedger(t)

	a, err := l.RecordApproval(ctx, testApproval("apr_1"), t0)
	if err != nil {
		t.Fatalf("RecordApproval: %v", err)
	}
	if a.Status != ApprovalActive || !a.ApprovedAt.Equal(t0) || a.Seq != 1 {
		t.Fatalf("recorded = %+v", a)
	}
	if _, err := l.RecordApproval(ctx, testApproval("apr_1"), t0); !errors.Is(err, ErrExists) {
		t.Fatalf("recording an active approval again: err = %v, want ErrExists", err)
	}

	w, err := l.WithdrawApproval(ctx, "apr_1", t0.Add(time.Hour))
	if err != nil {
		t.Fatalf("WithdrawApproval: %v", err)
	}
	if w.Status != ApprovalWithdrawn || !w.WithdrawnAt.Equal(t0.Add(time.Hour)) || w.Seq != 2 {
		t.Fatalf("withdrawn = %+v", w)
	}
	again, err := l.WithdrawApproval(ctx, "apr_1", t0.Add(2*time.Hour))
	if err != nil || again.Seq != 2 || !again.WithdrawnAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("withdrawing twice = %+v, %v; want the first withdrawal, no event", again, err)
	}

	// An approval id, once recorded, is never recorded again, withdrawn or
	// not: a fresh approved_at would reset approval_max_age.
	if _, err := l.RecordApproval(ctx, testApproval("apr_1"), t0.Add(3*time.Hour)); !errors.Is(err, ErrExists) {
		t.Fatalf("re-recording a withdrawn approval: err = %v, want ErrExists", err)
	}
	stored, err := l.Approval(ctx, "apr_1")
	if err != nil || fmt.Sprintf("%+v", stored) != fmt.Sprintf("%+v", w) {
		t.Fatalf("stored = %+v, %v; want the withdrawn record unchanged", stored, err)
	}
	if _, err := l.WithdrawApproval(ctx, "apr_none", t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("withdrawing an unknown approval: err = %v", err)
	}
	if _, err := l.Approval(ctx, "apr_none"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown approval: err = %v", err)
	}
	all, err := storedApprovals(ctx, l.Store())
	if err != nil || len(all) != 1 || all[0].ID != "apr_1" || all[0].Seq != 2 {
		t.Fatalf("Approvals = %+v, %v", all, err)
	}
	mustVerify(t, l)
}

// racingStore lets another writer change a grant just before the first append.
type racingStore struct {
	Store
	race    func()
	appends int
}

func (s *racingStore) AppendGrant(ctx context.Context, eventType string, at time.Time, g Grant, expectSeq int64) (Event, error) {
	s.appends++
	if s.race != nil {
		race := s.race
		s.race = nil
		race()
	}
	return s.Store.AppendGrant(ctx, eventType, at, g, expectSeq)
}

func TestTransitionRetriesOnConflict(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base, _ := openTestLedger(t)
	other := New(base.Store())
	if _, err := base.IssueGrant(ctx, testGrant("grt_1"), t0); err != nil {
		t.Fatal(err)
	}
	if _, err := base.RequestGrant(ctx, testGrant("grt_2"), t0); err != nil {
		t.Fatal(err)
	}

	// Someone revokes out of band while Terraform expires the grant: the expiry
	// must re-read, see the revocation and leave it alone.
	rs := &racingStore{Store: base.Store(), race: func() {
		if _, _, err := other.RevokeGrant(ctx, "grt_1", t0, ReasonOutOfBand, "incident", nil); err != nil {
			t.Errorf("racing revoke: %v", err)
		}
	}}
	g, _, err := New(rs).ExpireGrant(ctx, "grt_1", t0.Add(time.Hour), nil)
	if err != nil {
		t.Fatalf("ExpireGrant: %v", err)
	}
	if g.Status != StatusRevoked || g.RevocationReason != ReasonOutOfBand || rs.appends != 1 {
		t.Fatalf("after the race: %+v, %d appends", g, rs.appends)
	}

	// A conflicting change that leaves the grant in force (a pending grant
	// issued, with another justification): the retry appends.
	rs = &racingStore{Store: base.Store(), race: func() {
		cur, _ := base.Grant(ctx, "grt_2")
		cur.Justification = "amended"
		cur.Status = StatusActive
		if _, err := base.Store().AppendGrant(ctx, EventGrantIssued, t0, cur, cur.Seq); err != nil {
			t.Errorf("racing append: %v", err)
		}
	}}
	g, _, err = New(rs).RetireGrant(ctx, "grt_2", t0.Add(time.Hour), nil)
	if err != nil {
		t.Fatalf("RetireGrant: %v", err)
	}
	if g.Status != StatusRevoked || g.RetiredAt.IsZero() || g.Justification != "amended" || rs.appends != 2 {
		t.Fatalf("after the retry: %+v, %d appends", g, rs.appends)
	}
	mustVerify(t, base)
}

func TestOpenLocations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	tests := []struct {
		location string
		want     string
	}{
		{"mysql://db/ledger", "unsupported ledger location"},
		{"sqlite3:" + filepath.Join(dir, "governed.db"), `"sqlite3:" is not a scheme governed knows`},
		{"file:governed.db", `"file:" is not a scheme governed knows`},
		{"sqlite:", "names no file"},
		{"sqlite:" + filepath.Join(dir, "nope", "deeper", "ledger.db"), "does not exist"},
	}
	for _, tt := range tests {
		l, err := Open(ctx, tt.location)
		if err == nil {
			l.Close()
			t.Errorf("Open(%q) succeeded", tt.location)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open(%q) = %q, want it to contain %q", tt.location, err, tt.want)
		}
	}
}

func TestOpenDefaultLocation(t *testing.T) {
	// Changes the working directory: not parallel.
	dir := t.TempDir()
	t.Chdir(dir)
	l, err := Open(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := os.Stat(filepath.Join(dir, DefaultLocation)); err != nil {
		t.Fatalf("default ledger not created in the working directory: %v", err)
	}
}

func TestIDs(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		g, a := NewGrantID(), NewApprovalID()
		if !regexp.MustCompile(`^grt_[0-9a-f]{20}$`).MatchString(g) || !regexp.MustCompile(`^apr_[0-9a-f]{20}$`).MatchString(a) {
			t.Fatalf("ids %q %q", g, a)
		}
		if seen[g] {
			t.Fatalf("duplicate id %q", g)
		}
		seen[g] = true
	}
}

func TestUseApproval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, _ := openTestLedger(t)
	if _, err := l.RecordApproval(ctx, testApproval("apr_1"), t0); err != nil {
		t.Fatal(err)
	}
	a, err := l.UseApproval(ctx, "apr_1", "grt_a", t0)
	if err != nil || a.GrantID != "grt_a" || a.Seq != 2 {
		t.Fatalf("UseApproval = %+v, %v; want grant grt_a at event 2", a, err)
	}
	if a, err := l.UseApproval(ctx, "apr_1", "grt_a", t0); err != nil || a.Seq != 2 {
		t.Fatalf("using it again for the same grant = %+v, %v; want no new event", a, err)
	}
	if _, err := l.UseApproval(ctx, "apr_1", "grt_b", t0); !errors.Is(err, ErrApprovalUsed) {
		t.Fatalf("using it for another grant: err = %v, want ErrApprovalUsed", err)
	}
	if _, err := l.RecordApproval(ctx, testApproval("apr_2"), t0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.WithdrawApproval(ctx, "apr_2", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.UseApproval(ctx, "apr_2", "grt_c", t0); !errors.Is(err, ErrApprovalUsed) {
		t.Fatalf("using a withdrawn approval: err = %v, want ErrApprovalUsed", err)
	}
	if _, err := l.UseApproval(ctx, "apr_none", "grt_d", t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("using an unknown approval: err = %v, want ErrNotFound", err)
	}
	if r := mustVerify(t, l); r.Events != 4 {
		t.Fatalf("events = %d, want 4 (two recorded, one used, one withdrawn)", r.Events)
	}
}

// dropAppended keeps a grant transition's grant and error, for tables of
// transitions that do not look at whether an event was appended.
func dropAppended(g Grant, _ bool, err error) (Grant, error) { return g, err }
