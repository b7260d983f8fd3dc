package ledger

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestReadPayload(t *testing.T) {
	t.Parallel()
	g := testGrant("grt_1")
	g.Status, g.Justification = StatusActive, `a "quoted" \ note, with "status":"revoked" inside`
	data, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	var f payloadFields
	if problem := readPayload(data, &f); problem != "" {
		t.Fatalf("readPayload of a grant = %q", problem)
	}
	if string(f[fID]) != "grt_1" || string(f[fStatus]) != "active" || string(f[fBreakGlass]) != "false" || f[fApprovalID] != nil ||
		string(f[fExpiresAt]) != g.ExpiresAt {
		t.Fatalf("fields = %q", f)
	}
	if problem := readPayload([]byte(` { "id" : "gr\u0074_1", "status":"active" , "extra":["a",{"b":[1,"]}"]}] } `), &f); problem != "" ||
		string(f[fID]) != "grt_1" {
		t.Fatalf("readPayload with escapes and nesting = %q, id %q", problem, f[fID])
	}
	for _, tc := range []struct{ data, want string }{
		{`[]`, "not a JSON object"},
		{`{"id":"grt_1"`, "not well-formed"},
		{`{"id":"grt_1"} x`, "not well-formed"},
		{`{"id":"grt_1","status":"active","status":"revoked"}`, `the member "status" twice`},
		{`{"id":"grt_1","st\u0061tus":"active","status":"revoked"}`, `the member "status" twice`},
		{`{"id":"grt_1","status":"revoked","Status":"active"}`, `a member "Status"`},
		{`{"id":"grt_1","status":}`, "not well-formed"},
		{`{"id":"grt_1" "status":"active"}`, "not well-formed"},
		// What Go's decoder, which every other read uses, refuses.
		{`{"id":"grt_1","break_glass":tru}`, "not well-formed"},
		{`{"id":"grt_1","break_glass":01}`, "not well-formed"},
		{`{"id":"grt_1","approvers":[tru]}`, "not well-formed"},
		{`{"id":"grt_1","approvers":["a",]}`, "not well-formed"},
		{`{"id":"grt_1","note":` + "\"a\tb\"}", "not well-formed"},
		{"{\"id\":\"grt\x00_1\"}", "not well-formed"},
		{`{"id":"grt_1","approval_evidence":{"a":}}`, "not well-formed"},
		{`{"id":"grt_1","justification":"a\qb"}`, "not well-formed"},
		{`{"id":"grt_1","note":"\u12"}`, "not well-formed"},
		{`{"id":"grt_1","principal":"svc\x"}`, "not well-formed"},
		// Well-formed, but of a type Go's decoder refuses for the member.
		{`{"id":"grt_1","break_glass":"yes"}`, `"break_glass" is not of the type`},
		{`{"id":"grt_1","Revoked_At":5}`, `"Revoked_At" is not of the type`},
		{`{"id":"grt_1","revoked_at":"yesterday"}`, `"revoked_at" is not of the type`},
		{`{"id":"grt_1","approvers":"alice"}`, `"approvers" is not of the type`},
		{`{"id":"grt_1","approvers":["alice",1]}`, `"approvers" is not of the type`},
		{`{"id":"apr_1","signatures":{"alice":["x"]}}`, `"signatures" is not of the type`},
		{`{"id":"grt_1","status":true}`, `"status" is not of the type`},
		{`{"id":"grt_1","justification":{}}`, `"justification" is not of the type`},
		// Go's decoder matches names as bytes.EqualFold does, for which
		// U+017F (long s) is an s and U+212A (Kelvin sign) a k.
		{`{"id":"grt_1","revoKed_at":5}`, `"revoKed_at" is not of the type`},
		{`{"id":"apr_1","ſigner_keyſ":["x"]}`, `"ſigner_keyſ" is not of the type`},
		{`{"id":"grt_1","ſtatus":"active"}`, `would read as "status"`},
	} {
		if problem := readPayload([]byte(tc.data), &f); !strings.Contains(problem, tc.want) {
			t.Errorf("readPayload(%s) = %q, want %q", tc.data, problem, tc.want)
		}
		if json.Valid([]byte(tc.data)) && tc.want == "not well-formed" {
			t.Errorf("%s is valid JSON, so readPayload should not refuse it as malformed", tc.data)
		}
		if strings.Contains(tc.want, "not of the type") {
			var g Grant
			var a Approval
			if json.Unmarshal([]byte(tc.data), &g) == nil && json.Unmarshal([]byte(tc.data), &a) == nil {
				t.Errorf("%s decodes as a grant and an approval, so readPayload should take it", tc.data)
			}
		}
	}
	// Go's decoder refuses a document nested more than 10000 deep, the
	// payload's object included: a member's value may nest 9999 deep.
	for depth, want := range map[int]string{9999: "", 10000: "not well-formed"} {
		data := `{"id":"grt_1","x":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`
		var g Grant
		decodes := json.Unmarshal([]byte(data), &g) == nil
		if problem := readPayload([]byte(data), &f); !strings.Contains(problem, want) || (problem == "") != decodes {
			t.Errorf("readPayload of a member nested %d deep = %q, want %q (Go's decoder takes it: %v)", depth, problem, want, decodes)
		}
	}
	// What both Go's decoder and readPayload take.
	for _, data := range []string{
		`{"id":"grt_1","break_glass":null,"approvers":null,"revoked_at":null,"signatures":null}`,
		`{"id":"grt_1","approvers":[],"revoked_at":"2026-11-30T10:00:00+01:00","retired_at":"2026-11-30T10:00:00.5Z"}`,
		`{"id":"apr_1","signatures":{},"signer_keys":{"a":"k","b":null},"approvers":["a", null , "b"]}`,
		`{"id":"grt_1","unknown":[1,{"x":true}],"APPROVERS":["a"]}`,
	} {
		var g Grant
		var a Approval
		if json.Unmarshal([]byte(data), &g) != nil || json.Unmarshal([]byte(data), &a) != nil {
			t.Fatalf("%s does not decode", data)
		}
		if problem := readPayload([]byte(data), &f); problem != "" {
			t.Errorf("readPayload(%s) = %q, want it taken", data, problem)
		}
	}
}

