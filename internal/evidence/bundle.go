package evidence

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// Bundle file names.
const (
	BundleSums   = "SHA256SUMS"
	BundleReadme = "README.md"
)

// WriteBundle writes the evidence bundle into dir, which must be empty or
// not exist: the report in every format, the ledger's verification and the
// checkpoint with its verification, the policy documents the ledger keeps,
// each approval's statement and signatures, the allowed_signers files and
// revoked keys lists the ledger keeps that the approvals name (for an
// approval recorded before they were kept, an allowed_signers file of the
// keys the ledger recorded for its approvers), a README that says how to
// re-verify all of it offline with stock tools, and SHA256SUMS over every
// file (as sha256sum writes it, so that sha256sum -c checks it).
func WriteBundle(ctx context.Context, dir string, l *ledger.Ledger, rep *Report, spool *Spool) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("the bundle directory %s is not empty: name a new directory", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	write := func(name string, fill func(io.Writer) error) error {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		if err := fill(f); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	text := func(s string) func(io.Writer) error {
		return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
	}
	for _, format := range []string{"csv", "json", "md", "html"} {
		if err := write("evidence."+format, func(w io.Writer) error { return Write(w, format, rep, spool) }); err != nil {
			return err
		}
	}
	verification := "the ledger verifies: " + fmt.Sprintf("%d events, head seq %d hash %s\n", rep.Ledger.Events, rep.Ledger.HeadSeq, rep.Ledger.HeadHash)
	if !rep.Ledger.Verified {
		verification = "the ledger does NOT verify: " + rep.Ledger.Problem + "\n"
	}
	verification += rep.Ledger.trustLines()
	if err := write("ledger/verification.txt", text(fmt.Sprintf("ledger %s (%s)\n%s", rep.Ledger.ID, rep.Ledger.Location, verification))); err != nil {
		return err
	}
	if rep.Ledger.Checkpoint != "" {
		cp, err := os.ReadFile(rep.Ledger.Checkpoint)
		if err != nil {
			return err
		}
		if err := write("checkpoint/checkpoint", text(string(cp))); err != nil {
			return err
		}
		if err := write("checkpoint/verification.txt", text(rep.Ledger.CheckpointResult+"\n")); err != nil {
			return err
		}
	}

	// The policy documents the report's grants were judged by.
	digests := map[string]bool{}
	approvals := map[string]bool{}
	if err := spool.Each(func(r *Row) error {
		if r.PolicyDigest != "" {
			digests[r.PolicyDigest] = true
		}
		if r.ApprovalID != "" {
			approvals[r.ApprovalID] = true
		}
		return nil
	}); err != nil {
		return err
	}
	var policies []string
	keys := &keptKeys{docs: map[string][]byte{}, written: map[string]bool{}}
	err := l.Policies(ctx, func(digest string, document []byte) error {
		keys.docs[digest] = document
		if !digests[digest] {
			return nil
		}
		policies = append(policies, digest)
		return write("policies/"+digest+".policy", text(string(document)))
	})
	if err != nil {
		return err
	}

	var verifyLines []string
	for _, id := range slices.Sorted(mapKeys(approvals)) {
		a, err := l.Approval(ctx, id)
		if errors.Is(err, ledger.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		lines, err := writeApproval(write, text, a, keys)
		if err != nil {
			return err
		}
		verifyLines = append(verifyLines, lines...)
	}

	if err := write(BundleReadme, text(bundleReadme(rep, policies, slices.Sorted(mapKeys(keys.written)), verifyLines, keys.rebuilt))); err != nil {
		return err
	}
	script := "#!/bin/sh\n# Re-verifies this bundle offline with sha256sum and ssh-keygen; see README.md.\n" +
		"# Exits 1 when a file changed or a signature does not verify.\ncd \"$(dirname \"$0\")\" || exit 2\n" +
		"sha256sum -c --quiet " + BundleSums + " || exit 1\necho \"every file matches " + BundleSums + "\"\nfailed=0\n"
	// Each kept document is named by its SHA-256, which the evidence and
	// the approvals name: the name must be the digest of what it holds.
	var named []string
	for _, d := range policies {
		named = append(named, "policies/"+d+".policy")
	}
	named = append(named, slices.Sorted(mapKeys(keys.written))...)
	for _, name := range named {
		digest := strings.TrimSuffix(path.Base(name), path.Ext(name))
		if !policyDigestName.MatchString(digest) {
			continue
		}
		script += fmt.Sprintf("[ \"$(sha256sum < %s | cut -c1-64)\" = %s ] || { echo \"%s: its SHA-256 is not its name\"; failed=1; }\n",
			name, digest, name)
	}
	if len(named) > 0 {
		script += "[ $failed = 0 ] && echo \"every kept policy and key file is named by its SHA-256\"\n"
	}
	for _, line := range verifyLines {
		script += line + " || failed=1\n"
	}
	script += "exit $failed\n"
	if err := write("verify.sh", text(script)); err != nil {
		return err
	}
	if err := os.Chmod(filepath.Join(dir, "verify.sh"), 0o755); err != nil {
		return err
	}
	return writeSums(dir)
}

// safeName turns an identity into a file name.
func safeName(s string) string {
	out := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("@._+-", r):
			return r
		}
		return '_'
	}, s)
	if out == "" || out[0] == '.' {
		out = "_" + out
	}
	return out
}

