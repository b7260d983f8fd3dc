package provider

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/checkpoint"
	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
)

// backupLedger copies the SQLite ledger at path to a new file, consistently
// while the provider holds it open, as `sqlite3 governed.db ".backup old.db"`
// would. The copy is the same ledger (the same id) as it was then.
func backupLedger(t *testing.T, path string) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), "old.db")
	execSQL(t, path, "VACUUM INTO '"+to+"'")
	return to
}

// withLedger opens the ledger at path for the test to act on it directly,
// as governed does, beside the provider.
func withLedger(t *testing.T, path string, fn func(context.Context, *ledger.Ledger)) {
	t.Helper()
	ctx := context.Background()
	l, err := ledger.OpenExisting(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fn(ctx, l)
}

// signCheckpoint signs a checkpoint of the ledger at path as it is now, and
// sets the pipeline's settings to it and its verifier key.
func signCheckpoint(t *testing.T, path string) {
	t.Helper()
	signer, verifier, err := checkpoint.GenerateKey("checkpoints.example.com")
	if err != nil {
		t.Fatal(err)
	}
	var msg []byte
	withLedger(t, path, func(ctx context.Context, l *ledger.Ledger) {
		cp, err := checkpoint.Of(ctx, l)
		if err != nil {
			t.Fatal(err)
		}
		if msg, err = checkpoint.Sign(cp, signer); err != nil {
			t.Fatal(err)
		}
	})
	file := filepath.Join(t.TempDir(), "ledger.checkpoint")
	if err := os.WriteFile(file, msg, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvCheckpoint, file)
	t.Setenv(EnvCheckpointKey, verifier)
}

// A ledger rolled back behind its signed checkpoint refuses a new grant,
// naming the checkpoint and what differs, while an expiry still revokes.
func TestAccLedger_behindCheckpointRefusesNewGrants(t *testing.T) {
	skipUnlessAcc(t)
	env, h := appliedHarness(t, twoGrants)
	old := backupLedger(t, env.ledger)
	withLedger(t, env.ledger, func(ctx context.Context, l *ledger.Ledger) {
		g := ledger.Grant{ID: ledger.NewGrantID(), Principal: "svc-payments-reports", Entitlement: "payments-db-read",
			TicketID: "SEC-699", Approvers: []string{"alice@example.com"}, Requester: "dev@example.com",
			Target: "ledger", ExpiresAt: testNow.Add(time.Hour).Format(time.RFC3339), PolicyDigest: env.keepPolicy(l)}
		if _, err := l.IssueGrant(ctx, g, testNow); err != nil {
			t.Fatal(err)
		}
	})
	signCheckpoint(t, env.ledger)

	// The ledger that was signed extends its checkpoint: a new grant is planned.
	h.write("main.tf", env.config(twoGrants+thirdGrant))
	if changes, out := h.plan(); actions(changes["governed_grant.third"]) != "create" {
		t.Fatalf("plan of a new grant on the checkpointed ledger: %q\n%s", actions(changes["governed_grant.third"]), out)
	}

	// The older copy put back: new grants are refused.
	env.ledger = old
	h.write("main.tf", env.config(twoGrants+thirdGrant))
	out, err := h.run("plan", "-input=false")
	out = strings.Join(strings.Fields(out), " ") // as one line, whatever the terminal's width
	for _, want := range []string{"Ledger does not match its checkpoint", "behind the checkpoint's size", "it went backwards",
		"Nothing is granted or approved"} {
		if err == nil || !strings.Contains(out, want) {
			t.Fatalf("plan of a new grant on a rolled-back ledger: err=%v; want a refusal naming %q\n%s", err, want, out)
		}
	}

	// Expiry still revokes on it.
	env.clock.Advance(8*time.Hour + time.Minute)
	h.write("main.tf", env.config(twoGrants))
	h.mustRun("apply", "-input=false", "-auto-approve")
	for _, addr := range []string{"governed_grant.first", "governed_grant.second"} {
		if got := h.stateAttr(addr, "status"); got != ledger.StatusExpired {
			t.Errorf("%s after the apply past its expiry: status %v, want expired", addr, got)
		}
	}
}

// A checkpoint whose signature does not verify with the pipeline's key
// refuses new grants, and says so.
func TestAccLedger_checkpointSignatureRefusesNewGrants(t *testing.T) {
	skipUnlessAcc(t)
	env, h := appliedHarness(t, twoGrants)
	signCheckpoint(t, env.ledger)
	_, otherVerifier, err := checkpoint.GenerateKey("checkpoints.example.com")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvCheckpointKey, otherVerifier)
	h.write("main.tf", env.config(twoGrants+thirdGrant))
	out, err := h.run("plan", "-input=false")
	out = strings.Join(strings.Fields(out), " ") // as one line, whatever the terminal's width
	for _, want := range []string{"Ledger does not match its checkpoint", "signature does not verify with key checkpoints.example.com"} {
		if err == nil || !strings.Contains(out, want) {
			t.Fatalf("plan with a checkpoint signed by another key: err=%v; want a refusal naming %q\n%s", err, want, out)
		}
	}
}

