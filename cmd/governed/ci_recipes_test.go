package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The CI recipes in examples/ci are documentation that runs: these tests
// parse them, check that every governed and terraform command they (and the
// scripts they call) name exists with the flags they use, and hold them to
// what keeps separation of duties.

const ciDir = "../../examples/ci"

// recipeTexts returns every string in a YAML document: the shell lines of its
// run and script keys among them.
func recipeTexts(t *testing.T, file string) ([]string, *yaml.Node) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s does not parse as YAML: %v", file, err)
	}
	var out []string
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode {
			out = append(out, n.Value)
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	return out, &doc
}

// lookup returns the value under a path of mapping keys, or nil.
func lookup(n *yaml.Node, keys ...string) *yaml.Node {
	if n.Kind == yaml.DocumentNode {
		n = n.Content[0]
	}
	for _, k := range keys {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	return n
}

var commandSeparators = regexp.MustCompile(`\$\(|&&|\|\||[;|()]`)

// invocation is one governed or terraform command line found in a recipe.
type invocation struct {
	tool, sub string
	flags     []string
}

// invocations finds the governed and terraform commands in shell text,
// also when called through a variable ("$terraform", "$governed").
func invocations(text string) []invocation {
	var out []invocation
	for line := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, part := range commandSeparators.Split(line, -1) {
			f := strings.Fields(part)
			if len(f) < 2 {
				continue
			}
			tool := strings.Trim(f[0], `"{}$`)
			if tool != "governed" && tool != "terraform" || strings.HasPrefix(f[1], "-") || strings.ContainsAny(f[1], `"$/`) {
				continue
			}
			inv := invocation{tool: tool, sub: f[1]}
			for _, a := range f[2:] {
				if strings.HasPrefix(a, "-") {
					name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
					inv.flags = append(inv.flags, name)
				}
			}
			out = append(out, inv)
		}
	}
	return out
}

// helpOmits are flags that Terraform has but its -help does not list; the
// tests of examples/ci/review-plan.sh run them against real plans.
var helpOmits = map[string][]string{"plan": {"json"}}

func TestCIRecipesNameRealCommands(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(ciDir, "*", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	gitlab, _ := filepath.Glob(filepath.Join(ciDir, "gitlab", ".gitlab-ci.yml"))
	files = append(files, gitlab...)
	scripts, _ := filepath.Glob(filepath.Join(ciDir, "*.sh"))
	if len(files) < 4 || len(scripts) < 2 {
		t.Fatalf("recipes %v, scripts %v: want the three GitHub workflows, the GitLab pipeline and their scripts", files, scripts)
	}
	var texts []string
	for _, f := range files {
		s, _ := recipeTexts(t, f)
		texts = append(texts, s...)
	}
	for _, f := range scripts {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, string(b))
		// The recipes call the scripts as ci/NAME: the name must be one
		// that ships.
		if !strings.Contains(strings.Join(texts, "\n"), "./ci/"+filepath.Base(f)) {
			t.Errorf("no recipe calls %s", filepath.Base(f))
		}
	}
	tf, tfErr := exec.LookPath("terraform")
	seen := map[string]bool{}
	for _, text := range texts {
		for _, inv := range invocations(text) {
			key := inv.tool + " " + inv.sub + " " + strings.Join(inv.flags, " ")
			if seen[key] {
				continue
			}
			seen[key] = true
			var help string
			switch inv.tool {
			case "governed":
				code, out, errOut := runCLI(inv.sub, "-h")
				if code != exitOK {
					t.Errorf("the recipes run governed %s, which is not a command (exit %d):\n%s", inv.sub, code, errOut)
					continue
				}
				help = out + errOut
			case "terraform":
				if tfErr != nil {
					t.Skipf("terraform not on PATH: %v", tfErr)
				}
				out, _ := exec.Command(tf, inv.sub, "-help").CombinedOutput()
				if !strings.Contains(string(out), "Usage: terraform") || strings.Contains(string(out), "Usage: terraform [global options] <subcommand>") {
					t.Errorf("the recipes run terraform %s, which is not a command:\n%s", inv.sub, out)
					continue
				}
				help = string(out)
			}
			for _, f := range inv.flags {
				if inv.tool == "terraform" && slices.Contains(helpOmits[inv.sub], f) {
					continue
				}
				if !regexp.MustCompile(`(^|\s)--?` + regexp.QuoteMeta(f) + `\b`).MatchString(help) {
					t.Errorf("the recipes run %s %s with -%s, which it does not have:\n%s", inv.tool, inv.sub, f, help)
				}
			}
		}
	}
	for _, want := range []string{"governed review", "governed reconcile", "terraform plan", "terraform show", "terraform apply"} {
		found := false
		for k := range seen {
			found = found || strings.HasPrefix(k, want+" ")
		}
		if !found {
			t.Errorf("no recipe runs %s", want)
		}
	}
}