// keptKeys are the documents the ledger keeps, by digest, and which key
// documents the bundle holds so far.
type keptKeys struct {
	docs map[string][]byte
	// written maps each key document written (its path in the bundle) to true.
	written map[string]bool
	// rebuilt is set when an approval named no kept key documents, so that
	// an allowed_signers file was made from the fingerprints it records.
	rebuilt bool
}

// keyFile writes the kept key document under digest into signers/, once,
// and returns its path in the bundle; "" when the ledger does not keep it.
// policyDigestName is a kept document's name in the bundle: its SHA-256 in
// lowercase hex.
var policyDigestName = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (k *keptKeys) keyFile(write func(string, func(io.Writer) error) error, digest, ext string) (string, error) {
	doc, ok := k.docs[digest]
	if !ok || digest == "" {
		return "", nil
	}
	name := "signers/" + safeName(digest) + "." + ext
	if k.written[name] {
		return name, nil
	}
	if err := write(name, func(w io.Writer) error { _, err := w.Write(doc); return err }); err != nil {
		return "", err
	}
	k.written[name] = true
	return name, nil
}

// writeApproval writes one approval's record, statement and signatures, and
// returns the commands that verify each signature: against the
// allowed_signers (and revoked keys) the ledger keeps and the record names,
// at the instant it was recorded; for a record made before the ledger kept
// them, against an allowed_signers file made from the keys it recorded.
func writeApproval(write func(string, func(io.Writer) error) error, text func(string) func(io.Writer) error, a ledger.Approval, keys *keptKeys) ([]string, error) {
	dir := "approvals/" + safeName(a.ID)
	record, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := write(dir+"/approval.json", text(string(record)+"\n")); err != nil {
		return nil, err
	}
	if err := write(dir+"/statement.txt", text(a.Statement)); err != nil {
		return nil, err
	}
	allowedFile, err := keys.keyFile(write, a.AllowedSignersSHA256, "allowed_signers")
	if err != nil {
		return nil, err
	}
	revokedFile, err := keys.keyFile(write, a.RevokedKeysSHA256, "revoked_keys")
	if err != nil {
		return nil, err
	}
	var kept *policy.Signers
	if allowedFile != "" {
		var revoked []byte
		if revokedFile != "" {
			revoked = keys.docs[a.RevokedKeysSHA256]
		}
		if kept, err = policy.ParseSigners(allowedFile, keys.docs[a.AllowedSignersSHA256], revokedFile, revoked); err == nil {
			var p *policy.Policy
			if doc, ok := keys.docs[a.PolicyDigest]; ok {
				p, _ = policy.ParseKept(doc)
			}
			kept = kept.WithIdentities(p)
		} else {
			kept = nil
		}
	}
	var signers []string
	var lines []string
	for _, approver := range slices.Sorted(mapKeys(a.Signatures)) {
		armored := a.Signatures[approver]
		name := safeName(approver)
		if err := write(dir+"/"+name+".sig", text(strings.TrimSpace(armored)+"\n")); err != nil {
			return nil, err
		}
		sig, err := sshsig.Unarmor([]byte(strings.TrimSpace(armored)))
		if err != nil {
			continue
		}
		fp := ssh.FingerprintSHA256(sig.PublicKey)
		if !recordedKey(&a, fp) {
			continue // not a key the ledger recorded for this approver
		}
		if kept != nil {
			listed := kept.ListedName(fp, approver)
			if listed == "" {
				listed = approver // ssh-keygen says why it does not verify
			}
			line := fmt.Sprintf("ssh-keygen -Y verify -f %s -I %s -n %s -O verify-time=%s",
				allowedFile, shellQuote(listed), policy.SignatureNamespace, a.ApprovedAt.UTC().Format("20060102150405Z"))
			if revokedFile != "" {
				line += " -r " + revokedFile
			}
			lines = append(lines, line+fmt.Sprintf(" -s %s/%s.sig < %s/statement.txt", dir, name, dir))
			continue
		}
		if strings.ContainsAny(approver, " \t,\"*?!") {
			continue
		}
		signers = append(signers, fmt.Sprintf("%s namespaces=%q %s", approver, policy.SignatureNamespace,
			strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sig.PublicKey)))))
		lines = append(lines, fmt.Sprintf("ssh-keygen -Y verify -f %s/allowed_signers -I %s -n %s -s %s/%s.sig < %s/statement.txt",
			dir, shellQuote(approver), policy.SignatureNamespace, dir, name, dir))
	}
	if len(signers) > 0 {
		keys.rebuilt = true
		if err := write(dir+"/allowed_signers", text(strings.Join(signers, "\n")+"\n")); err != nil {
			return nil, err
		}
	}
	return lines, nil
}

