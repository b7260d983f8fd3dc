package provider

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/checkpoint"
	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
)

// witnessKey makes a witness's key pair and writes its verifier key to a
// file, as an auditor or the pipeline would hold it.
func witnessKey(t *testing.T, name string) (signer, verifierFile string) {
	t.Helper()
	signer, verifier, err := checkpoint.GenerateKey(name)
	if err != nil {
		t.Fatal(err)
	}
	verifierFile = filepath.Join(t.TempDir(), name+".pub")
	if err := os.WriteFile(verifierFile, []byte(verifier+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return signer, verifierFile
}

// cosign adds the witness's cosignature to the pipeline's checkpoint file.
func cosign(t *testing.T, witnessSigner string) {
	t.Helper()
	cosignAt(t, witnessSigner, time.Now())
}

// cosignAt is cosign with the cosignature dated at.
func cosignAt(t *testing.T, witnessSigner string, at time.Time) {
	t.Helper()
	file := os.Getenv(EnvCheckpoint)
	msg, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	logKey, err := checkpoint.ParseVerifierKey(os.Getenv(EnvCheckpointKey))
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := checkpoint.CosignAt(msg, logKey, witnessSigner, at)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A checkpoint that carries fewer witness cosignatures than the pipeline
// requires refuses a new grant, naming the witness missing, while removing a
// grant still revokes it; with the threshold met, the grant is planned.
func TestAccLedger_checkpointShortOfWitnessesRefusesNewGrants(t *testing.T) {
	skipUnlessAcc(t)
	env, h := appliedHarness(t, twoGrants)
	signCheckpoint(t, env.ledger)
	w1, w1Pub := witnessKey(t, "witness-one.example.org")
	_, w2Pub := witnessKey(t, "witness-two.example.net")
	cosign(t, w1)
	t.Setenv(EnvCheckpointWitnessKeys, w1Pub+","+w2Pub)

	// One of two cosigned, and one required: a new grant is planned.
	t.Setenv(EnvCheckpointWitnesses, "1")
	h.write("main.tf", env.config(twoGrants+thirdGrant))
	if changes, out := h.plan(); actions(changes["governed_grant.third"]) != "create" {
		t.Fatalf("plan of a new grant on a checkpoint cosigned by 1 of 1 required witness: %q\n%s",
			actions(changes["governed_grant.third"]), out)
	}

	// Both required (the default): refused, naming the missing witness.
	t.Setenv(EnvCheckpointWitnesses, "")
	out, err := h.run("plan", "-input=false")
	out = strings.Join(strings.Fields(out), " ") // as one line, whatever the terminal's width
	for _, want := range []string{"Ledger does not match its checkpoint", "is short of its witnesses",
		"from 1 of 2 witnesses and needs 2", "not cosigned by witness-two.example.net", "Nothing is granted or approved"} {
		if err == nil || !strings.Contains(out, want) {
			t.Fatalf("plan of a new grant on a checkpoint short of a witness: err=%v; want a refusal naming %q\n%s", err, want, out)
		}
	}

	// Removing a grant still revokes it.
	id, _ := h.stateAttr("governed_grant.second", "id").(string)
	h.write("main.tf", env.config(strings.Split(twoGrants, `resource "governed_grant" "second"`)[0]))
	h.mustRun("apply", "-input=false", "-auto-approve")
	withLedger(t, env.ledger, func(ctx context.Context, l *ledger.Ledger) {
		g, err := l.Grant(ctx, id)
		if err != nil || g.Status != ledger.StatusRevoked {
			t.Errorf("grant %s after its removal on a checkpoint short of a witness: status %q, %v; want revoked", id, g.Status, err)
		}
	})
}

// A witness's timestamp contradicts the ledger's recording times: the
// checkpoint's events were recorded after the witness says it saw them, so
// their times were forged. A new grant is refused, naming the event; removing
// a grant still revokes it.
func TestAccLedger_recordingTimesAgainstWitnessRefuseNewGrants(t *testing.T) {
	skipUnlessAcc(t)
	env, h := appliedHarness(t, twoGrants)
	signCheckpoint(t, env.ledger)
	w, wPub := witnessKey(t, "witness.example.org")
	cosignAt(t, w, time.Now().Add(-time.Hour))
	t.Setenv(EnvCheckpointWitnessKeys, wPub)

	h.write("main.tf", env.config(twoGrants+thirdGrant))
	out, err := h.run("plan", "-input=false")
	out = strings.Join(strings.Fields(out), " ")
	for _, want := range []string{"Ledger does not match its checkpoint", "recording times contradict the witnesses",
		"after witness witness.example.org cosigned the ledger at size", "its recording time was forged",
		"Nothing is granted or approved"} {
		if err == nil || !strings.Contains(out, want) {
			t.Fatalf("plan of a new grant against a witness's time: err=%v; want a refusal naming %q\n%s", err, want, out)
		}
	}

	id, _ := h.stateAttr("governed_grant.second", "id").(string)
	h.write("main.tf", env.config(strings.Split(twoGrants, `resource "governed_grant" "second"`)[0]))
	h.mustRun("apply", "-input=false", "-auto-approve")
	withLedger(t, env.ledger, func(ctx context.Context, l *ledger.Ledger) {
		g, err := l.Grant(ctx, id)
		if err != nil || g.Status != ledger.StatusRevoked {
			t.Errorf("grant %s after its removal against a witness's time: status %q, %v; want revoked", id, g.Status, err)
		}
	})
}

// The witness settings go with a checkpoint and with each other, and a
// threshold must be one the witnesses named can meet.
func TestPipeline_witnessSettings(t *testing.T) {
	_, logKey, err := checkpoint.GenerateKey("checkpoints.example.com")
	if err != nil {
		t.Fatal(err)
	}
	_, w1 := witnessKey(t, "witness-one.example.org")
	_, w2 := witnessKey(t, "witness-two.example.net")
	for _, tt := range []struct {
		name, file, keys, threshold, want string
		required                          int
	}{
		{"none", "ledger.checkpoint", "", "", "", 0},
		{"two, all by default", "ledger.checkpoint", w1 + ", " + w2, "", "", 2},
		{"two, one required", "ledger.checkpoint", w1 + "," + w2, "1", "", 1},
		{"no checkpoint", "", w1, "", "that is not set: set " + EnvCheckpoint, 0},
		{"threshold alone", "ledger.checkpoint", "", "1", EnvCheckpointWitnessKeys + " must have cosigned", 0},
		{"threshold too high", "ledger.checkpoint", w1 + "," + w2, "3", "a number from 1 to 2", 0},
		{"threshold zero", "ledger.checkpoint", w1, "0", "a number from 1 to 1", 0},
		{"not a key", "ledger.checkpoint", w1 + ",nope", "", "The witness key nope", 0},
		{"twice", "ledger.checkpoint", w1 + "," + w1, "", "given twice", 0},
		{"the log's key", "ledger.checkpoint", logKey, "", "the checkpoint's own key", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			key := ""
			if tt.file != "" {
				key = logKey
			}
			t.Setenv(EnvCheckpoint, tt.file)
			t.Setenv(EnvCheckpointKey, key)
			t.Setenv(EnvCheckpointWitnessKeys, tt.keys)
			t.Setenv(EnvCheckpointWitnesses, tt.threshold)
			// Settings the provider cannot use never stop the run: they
			// refuse new access as the checkpoint's problem, and removals
			// go through.
			p, diags := readPipeline()
			if diags.HasError() {
				t.Fatalf("readPipeline: %v", diags)
			}
			got := p.checkpointProblem
			if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Fatalf("readPipeline: problem %q; want %q", got, tt.want)
			}
			if tt.want == "" && p.witnesses.Threshold != tt.required {
				t.Errorf("witnesses required: %d, want %d", p.witnesses.Threshold, tt.required)
			}
		})
	}
}
