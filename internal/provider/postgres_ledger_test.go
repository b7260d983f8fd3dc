package provider

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/pgtest"
)

// Several Terraform runs, each in its own processes with its own state, write
// to one PostgreSQL ledger at the same time: the ledger keeps one chain, with
// every event, that verifies.
func TestAccPostgresLedger_concurrentRuns(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	const runs, grantsPerRun = 4, 25
	ctx := context.Background()
	_, location := pgtest.Shared(t).NewDatabase(t, "shared_ledger")
	rc := builtProviderCLIConfig(t)
	tf := cliPath(t)
	policy := filepath.Join(t.TempDir(), "access-policy.hcl")
	if err := os.WriteFile(policy, []byte(testPolicy), 0o600); err != nil {
		t.Fatal(err)
	}

	dirs := make([]string, runs)
	for r := range runs {
		dirs[r] = t.TempDir()
		var b strings.Builder
		fmt.Fprintf(&b, `terraform {
  required_providers {
    governed = { source = "governed-entitlements/governed" }
  }
}

provider "governed" {
  ledger      = %q
  policy_file = %q
  requester   = "dev@example.com"
}
`, location, policy)
		for i := range grantsPerRun {
			fmt.Fprintf(&b, "%s", validGrant().with("principal", q(fmt.Sprintf("svc-payments-r%d-%d", r, i)),
				"ticket_id", q(fmt.Sprintf("SEC-%d%03d", r+1, i))).hcl(fmt.Sprintf("g%d", i)))
		}
		if err := os.WriteFile(filepath.Join(dirs[r], "main.tf"), []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Every run applies, then destroys, all runs at once.
	for _, command := range [][]string{{"apply", "-auto-approve", "-input=false"}, {"destroy", "-auto-approve", "-input=false"}} {
		var wg sync.WaitGroup
		errs := make([]error, runs)
		for r := range runs {
			wg.Go(func() {
				cmd := exec.Command(tf, command...)
				cmd.Dir = dirs[r]
				cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+rc, "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1", "TF_CLI_ARGS=-no-color")
				if out, err := cmd.CombinedOutput(); err != nil {
					errs[r] = fmt.Errorf("run %d: terraform %s: %v\n%s", r, command[0], err, out)
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}

	l, err := ledger.OpenExisting(ctx, location)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	report, err := l.Verify(ctx)
	if err != nil || !report.OK {
		t.Fatalf("the shared ledger does not verify after concurrent runs: %+v %v", report, err)
	}
	// One grant.issued and one grant.retired per grant, in one chain.
	if want := int64(2 * runs * grantsPerRun); report.Events != want || report.Head.Seq != want {
		t.Fatalf("the ledger holds %d events (head %d), want %d", report.Events, report.Head.Seq, want)
	}
	grants, err := l.Grants(ctx, ledger.GrantFilter{})
	if err != nil || len(grants) != runs*grantsPerRun {
		t.Fatalf("grants in the ledger: %d, %v", len(grants), err)
	}
	for _, g := range grants {
		if g.RetiredAt.IsZero() || g.Status != ledger.StatusRevoked {
			t.Fatalf("grant %s after destroy: status %s, retired %v", g.ID, g.Status, g.RetiredAt)
		}
	}
}

// A PostgreSQL ledger that goes away between plan and apply stops the apply
// before anything is granted, with an error that names the ledger.
func TestAccPostgresLedger_lostBeforeApply(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	w := newPGWorld(t)
	ledgerDB, _ := w.Server.NewDatabase(t, "ledger")
	keeper := "keeper_" + w.Tag
	w.Exec("CREATE ROLE " + keeper + " LOGIN")
	w.Server.MustExec(t, ledgerDB, "GRANT CREATE ON SCHEMA public TO "+keeper)
	env := w.env("")
	env.ledger = w.Server.URLAs(keeper, ledgerDB)
	api := w.Principal("api")
	h := newCLIHarness(t, env.clock)
	h.write("main.tf", env.config(appGrant(api, "SEC-1").hcl("g")))
	h.mustRun("init", "-input=false")
	h.plan()

	w.Exec("ALTER ROLE "+keeper+" NOLOGIN",
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '"+keeper+"'")
	out, err := h.run("apply", "-input=false", "test.tfplan")
	if err == nil || !strings.Contains(out, "ledger") || !strings.Contains(out, ledgerDB) {
		t.Fatalf("apply with the ledger gone: %v\n%s", err, out)
	}
	if w.IsMember(api, w.Role) {
		t.Fatal("granted although the ledger could not record it")
	}
	if out, _ := h.run("state", "list"); strings.Contains(out, "governed_grant.g") {
		t.Fatalf("state holds the grant after a failed apply:\n%s", out)
	}
}
