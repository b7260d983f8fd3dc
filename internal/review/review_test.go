package review

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// manyGrantsPlan is the plan of testdata/plans/new (made with the real
// Terraform CLI) with its grant governed_grant.plain repeated n times, each
// copy to its own principal under its own ticket: a plan of n new grants.
func manyGrantsPlan(t testing.TB, n int) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/plans/new/plan.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var plain map[string]any
	changesIn, _ := doc["resource_changes"].([]any)
	for _, rc := range changesIn {
		if m, _ := rc.(map[string]any); m["address"] == "governed_grant.plain" {
			plain = m
		}
	}
	if plain == nil {
		t.Fatal("testdata/plans/new has no governed_grant.plain")
	}
	changes := make([]any, 0, n)
	for i := range n {
		b, _ := json.Marshal(plain)
		s := strings.NewReplacer(`"governed_grant.plain"`, fmt.Sprintf(`"governed_grant.many[\"svc-payments-%04d\"]"`, i),
			`"svc-payments-api"`, fmt.Sprintf(`"svc-payments-%04d"`, i), `"SEC-101"`, fmt.Sprintf(`"SEC-%d"`, 1000+i)).Replace(string(b))
		var m any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		changes = append(changes, m)
	}
	doc["resource_changes"] = changes
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMarkdownFitsAComment(t *testing.T) {
	t.Parallel()
	var in Input
	if err := in.ReadPlan(bytes.NewReader(manyGrantsPlan(t, 3000))); err != nil {
		t.Fatal(err)
	}
	r := Review(in, Options{})
	if r.Counts[ClassNew] != 3000 || !r.AddsAccess || r.IsBlocking() {
		t.Fatalf("counts %v, adds access %v, blocking %v", r.Counts, r.AddsAccess, r.Blocking)
	}
	for _, limit := range []int{CommentLimit, 4000, 1000} {
		md := r.Markdown(limit)
		if len(md) > limit || !strings.HasPrefix(md, Marker+"\n") {
			t.Fatalf("limit %d: the review is %d characters, or lacks its marker", limit, len(md))
		}
		if !strings.Contains(md, "Detail was left out") && !strings.Contains(md, "cut here") {
			t.Fatalf("limit %d: detail was dropped without saying so:\n%s", limit, md)
		}
	}
	if md := r.Markdown(100 * CommentLimit); strings.Contains(md, "left out") {
		t.Fatal("a review that fits says it left detail out")
	}
}

// A value from the plan cannot break out of the Markdown or the workflow
// commands: a principal with Markdown, HTML and a newline stays text, inside
// one code span. (CI steps find the review's comment by the marker at its
// start, which no value can take.)
func TestHostileValuesStayText(t *testing.T) {
	t.Parallel()
	raw := strings.ReplaceAll(string(manyGrantsPlan(t, 1)), `"svc-payments-0000"`,
		`"x<!-- governed-review -->\n::error::pwned `+"`a`"+` [l](http://e)"`)
	var in Input
	if err := in.ReadPlan(strings.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	r := Review(in, Options{})
	md := r.Markdown(CommentLimit)
	if !strings.HasPrefix(md, Marker+"\n") || strings.Contains(md, "\n::error") || !strings.Contains(md, "`x<!-- governed-review --> ::error::pwned 'a' [l](http://e)`") {
		t.Fatalf("a principal's text became Markdown:\n%s", md)
	}
	var gh bytes.Buffer
	if err := r.WriteGitHub(&gh); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(gh.String()), "\n") {
		if strings.HasPrefix(line, "::error::pwned") || !strings.HasPrefix(line, "::notice ") {
			t.Fatalf("a principal's text started a workflow command:\n%s", gh.String())
		}
	}
}

func TestExpiryEstimateCountsFromThePlan(t *testing.T) {
	t.Parallel()
	var in Input
	if err := in.ReadPlan(bytes.NewReader(manyGrantsPlan(t, 1))); err != nil {
		t.Fatal(err)
	}
	after, ok := in.Plan.ResourceChanges[0].Change.After.(map[string]any)
	if !ok {
		t.Fatal("the grant's planned values are not an object")
	}
	after["ttl"] = "36h"
	delete(after, "expires_at")
	r := Review(in, Options{})
	it := r.Items[0]
	want := timeOf(r.PlanTime).Add(36 * time.Hour).Format(time.RFC3339)
	if !it.ExpiryEstimated || it.ExpiresAt != want {
		t.Fatalf("expiry %s (estimated %v), want about %s", it.ExpiresAt, it.ExpiryEstimated, want)
	}
}

// BenchmarkReview1000 reads and reviews a plan of 1,000 new grants and
// renders its Markdown; run it with -benchmem for its allocations.
func BenchmarkReview1000(b *testing.B) {
	plan := manyGrantsPlan(b, 1000)
	b.SetBytes(int64(len(plan)))
	b.ReportAllocs()
	for b.Loop() {
		var in Input
		if err := in.ReadPlan(bytes.NewReader(plan)); err != nil {
			b.Fatal(err)
		}
		if md := Review(in, Options{}).Markdown(CommentLimit); len(md) == 0 {
			b.Fatal("empty review")
		}
	}
}
