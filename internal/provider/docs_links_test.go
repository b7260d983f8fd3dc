package provider

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// registryDocs is where the registry shows docs/: a link to another page is
// written as this URL, which works on the registry and on GitHub alike (a
// relative link works on one or the other, never both).
const registryDocs = "https://registry.terraform.io/providers/governed-entitlements/governed/latest/docs/"

// Every link in docs/ to another page is absolute and names a page that
// exists.
func TestDocsLinks(t *testing.T) {
	t.Parallel()
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	files, err := filepath.Glob("../../docs/*/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../../docs/index.md")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target, _, _ := strings.Cut(m[1], "#")
			switch {
			case target == "" || strings.HasPrefix(target, "https://") && !strings.HasPrefix(target, registryDocs):
			case strings.HasPrefix(target, registryDocs):
				page := filepath.Join("../../docs", strings.TrimPrefix(target, registryDocs)+".md")
				if _, err := os.Stat(page); err != nil {
					t.Errorf("%s: link %s names no page (%v)", f, m[1], err)
				}
			default:
				t.Errorf("%s: relative link %s: write %s… instead (edit templates/, then make generate)", f, m[1], registryDocs)
			}
		}
	}
}
