// Command rulesdoc writes the tables of policy rules and limits into the
// policy guide's template, between their markers, so the guide always lists
// exactly the rules and limits the code enforces. `make generate` runs it before tfplugindocs.
package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

const (
	begin       = "<!-- rules:begin -->"
	end         = "<!-- rules:end -->"
	limitsBegin = "<!-- limits:begin -->"
	limitsEnd   = "<!-- limits:end -->"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: rulesdoc TEMPLATE")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "rulesdoc:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var rules strings.Builder
	rules.WriteString("| rule | what it demands | how to comply |\n| --- | --- | --- |\n")
	for _, r := range policy.Rules {
		fmt.Fprintf(&rules, "| `%s` | %s | %s |\n", r.Name, cell(r.Summary), cell(r.Fix))
	}
	var limits strings.Builder
	limits.WriteString("| what | limit |\n| --- | --- |\n")
	for _, l := range policy.Limits {
		fmt.Fprintf(&limits, "| %s | %s |\n", cell(l.What), cell(l.Max))
	}
	if src, err = between(src, begin, end, rules.String()); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if src, err = between(src, limitsBegin, limitsEnd, limits.String()); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, src, 0o644)
}

// between replaces what src holds between the markers opening and closing
// with table.
func between(src []byte, opening, closing, table string) ([]byte, error) {
	i, j := bytes.Index(src, []byte(opening)), bytes.Index(src, []byte(closing))
	if i < 0 || j < i {
		return nil, fmt.Errorf("markers %q and %q not found in order", opening, closing)
	}
	out := append(append([]byte{}, src[:i]...), opening+"\n"+table...)
	return append(out, src[j:]...), nil
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