// An older copy of the ledger restored after a revocation does not bring the
// grant back: the plan fails on the grant, naming a ledger that went
// backwards, with or without a refresh, and removing the grant from the
// configuration still goes through.
func TestAccGrant_noRevivalFromAnOlderLedger(t *testing.T) {
	skipUnlessAcc(t)
	env, h := appliedHarness(t, expiringGrants)
	old := backupLedger(t, env.ledger)
	id, _ := h.stateAttr("governed_grant.g", "id").(string)
	withLedger(t, env.ledger, func(ctx context.Context, l *ledger.Ledger) {
		if _, _, err := l.RevokeGrant(ctx, id, testNow, ledger.ReasonOutOfBand, "incident INC-7", nil); err != nil {
			t.Fatal(err)
		}
	})
	h.mustRun("apply", "-input=false", "-auto-approve")
	if got := h.stateAttr("governed_grant.g", "status"); got != ledger.StatusRevoked {
		t.Fatalf("status after the revocation was applied: %v, want revoked", got)
	}

	env.ledger = old
	h.write("main.tf", env.config(expiringGrants))
	for _, args := range [][]string{{"plan", "-input=false"}, {"plan", "-input=false", "-refresh=false"}} {
		out, err := h.run(args...)
		out = strings.Join(strings.Fields(out), " ") // as one line, whatever the terminal's width
		for _, want := range []string{"Ledger went backwards", "governed_grant.g", id, "as revoked (out_of_band",
			"holds it as active"} {
			if err == nil || !strings.Contains(out, want) {
				t.Fatalf("terraform %s on an older ledger: err=%v; want a failure naming %q\n%s", strings.Join(args, " "), err, want, out)
			}
		}
	}
	if got := h.stateAttr("governed_grant.g", "status"); got != ledger.StatusRevoked {
		t.Errorf("status after plans on an older ledger: %v, want revoked still", got)
	}
	// Removing the grant from the configuration still goes through.
	h.write("main.tf", env.config(""))
	h.mustRun("apply", "-input=false", "-auto-approve")
}

