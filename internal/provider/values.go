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

// stringMap returns a known map's entries. Unknown entries are skipped and
// reported through the second result; a null map is an empty one.
func stringMap(m types.Map) (map[string]string, bool) {
	if m.IsNull() || m.IsUnknown() {
		return nil, !m.IsUnknown()
	}
	out := make(map[string]string, len(m.Elements()))
	known := true
	for k, e := range m.Elements() {
		sv, ok := e.(types.String)
		if !ok || sv.IsUnknown() {
			known = false
			continue
		}
		if !sv.IsNull() {
			out[k] = sv.ValueString()
		}
	}
	return out, known
}

// stringMapOrNull is m as a Terraform map, null when empty.
func stringMapOrNull(m map[string]string) types.Map {
	if len(m) == 0 {
		return types.MapNull(types.StringType)
	}
	elems := make(map[string]attr.Value, len(m))
	for k, v := range m {
		elems[k] = types.StringValue(v)
	}
	return types.MapValueMust(types.StringType, elems)
}
