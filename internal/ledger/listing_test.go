package ledger

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// listedOnly is g with only its ListedFields, as EachListedGrant reads it.
func listedOnly(g Grant) Grant {
	return Grant{ID: g.ID, Principal: g.Principal, Entitlement: g.Entitlement, TicketID: g.TicketID, Approvers: g.Approvers,
		ApprovalID: g.ApprovalID, BreakGlass: g.BreakGlass, ExpiresAt: g.ExpiresAt, GrantedAt: g.GrantedAt, Status: g.Status,
		RevokedAt: g.RevokedAt, RevocationReason: g.RevocationReason, RevokePending: g.RevokePending, Seq: g.Seq}
}

// TestDecodeListedGrantIsUnmarshal: for payloads as governed writes them,
// and for JSON that is written otherwise but reads the same (spaces, nulls,
// escapes, text that is not ASCII or not UTF-8), decodeListedGrant sets the
// ListedFields as json.Unmarshal does; what json.Unmarshal refuses, it
// refuses too.
func TestDecodeListedGrantIsUnmarshal(t *testing.T) {
	t.Parallel()
	full := testGrant("grt_1")
	full.Approvers = []string{"alice@example.com", "bob@example.com"}
	full.ApprovalID, full.BreakGlass, full.Justification, full.RevokePending = "apr_1", true, "incident \"INC-7\"", true
	full.GrantedAt, full.RevokedAt = t0, t0.Add(90*time.Minute+time.Nanosecond)
	full.Status, full.RevocationReason, full.RevokeError = StatusRevoked, ReasonOutOfBand, "role <gone> & more"
	fullJSON, _ := json.Marshal(full)
	plainJSON, _ := json.Marshal(testGrant("grt_2"))
	payloads := []string{
		string(fullJSON),
		string(plainJSON),
		`{}`,
		` { "id" : "grt_3" , "approvers" : [ ] , "granted_at" : null , "revoked_at" : "2026-03-01T09:00:00+02:00" } `,
		`{"id":"grt_\u00e9\t","principal":"Svc-\u00c4","entitlement":"caf\u00e9","approvers":["a\"b","\\\\",null],"status":null}`,
		`{"id":"grt_4","principal":"straße","ticket_id":"SEC-` + "\xff" + `","break_glass":null,"extra":{"x":[1,{"y":"]"}]}}`,
		`{"id":"grt_5","approvers":null,"revoke_pending":false,"expires_at":"2026-03-08T09:00:00.5Z"}`,
		// Refused by both.
		`[]`,
		`{"id":1}`,
		`{"id":"grt_6",}`,
		`{"id":"grt_6"} x`,
		`{"break_glass":"yes"}`,
		`{"granted_at":"yesterday"}`,
		`{"approvers":"alice"}`,
		`{"id":"grt_7"`,
		`{"approvers":[nul]}`,
		`{"approvers":["a" "b"]}`,
	}
	for _, p := range payloads {
		var want Grant
		wantErr := json.Unmarshal([]byte(p), &want)
		want.Seq = 42
		var got Grant
		err := decodeListedGrant(42, []byte(p), &got)
		if (err != nil) != (wantErr != nil) {
			t.Errorf("%s: error %v, json.Unmarshal's %v", p, err, wantErr)
			continue
		}
		if err == nil && !reflect.DeepEqual(got, listedOnly(want)) {
			t.Errorf("%s:\n got %#v\nwant %#v", p, got, listedOnly(want))
		}
	}
}

// TestStoresEachListedGrant: on every store, EachListedGrant lists the grants
// EachGrant lists, in the same order, with the same ListedFields, for the
// filters listings use.
func TestStoresEachListedGrant(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx, l := context.Background(), st.l
		writeTamperFixture(t, l)
		odd := testGrant("grt_odd")
		odd.Principal, odd.Approvers, odd.BreakGlass, odd.Justification = "Svc-Ä \"quoted\"", []string{"a\\b", "ü@example.com"}, true, "INC-9"
		if _, err := l.IssueGrant(ctx, odd, t0.Add(9*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		for _, f := range []GrantFilter{
			{},
			{Entitlement: "payments-db-read"},
			{Identity: "svc-ä \"quoted\""},
			{StatusAt: StatusActive, At: t0.Add(24 * time.Hour)},
			{StatusAt: StatusRevoked, At: t0},
		} {
			want, err := l.Grants(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			var got []Grant
			err = l.EachListedGrant(ctx, f, func(g *Grant) error {
				got = append(got, *g)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) || len(want) == 0 {
				t.Fatalf("%+v: listed %d grants, want %d (and some)", f, len(got), len(want))
			}
			for i := range want {
				if !reflect.DeepEqual(got[i], listedOnly(want[i])) {
					t.Errorf("%+v: grant %d\n got %#v\nwant %#v", f, i, got[i], listedOnly(want[i]))
				}
			}
		}
		stop := strings.Repeat("x", 3)
		if err := l.EachListedGrant(ctx, GrantFilter{}, func(*Grant) error { return errString(stop) }); err == nil || err.Error() != stop {
			t.Fatalf("an error of the callback came back as %v", err)
		}
	})
}

type errString string

func (e errString) Error() string { return string(e) }