// The checkpoint and its key go together, and a key that is neither a
// verifier key nor a file holding one is a problem of the checkpoint: it
// refuses what adds access (pipeline.anchor) and stops nothing else.
func TestPipeline_checkpointSettings(t *testing.T) {
	_, verifier, err := checkpoint.GenerateKey("checkpoints.example.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, file, key, want string
	}{
		{"neither", "", "", ""},
		{"both", "ledger.checkpoint", verifier, ""},
		{"no key", "ledger.checkpoint", "", EnvCheckpointKey + ", the verifier key"},
		{"no checkpoint", "", verifier, EnvCheckpointKey + " is set"},
		{"not a key", "ledger.checkpoint", "not-a-key", "neither a verifier key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvCheckpoint, tt.file)
			t.Setenv(EnvCheckpointKey, tt.key)
			p, diags := readPipeline()
			if diags.HasError() {
				t.Fatalf("readPipeline: %v; want no error, only a problem of the checkpoint", diags)
			}
			if tt.want != "" {
				problem, cp, err := p.anchor(context.Background(), nil)
				if err != nil || cp != nil || !strings.Contains(problem, tt.want) {
					t.Fatalf("anchor: %q, %v, %v; want a problem naming %q", problem, cp, err, tt.want)
				}
			} else if p.checkpointProblem != "" {
				t.Fatalf("checkpoint problem %q; want none", p.checkpointProblem)
			}
			if tt.want == "" && (p.checkpoint != tt.file || (tt.key != "") != (p.checkpointKey != nil)) {
				t.Errorf("pipeline checkpoint %q key %v; want %q and a key when one is given", p.checkpoint, p.checkpointKey, tt.file)
			}
		})
	}
}

// A signer key given by mistake where a verifier key belongs, in
// GOVERNED_CHECKPOINT_KEY or among the witness keys, is named as one and
// never repeated: the problem reaches plan output and CI logs. The advice is
// to correct the setting, not to restore the ledger, which is not at fault.
func TestPipeline_signerKeyNeverShown(t *testing.T) {
	signer, verifier, err := checkpoint.GenerateKey("checkpoints.example.com")
	if err != nil {
		t.Fatal(err)
	}
	witnessSigner, _, err := checkpoint.GenerateKey("witness.example.org")
	if err != nil {
		t.Fatal(err)
	}
	// PRIVATE+KEY+NAME+HASH+KEY: the key's base64, which may hold '+'.
	secret := func(k string) string { return strings.SplitN(k, "+", 5)[4] }
	for _, tt := range []struct{ name, key, witnesses, want string }{
		{"checkpoint key", signer, "", "PRIVATE+KEY+checkpoints.example.com+… (a signer key, not shown)"},
		{"witness key", verifier, witnessSigner, "PRIVATE+KEY+witness.example.org+… (a signer key, not shown)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvCheckpoint, "ledger.checkpoint")
			t.Setenv(EnvCheckpointKey, tt.key)
			t.Setenv(EnvCheckpointWitnessKeys, tt.witnesses)
			t.Setenv(EnvCheckpointWitnesses, "")
			p, diags := readPipeline()
			if diags.HasError() {
				t.Fatalf("readPipeline: %v", diags)
			}
			problem, _, _ := p.anchor(context.Background(), nil)
			detail := anchorDetail(problem, "governed.db")
			if !strings.Contains(detail, tt.want) || !strings.Contains(detail, "holds a signer key") {
				t.Errorf("problem %q; want it to name the signer key as %q", detail, tt.want)
			}
			for _, k := range []string{signer, witnessSigner} {
				if strings.Contains(detail, secret(k)) {
					t.Fatalf("the problem repeats a secret signer key: %q", detail)
				}
			}
			if !strings.Contains(detail, "Correct the setting in the pipeline") || strings.Contains(detail, "restore") {
				t.Errorf("problem %q; want the setting corrected, not the ledger restored", detail)
			}
		})
	}
}