// The apply on merge names the merged request's author as the requester,
// never whoever pressed merge; the scheduled run only removes access; applies
// run one at a time.
func TestCIRecipesKeepSeparationOfDuties(t *testing.T) {
	t.Parallel()
	gh := func(name string) ([]string, *yaml.Node) { return recipeTexts(t, filepath.Join(ciDir, "github", name)) }
	planTexts, plan := gh("governed-plan.yml")
	applyTexts, apply := gh("governed-apply.yml")
	revokeTexts, revoke := gh("governed-revoke.yml")
	glTexts, gl := recipeTexts(t, filepath.Join(ciDir, "gitlab", ".gitlab-ci.yml"))

	for name, texts := range map[string][]string{"governed-plan.yml": planTexts, "governed-apply.yml": applyTexts,
		"governed-revoke.yml": revokeTexts, ".gitlab-ci.yml": glTexts} {
		joined := strings.Join(texts, "\n")
		if strings.Contains(joined, "github.actor") || strings.Contains(joined, "GITLAB_USER_LOGIN") {
			t.Errorf("%s names whoever triggered the run as a requester", name)
		}
	}
	if v := lookup(plan, "jobs", "plan", "env", "GOVERNED_REQUESTER"); v == nil || !strings.Contains(v.Value, "github.event.pull_request.user.login") {
		t.Errorf("the pull-request plan's requester is not the pull request's author: %v", v)
	}
	if !strings.Contains(strings.Join(planTexts, "\n"), "<!-- governed-review -->") {
		t.Error("the pull-request plan does not find its comment by the review's marker")
	}
	if !strings.Contains(strings.Join(applyTexts, "\n"), `./ci/pr-author.sh github "$SHA"`) {
		t.Error("the apply on merge does not find the requester from the merge commit")
	}
	if v := lookup(revoke, "jobs", "revoke", "env", "GOVERNED_REVOKE_ONLY"); v == nil || v.Value != "1" {
		t.Errorf("the scheduled run is not revoke-only: %v", v)
	}
	if v := lookup(revoke, "on", "schedule"); v == nil {
		t.Error("the revoke-only run has no schedule")
	}
	ga, gr := lookup(apply, "concurrency", "group"), lookup(revoke, "concurrency", "group")
	if ga == nil || gr == nil || ga.Value != gr.Value || lookup(apply, "concurrency", "cancel-in-progress").Value != "false" {
		t.Errorf("the apply and the revoke-only run do not share one concurrency group without cancelling: %v %v", ga, gr)
	}
	ra, rr := lookup(gl, "governed-apply", "resource_group"), lookup(gl, "governed-revoke", "resource_group")
	if ra == nil || rr == nil || ra.Value != rr.Value {
		t.Errorf("GitLab's apply and revoke-only jobs do not share a resource_group: %v %v", ra, rr)
	}
	if v := lookup(gl, "governed-revoke", "variables", "GOVERNED_REVOKE_ONLY"); v == nil || v.Value != "1" {
		t.Errorf("GitLab's scheduled job is not revoke-only: %v", v)
	}
	if !strings.Contains(strings.Join(glTexts, "\n"), `./ci/pr-author.sh gitlab "$CI_COMMIT_SHA"`) {
		t.Error("GitLab's apply does not find the requester from the merge commit")
	}
}

