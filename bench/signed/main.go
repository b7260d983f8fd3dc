// Command signed writes the configurations that scripts/bench-signed.sh
// plans: N approval records, each with a grant under it, once signed (the
// policy has approval_signatures and every record carries its approver's SSH
// signature over its statement) and once unsigned (the same records and
// grants, no signatures, no approval_signatures). The statements name the
// ledger the plan runs against, so the ledger is made first and its id read
// here.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

const entitlement = `
entitlement "bench-read" {
  max_ttl    = "7d"
  approvers  = ["alice@example.com"]
  principals = ["svc-*"]
}
`

func main() {
	dir := flag.String("dir", "", "the directory to write into: signed/ and unsigned/ under it, sharing ledger.db")
	n := flag.Int("n", 1000, "approval records, each with one grant")
	expires := flag.String("expires", "", "the records' expires_at, RFC 3339")
	flag.Parse()
	if *dir == "" || *expires == "" {
		log.Fatal("usage: signed -dir DIR -expires RFC3339 [-n N]")
	}
	ctx := context.Background()
	ledgerPath := filepath.Join(*dir, "ledger.db")
	l, err := ledger.Open(ctx, ledgerPath)
	if err != nil {
		log.Fatal(err)
	}
	ledgerID, err := l.ID(ctx)
	l.Close()
	if err != nil {
		log.Fatal(err)
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		log.Fatal(err)
	}
	for _, signed := range []bool{true, false} {
		side := map[bool]string{true: "signed", false: "unsigned"}[signed]
		out := filepath.Join(*dir, side)
		must(os.MkdirAll(filepath.Join(out, "sigs"), 0o755))
		doc := entitlement
		if signed {
			doc = "approval_signatures {\n  allowed_signers = \"allowed_signers\"\n}\n" + entitlement
			must(os.WriteFile(filepath.Join(out, "allowed_signers"),
				[]byte("alice@example.com "+string(ssh.MarshalAuthorizedKey(signer.PublicKey()))), 0o644))
		}
		must(os.WriteFile(filepath.Join(out, "policy.hcl"), []byte(doc), 0o644))
		pol, err := policy.Parse(filepath.Join(out, "policy.hcl"), []byte(doc))
		if err != nil {
			log.Fatal(err)
		}
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
`, ledgerPath, filepath.Join(out, "policy.hcl"))
		for i := 1; i <= *n; i++ {
			req := policy.ApprovalRequest{TicketID: fmt.Sprintf("SEC-%d", i), Entitlement: "bench-read",
				Principal: fmt.Sprintf("svc-%d", i), Approvers: []string{"alice@example.com"},
				Justification: "benchmark", ExpiresAt: *expires, Requester: "dev@example.com", LedgerID: ledgerID}
			sigs := ""
			if signed {
				sig, err := sshsig.Sign(strings.NewReader(pol.Statement(req)), signer, sshsig.HashSHA512, policy.SignatureNamespace)
				if err != nil {
					log.Fatal(err)
				}
				file := filepath.Join(out, "sigs", fmt.Sprintf("%d.sig", i))
				must(os.WriteFile(file, sshsig.Armor(sig), 0o644))
				sigs = fmt.Sprintf("\n  signatures    = { \"alice@example.com\" = file(%q) }", file)
			}
			fmt.Fprintf(&b, `
resource "governed_approval_record" "a%[1]d" {
  ticket_id     = "SEC-%[1]d"
  entitlement   = "bench-read"
  principal     = "svc-%[1]d"
  approvers     = ["alice@example.com"]
  justification = "benchmark"
  expires_at    = %[2]q
  requester     = "dev@example.com"%[3]s
}

resource "governed_grant" "g%[1]d" {
  principal   = "svc-%[1]d"
  entitlement = "bench-read"
  ticket_id   = "SEC-%[1]d"
  approvers   = ["alice@example.com"]
  approval_id = governed_approval_record.a%[1]d.id
  ttl         = "8h"
}
`, i, *expires, sigs)
		}
		must(os.WriteFile(filepath.Join(out, "main.tf"), []byte(b.String()), 0o644))
	}
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