func shellQuote(s string) string {
	if strings.IndexFunc(s, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && !strings.ContainsRune("@._+-:", r)
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// writeSums writes SHA256SUMS over every other file of dir, sorted by path,
// in sha256sum's format.
func writeSums(dir string) error {
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == BundleSums {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		lines = append(lines, hex.EncodeToString(h.Sum(nil))+"  "+rel)
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(lines, func(a, b string) int { return strings.Compare(a[66:], b[66:]) })
	return os.WriteFile(filepath.Join(dir, BundleSums), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

func bundleReadme(rep *Report, policies, signers, verifyLines []string, rebuilt bool) string {
	policyList := "(none kept)"
	if len(policies) > 0 {
		policyList = "policies/" + strings.Join(policies, ".policy, policies/") + ".policy"
	}
	signersList := "(none: no approval in this period names the key files it was verified against)"
	if len(signers) > 0 {
		signersList = strings.Join(signers, ", ")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Access evidence bundle: ledger %s\n\n", rep.Ledger.ID)
	fmt.Fprintf(&b, "Generated %s by `governed evidence` from %s. Outcome: %s.\n\n", stamp(rep.GeneratedAt), rep.Ledger.Location, verdictLine(rep))
	b.WriteString(`## What is here

| file | what |
| --- | --- |
| evidence.csv, evidence.json, evidence.md, evidence.html | One row per grant in the period: identity, authorisation, time bound, revocation, lateness and the three verdicts (authorised, time_bound, revoked_on_time) with the ledger events that prove each. evidence.json also maps columns to controls (SOC 2 CC6.2, CC6.3; ISO 27001:2022 A.5.18; NIST CSF 2.0 PR.AA-05; OWASP NHI1, NHI5, NHI7). |
| ledger/verification.txt | Whether the ledger's whole hash chain verified when the bundle was made, and its head; with --policy-sha256, --policy, --allowed-signers or --signers-sha256, what every decision and signed approval was held to. |
| checkpoint/checkpoint, checkpoint/verification.txt | With --checkpoint only: the signed checkpoint the ledger was checked against (a C2SP signed note), and the result. |
| policies/DIGEST.policy | Each policy document the grants were judged by; its SHA-256 is its name. |
| approvals/ID/statement.txt | The approval's statement: the exact text its approvers signed. |
| approvals/ID/APPROVER.sig | Each approver's SSH signature over the statement. |
| signers/DIGEST.allowed_signers, signers/DIGEST.revoked_keys | The allowed_signers files and revoked keys lists the ledger keeps, that the approvals' signatures were verified against when they were recorded; each approval.json names them (allowed_signers_sha256, revoked_keys_sha256) and their SHA-256 is their name. |
| approvals/ID/allowed_signers | Only for an approval recorded before the ledger kept its key files: the public keys that made its signatures, as the ledger recorded their fingerprints, one line per approver. |
| approvals/ID/approval.json | The approval record as the ledger holds it. |
| verify.sh | Steps 1 and 3 below in one script, and a check that each file in policies/ and signers/ is named by its SHA-256. |
| SHA256SUMS | The SHA-256 of every other file. |

## Re-verifying offline

Nothing here needs governed: sha256sum (GNU coreutils) and ssh-keygen (OpenSSH 8.9 or later, for verify-time).

1. Every file is as it was written:

       sha256sum -c SHA256SUMS

2. Each policy document is the one the evidence names: its SHA-256 is its file name and the policy_digest column.

       sha256sum policies/*.policy

   Kept in this bundle: ` + policyList + `.

   What you compare: these are the ledger's copies, and whoever could append to the ledger could have kept a
   policy of their own (an approver made an alias of another, a longer max_ttl, no signatures required) and named
   it in their decisions. Check that each digest is one your pipeline pinned with GOVERNED_POLICY_SHA256 over
   the period (the repository that holds the policy keeps its versions), or let governed hold every decision in
   the ledger to those, naming the first that names another:

       governed verify --ledger LEDGER --policy-sha256 DIGEST[,DIGEST...]
       governed verify --ledger LEDGER --policy YOUR_POLICY_FILE [--policy AN_EARLIER_VERSION]...

3. Each approval signature verifies over its statement, in the namespace governed-approval, with a key that the
   kept allowed_signers file lists for its approver at the instant the approval was recorded (verify-time), and
   that the kept revoked keys list does not revoke:

`)
	if len(verifyLines) == 0 {
		b.WriteString("       (no signed approvals in this period)\n")
	}
	for _, line := range verifyLines {
		b.WriteString("       " + line + "\n")
	}
	b.WriteString(`
   Each prints: Good "governed-approval" signature for APPROVER.

   What you compare: the key files are the ledger's copies, and whoever could write the ledger could have kept
   their own. Check that each is one your organisation published, from a place you trust (the repository that
   holds the policy, under review, or the pipeline's GOVERNED_SIGNERS_SHA256):

       sha256sum signers/*

   Kept in this bundle: ` + signersList + `. Or let governed hold every approval in the ledger to your own copy,
   naming the first event whose key it does not list for that approver, revokes or lists only at another time:

       governed verify --ledger LEDGER --allowed-signers YOUR_ALLOWED_SIGNERS [--revoked-keys YOUR_REVOKED_KEYS]
       governed verify --ledger LEDGER --signers-sha256 ALLOWED_SHA256[,REVOKED_SHA256]

`)
	if rebuilt {
		b.WriteString(`   Some approvals were recorded before the ledger kept its key files: their approvals/ID/allowed_signers are
   made from the fingerprints the ledger recorded, so they prove nothing about who may sign. Compare their keys with
   your organisation's allowed_signers file (ssh-keygen -lf FILE prints the fingerprints, which the signer_keys
   column lists too), or run governed verify --allowed-signers as above.

`)
	}
	b.WriteString(`4. The statement digest in the evidence is the statement's SHA-256:

       sha256sum approvals/*/statement.txt

5. The ledger extends the signed checkpoint: with the ledger itself and the checkpoint's verifier key,

       governed verify --ledger LEDGER --checkpoint checkpoint/checkpoint --checkpoint-key KEY

   where witnesses cosigned it, with their verifier keys, taken from the witnesses themselves:

       governed verify --ledger LEDGER --checkpoint checkpoint/checkpoint --checkpoint-key KEY --witness-key WITNESS_KEY

   and each grant's events, by the sequence numbers in the *_events columns:

       governed history --ledger LEDGER GRANT_ID
`)
	return b.String()
}
