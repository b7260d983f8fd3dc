package provider

import (
	"sort"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// Small conversions between Terraform values and plain Go values. The ledger
// keeps "" and the zero time for "not set"; Terraform keeps null.

func stringOrNull(s string) types.String {
	if s == "" {
		return types.StringNull()
	}
	return types.StringValue(s)
}

func timeOrNull(t time.Time) types.String {
	if t.IsZero() {
		return types.StringNull()
	}
	return types.StringValue(formatTime(t))
}

// formatTime is the one format computed timestamps have in state.
func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}

func stringSet(values []string) types.Set {
	elems := make([]attr.Value, len(values))
	for i, v := range values {
		elems[i] = types.StringValue(v)
	}
	return types.SetValueMust(types.StringType, elems)
}

// setStrings returns a known set's elements, sorted. Unknown elements are skipped
// and reported through the second result.
func setStrings(s types.Set) ([]string, bool) {
	if s.IsNull() || s.IsUnknown() {
		return nil, !s.IsUnknown()
	}
	var out []string
	known := true
	for _, e := range s.Elements() {
		sv, ok := e.(types.String)
		if !ok || sv.IsUnknown() {
			known = false
			continue
		}
		if !sv.IsNull() {
			out = append(out, sv.ValueString())
		}
	}
	sort.Strings(out)
	return out, known
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = sortedCopy(a), sortedCopy(b)
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}