func TestPRAuthor(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("jq not on PATH (the recipes' runners have it)")
	}
	const sha = "0123456789abcdef0123456789abcdef01234567"
	script, err := filepath.Abs(filepath.Join(ciDir, "pr-author.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, host, body, want string
		ok                     bool
	}{
		{"github merge", "github", `[{"number":7,"merged_at":"2026-11-28T12:00:00Z","merge_commit_sha":"` + sha + `","user":{"login":"alice-example"}},
			{"number":8,"merged_at":null,"merge_commit_sha":"` + sha + `","user":{"login":"mallory"}}]`, "github:alice-example", true},
		{"github open request only", "github", `[{"number":8,"merged_at":null,"merge_commit_sha":"` + sha + `","user":{"login":"mallory"}}]`, "", false},
		{"github direct push", "github", `[]`, "", false},
		{"github another merge", "github", `[{"merged_at":"2026-11-28T12:00:00Z","merge_commit_sha":"ffff","user":{"login":"bob"}}]`, "", false},
		{"gitlab squash merge", "gitlab", `[{"state":"merged","merge_commit_sha":null,"squash_commit_sha":"` + sha + `","author":{"username":"carol"}}]`, "gitlab:carol", true},
		{"gitlab opened", "gitlab", `[{"state":"opened","merge_commit_sha":"` + sha + `","author":{"username":"carol"}}]`, "", false},
		{"odd characters", "github", `[{"merged_at":"x","merge_commit_sha":"` + sha + `","user":{"login":"a b;rm"}}]`, "", false},
		{"not JSON", "github", `<html>`, "", false},
		{"unknown host", "bitbucket", `[]`, "", false},
	} {
		cmd := exec.Command("bash", script, tc.host, sha)
		cmd.Stdin = strings.NewReader(tc.body)
		out, err := cmd.Output()
		if (err == nil) != tc.ok || strings.TrimSpace(string(out)) != tc.want {
			t.Errorf("%s: printed %q (%v), want %q and success %v", tc.name, out, err, tc.want, tc.ok)
		}
	}
}

// Anyone who can comment on a merge request can write a note that starts
// with the review's marker, before the pipeline posts its own: the recipe
// updates only the note its token wrote. The note lookup's jq program runs
// here over notes where the requester's comes first.
func TestGitLabRecipeUpdatesOnlyItsOwnNote(t *testing.T) {
	t.Parallel()
	jq, err := exec.LookPath("jq")
	if err != nil {
		t.Skip("jq is not installed")
	}
	texts, _ := recipeTexts(t, filepath.Join(ciDir, "gitlab", ".gitlab-ci.yml"))
	var program string
	for _, line := range strings.Split(strings.Join(texts, "\n"), "\n") {
		if strings.Contains(line, "jq -r") && strings.Contains(line, "governed-review") {
			if i, j := strings.Index(line, "'"), strings.LastIndex(line, "'"); i >= 0 && j > i {
				program = line[i+1 : j]
			}
		}
	}
	if program == "" {
		t.Fatal("the GitLab recipe has no jq program that finds the review's note")
	}
	notes := `[{"id": 11, "author": {"id": 7, "username": "requester"}, "body": "<!-- governed-review -->\nNothing blocks."},
	           {"id": 12, "author": {"id": 99, "username": "project_1_bot"}, "body": "<!-- governed-review -->\n1 blocking"}]`
	cmd := exec.Command(jq, "-r", "--argjson", "me", "99", program)
	cmd.Stdin = strings.NewReader(notes)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("jq %s: %v", program, err)
	}
	if got := strings.TrimSpace(string(out)); got != "12" {
		t.Fatalf("the recipe would update note %q; want 12, the one its token wrote", got)
	}
}