// FuzzReadPayload holds readPayload to Go's decoder, which every other read
// of a record uses: a payload that verification takes must decode as both a
// grant and an approval, or a forged event could pass verification and make
// its record, and with it its revocation, unreadable. What it reads of the
// members it keeps must be what the decoder reads.
func FuzzReadPayload(f *testing.F) {
	g := testGrant("grt_1")
	g.Approvers, g.RevokedAt = []string{"alice", "bob"}, t0
	grant, _ := json.Marshal(g)
	approval, _ := json.Marshal(Approval{ID: "apr_1", GrantID: "grt_1", Signatures: map[string]string{"alice": "sig"}})
	for _, seed := range []string{string(grant), string(approval), `{"id":"g\u0041","justification":"a\"b\\c\n"}`,
		`{"id":"grt_1","break_glass":true,"revoke_pending":null,"x":[1,{"y":-0.5e3}]}`, `{"ID":"a","id":"b"}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fields payloadFields
		if readPayload(data, &fields) != "" {
			return
		}
		var g Grant
		var a Approval
		if err := json.Unmarshal(data, &g); err != nil {
			t.Fatalf("readPayload took %q, which does not decode as a grant: %v", data, err)
		}
		if err := json.Unmarshal(data, &a); err != nil {
			t.Fatalf("readPayload took %q, which does not decode as an approval: %v", data, err)
		}
		for k, want := range map[int]string{fID: g.ID, fStatus: g.Status, fPrincipal: g.Principal, fEntitlement: g.Entitlement,
			fTicketID: g.TicketID, fExpiresAt: g.ExpiresAt, fApprovalID: g.ApprovalID, fPolicyDigest: g.PolicyDigest, fGrantID: a.GrantID} {
			if string(fields[k]) != want {
				t.Fatalf("readPayload read %s %q from %q, the decoder %q", fieldNames[k], fields[k], data, want)
			}
		}
	})
}
