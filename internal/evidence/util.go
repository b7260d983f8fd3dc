package evidence

import (
	"encoding/json"
	"iter"
	"maps"
	"slices"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// stamp is an instant as the report writes it: RFC 3339 in UTC, "" for zero.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// who names the actor and run of an event, "" when it records neither.
func who(e ledger.Event) string {
	switch {
	case e.Actor != "" && e.RunID != "":
		return e.Actor + " (" + e.RunID + ")"
	case e.RunID != "":
		return "(" + e.RunID + ")"
	}
	return e.Actor
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// distinct returns the distinct identities of names, compared as the policy
// compares them.
func distinct(names []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		k := policy.NormalizeIdentity(n)
		if k != "" && !seen[k] {
			seen[k] = true
			out = append(out, n)
		}
	}
	return out
}

// uniq returns the distinct sequence numbers, sorted.
func uniq(seqs ...int64) []int64 {
	slices.Sort(seqs)
	return slices.Compact(seqs)
}

func joinNotes(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

func mapKeys[V any](m map[string]V) iter.Seq[string] { return maps.Keys(m) }
