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
	if problem := readPayload([]byte(` { "id" : "gr\u0074_1", "status":"active" , "approvers":["a",{"b":[1,"]}"]}] } `), &f); problem != "" ||
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
	} {
		if problem := readPayload([]byte(tc.data), &f); !strings.Contains(problem, tc.want) {
			t.Errorf("readPayload(%s) = %q, want %q", tc.data, problem, tc.want)
		}
		if json.Valid([]byte(tc.data)) && tc.want == "not well-formed" {
			t.Errorf("%s is valid JSON, so readPayload should not refuse it as malformed", tc.data)
		}
	}
}
