package ledgertest

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBinariesDoNotLinkTesting: no package of this module that the
// provider (the module's root package) or the governed command is built
// from imports the testing package, so that nothing a test binary may do,
// such as turning off the bounds on decision instants, is in a build that
// ships; the governed command links no testing at all. (The provider links
// it through github.com/hashicorp/go-plugin, whose test helpers share a
// package with the plugin server.) Asked of the real go command.
func TestBinariesDoNotLinkTesting(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	const module = "github.com/governed-entitlements/terraform-provider-governed"
	for _, tc := range []struct {
		pkg string
		// allowed are the packages outside the module that may import
		// testing.
		allowed []string
	}{
		{".", []string{"github.com/hashicorp/go-plugin"}},
		{"./cmd/governed", nil},
	} {
		cmd := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, tc.pkg)
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", tc.pkg, err)
		}
		var importers []string
		for _, line := range strings.Split(string(out), "\n") {
			fields := strings.Fields(line)
			if len(fields) < 2 || !slices.Contains(fields[1:], "testing") {
				continue
			}
			if !strings.HasPrefix(fields[0], module+"/") && fields[0] != module && slices.Contains(tc.allowed, fields[0]) {
				continue
			}
			importers = append(importers, fields[0])
		}
		if len(importers) > 0 {
			t.Errorf("%s links the testing package, imported by %s", tc.pkg, strings.Join(importers, ", "))
		}
	}
}