// With a checkpoint the ledger extends, the provider verifies only what was
// appended since (the data source reports where it started), and a grant
// forged after the checkpoint still refuses new grants.
func TestAccLedger_verifiedFromCheckpoint(t *testing.T) {
	skipUnlessAcc(t)
	env, h := appliedHarness(t, twoGrants)
	signCheckpoint(t, env.ledger) // at event 2
	withLedger(t, env.ledger, func(ctx context.Context, l *ledger.Ledger) {
		g := ledger.Grant{Principal: "svc-payments-reports", Entitlement: "payments-db-read", TicketID: "SEC-699",
			Approvers: []string{"alice@example.com"}, Requester: "dev@example.com", Target: "ledger",
			ExpiresAt: testNow.Add(time.Hour).Format(time.RFC3339), PolicyDigest: env.keepPolicy(l)}
		if _, err := l.IssueGrant(ctx, g, testNow); err != nil {
			t.Fatal(err)
		}
	})
	h.write("main.tf", env.config(twoGrants+`data "governed_ledger" "this" {}`))
	h.mustRun("apply", "-input=false", "-auto-approve")
	for attr, want := range map[string]any{"verified": true, "verified_from": float64(2), "events": float64(1),
		"head_seq": float64(3), "checkpoint_size": float64(2), "checkpoint_extended": true, "checkpoint_key": "checkpoints.example.com"} {
		if got := h.stateAttr("governed_ledger.this", attr); got != want {
			t.Errorf("data.governed_ledger.this.%s = %v, want %v", attr, got, want)
		}
	}

	withLedger(t, env.ledger, func(ctx context.Context, l *ledger.Ledger) {
		forged := ledger.Grant{ID: "grt_forged", Principal: "svc-payments-evil", Entitlement: "payments-db-read",
			TicketID: "SEC-601", Approvers: []string{"alice@example.com"}, Target: "ledger",
			ExpiresAt: "2099-01-01T00:00:00Z", Status: ledger.StatusActive, PolicyDigest: env.keepPolicy(l)}
		if _, err := l.Store().AppendGrant(ctx, ledger.EventGrantIssued, testNow, forged, 0); err != nil {
			t.Fatal(err)
		}
	})
	h.write("main.tf", env.config(twoGrants+thirdGrant))
	out, err := h.run("plan", "-input=false")
	out = strings.Join(strings.Fields(out), " ")
	if err == nil || !strings.Contains(out, "Ledger does not verify") || !strings.Contains(out, "sequence number 4") {
		t.Fatalf("plan of a new grant after a forged one: err=%v\n%s", err, out)
	}
}

// The checkpoint's key is lost from the pipeline (a secret deleted or
// mistyped): nothing is granted, the plan says which setting is wrong, and
// removing access still goes through.
func TestAccLedger_checkpointKeyGoneStillRemovesAccess(t *testing.T) {
	skipUnlessAcc(t)
	for _, key := range []string{"", "not-a-key"} {
		t.Run("key "+strconv.Quote(key), func(t *testing.T) {
			env, h := appliedHarness(t, twoGrants)
			signCheckpoint(t, env.ledger)
			t.Setenv(EnvCheckpointKey, key)
			h.write("main.tf", env.config(twoGrants+thirdGrant))
			out, err := h.run("plan", "-input=false")
			out = strings.Join(strings.Fields(out), " ") // as one line, whatever the terminal's width
			if strings.Contains(out, "restore the newest copy") {
				t.Errorf("a key setting the provider cannot use is blamed on the ledger:\n%s", out)
			}
			for _, want := range []string{EnvCheckpointKey, "Nothing is granted or approved", "Correct the setting in the pipeline"} {
				if err == nil || !strings.Contains(out, want) {
					t.Fatalf("plan of a new grant without the checkpoint's key: err=%v; want a refusal naming %q\n%s", err, want, out)
				}
			}
			h.write("main.tf", env.config(""))
			h.mustRun("apply", "-input=false", "-auto-approve")
			withLedger(t, env.ledger, func(ctx context.Context, l *ledger.Ledger) {
				active, err := l.Grants(ctx, ledger.GrantFilter{Status: ledger.StatusActive})
				if err != nil {
					t.Fatal(err)
				}
				if len(active) != 0 {
					t.Errorf("after destroying every grant without the checkpoint's key, %d grants are active", len(active))
				}
			})
		})
	}
}
