// Command rulesdoc writes the table of policy rules into the policy guide's
// template, between its rules markers, so the guide always lists exactly the
// rules the code enforces. `make generate` runs it before tfplugindocs.
package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

const (
	begin = "<!-- rules:begin -->"
	end   = "<!-- rules:end -->"
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
	i, j := bytes.Index(src, []byte(begin)), bytes.Index(src, []byte(end))
	if i < 0 || j < i {
		return fmt.Errorf("%s: markers %q and %q not found in order", path, begin, end)
	}
	var table strings.Builder
	table.WriteString(begin + "\n| rule | what it demands | how to comply |\n| --- | --- | --- |\n")
	for _, r := range policy.Rules {
		fmt.Fprintf(&table, "| `%s` | %s | %s |\n", r.Name, cell(r.Summary), cell(r.Fix))
	}
	out := append(append([]byte{}, src[:i]...), table.String()...)
	out = append(out, src[j:]...)
	return os.WriteFile(path, out, 0o644)
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
