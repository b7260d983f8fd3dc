package ledger

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestStoresEndingDoesNotWaitOnRows: the current-state rows are an index
// that whoever may write them (the pipeline's role on PostgreSQL, the file's
// owner on SQLite; here the database's owner, who may also delete) can edit
// or delete. A grant whose row was deleted, or whose row names another
// event, still expires, is revoked and withdrawn: the append decides by the
// record's last event and writes the row again from the event it appends,
// so that the ledger verifies afterwards.
func TestStoresEndingDoesNotWaitOnRows(t *testing.T) {
	t.Parallel()
	edits := []struct {
		name  string
		edit  func(id string) string
		end   func(ctx context.Context, l *Ledger, id string, at time.Time) (Grant, bool, error)
		wants string
	}{
		{"row deleted, expiry", func(id string) string { return `DELETE FROM grants WHERE id = '` + id + `'` },
			func(ctx context.Context, l *Ledger, id string, at time.Time) (Grant, bool, error) {
				return l.ExpireGrant(ctx, id, at, nil)
			}, StatusExpired},
		{"row deleted, revocation", func(id string) string { return `DELETE FROM grants WHERE id = '` + id + `'` },
			func(ctx context.Context, l *Ledger, id string, at time.Time) (Grant, bool, error) {
				return l.RevokeGrant(ctx, id, at, ReasonApprovalWithdrawn, "", nil)
			}, StatusRevoked},
		{"row names an earlier seq", func(id string) string { return `UPDATE grants SET seq = 1 WHERE id = '` + id + `'` },
			func(ctx context.Context, l *Ledger, id string, at time.Time) (Grant, bool, error) {
				return l.ExpireGrant(ctx, id, at, nil)
			}, StatusExpired},
		{"row says revoked", func(id string) string { return `UPDATE grants SET status = 'revoked' WHERE id = '` + id + `'` },
			func(ctx context.Context, l *Ledger, id string, at time.Time) (Grant, bool, error) {
				return l.RetireGrant(ctx, id, at, nil)
			}, StatusRevoked},
	}
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx := context.Background()
		l := st.appender(t)
		for i, tt := range edits {
			id := fmt.Sprintf("grt_%d", i+1)
			issued, err := l.IssueGrant(ctx, testGrant(id), t0)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.exec(tt.edit(id)); err != nil {
				t.Fatal(err)
			}
			got, appended, err := tt.end(ctx, l, id, t0.Add(8*24*time.Hour))
			if err != nil || !appended || got.Status != tt.wants || got.Seq <= issued.Seq {
				t.Fatalf("%s: ending grant %s = %+v, %v, %v; want %s, appended", tt.name, id, got, appended, err, tt.wants)
			}
			rows, err := st.queryInt(fmt.Sprintf(`SELECT count(*) FROM grants WHERE id = '%s' AND seq = %d AND status = '%s'`,
				id, got.Seq, tt.wants))
			if err != nil || rows != 1 {
				t.Fatalf("%s: current-state rows of %s naming event %d as %s: %d, %v; want 1", tt.name, id, got.Seq, tt.wants, rows, err)
			}
			if read, err := l.Grant(ctx, id); err != nil || read.Status != tt.wants || read.Seq != got.Seq {
				t.Fatalf("%s: Grant(%s) after = %+v, %v", tt.name, id, read, err)
			}
		}
		// An approval whose row was deleted keeps its id taken, and is still
		// withdrawn.
		if _, err := l.RecordApproval(ctx, testApproval("apr_1"), t0); err != nil {
			t.Fatal(err)
		}
		if err := st.exec(`DELETE FROM approvals WHERE id = 'apr_1'`); err != nil {
			t.Fatal(err)
		}
		again := testApproval("apr_1")
		again.Status = ApprovalActive
		if _, err := l.Store().AppendApproval(ctx, EventApprovalRecorded, t0, again, 0); !errors.Is(err, ErrExists) {
			t.Fatalf("a new approval under a taken id whose row was deleted: %v, want ErrExists", err)
		}
		if a, err := l.WithdrawApproval(ctx, "apr_1", t0.Add(time.Hour)); err != nil || a.Status != ApprovalWithdrawn {
			t.Fatalf("withdrawing an approval whose row was deleted = %+v, %v", a, err)
		}
		mustVerify(t, l)
	})
}

// TestStoresEachLastGrant: the listings from the events give every grant and
// approval as its last event holds it, whatever the current-state rows say
// or whether they are there at all; a grant and an approval under one id are
// each listed as their own kind.
func TestStoresEachLastGrant(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx, l := context.Background(), st.l
		for _, id := range []string{"grt_1", "grt_2", "apr_1"} {
			if _, err := l.IssueGrant(ctx, testGrant(id), t0); err != nil {
				t.Fatal(err)
			}
		}
		expired, _, err := l.ExpireGrant(ctx, "grt_2", t0.Add(time.Hour), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.RecordApproval(ctx, testApproval("apr_1"), t0); err != nil {
			t.Fatal(err)
		}
		withdrawn, err := l.WithdrawApproval(ctx, "apr_1", t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.exec(`DELETE FROM grants WHERE id = 'grt_1'`, `UPDATE grants SET status = 'active' WHERE id = 'grt_2'`,
			`DELETE FROM approvals`); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		err = l.EachLastGrant(ctx, func(g *Grant, readErr error) error {
			if readErr != nil {
				return readErr
			}
			got[g.ID] = fmt.Sprintf("%s@%d", g.Status, g.Seq)
			return nil
		})
		want := map[string]string{"grt_1": StatusActive + "@" + fmt.Sprint(expired.Seq-3), "grt_2": fmt.Sprintf("%s@%d", StatusExpired, expired.Seq),
			"apr_1": StatusActive + "@" + fmt.Sprint(expired.Seq-1)}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("EachLastGrant = %v, %v; want %v", got, err, want)
		}
		var approvals []string
		err = l.EachLastApproval(ctx, func(a Approval, readErr error) error {
			approvals = append(approvals, fmt.Sprintf("%s %s@%d %v", a.ID, a.Status, a.Seq, readErr))
			return nil
		})
		if want := fmt.Sprintf("apr_1 %s@%d <nil>", ApprovalWithdrawn, withdrawn.Seq); err != nil || len(approvals) != 1 || approvals[0] != want {
			t.Fatalf("EachLastApproval = %v, %v; want [%s]", approvals, err, want)
		}
		stop := errors.New("stop")
		if err := l.EachLastGrant(ctx, func(*Grant, error) error { return stop }); err != stop {
			t.Fatalf("EachLastGrant with a callback that stops: %v, want its error as it is", err)
		}
	})
}
