package provider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"golang.org/x/mod/sumdb/note"

	"github.com/governed-entitlements/terraform-provider-governed/internal/checkpoint"
	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/pgurl"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// The pipeline's settings: environment variables that the pipeline running
// Terraform sets, and that the configuration under review cannot move. What
// the pipeline says outranks what the change says. GOVERNED_LEDGER is
// ledger.EnvLocation. Who runs the operation, recorded with every event the
// ledger appends, is GOVERNED_ACTOR (ledger.EnvActor) and GOVERNED_RUN_ID
// (ledger.EnvRunID), else what the CI system sets (ledger.ActorFallbacks,
// ledger.RunIDFallbacks); the ledger reads them when it is opened.
const (
	// EnvRequester names the pipeline's requester (in CI, the change's
	// author). It counts for separation of duties alongside every other
	// requester, and is the default when the provider block names none.
	EnvRequester = "GOVERNED_REQUESTER"
	// EnvPolicySHA256 pins the policy document by its SHA-256, in hex.
	EnvPolicySHA256 = "GOVERNED_POLICY_SHA256"
	// EnvSignersSHA256 pins the key files of the policy's
	// approval_signatures: the SHA-256 of the allowed_signers file, then,
	// where the policy names one, a comma and that of the revoked keys file.
	EnvSignersSHA256 = "GOVERNED_SIGNERS_SHA256"
	// EnvRevokeOnly, when true, makes a run that may only remove access.
	EnvRevokeOnly = "GOVERNED_REVOKE_ONLY"
	// EnvCheckpoint is the path of a signed checkpoint (governed checkpoint
	// sign) that the ledger must extend for anything to add access.
	EnvCheckpoint = "GOVERNED_CHECKPOINT"
	// EnvCheckpointKey is the verifier key of EnvCheckpoint: its text
	// (NAME+HASH+KEY) or the path of a file that holds it.
	EnvCheckpointKey = "GOVERNED_CHECKPOINT_KEY"
	// EnvCheckpointWitnessKeys names the verifier keys of the witnesses whose
	// cosignatures (governed checkpoint witness) EnvCheckpoint must carry: a
	// comma-separated list, each the path of a file that holds a key or the
	// key's text (NAME+HASH+KEY).
	EnvCheckpointWitnessKeys = "GOVERNED_CHECKPOINT_WITNESS_KEYS"
	// EnvCheckpointWitnesses is how many of those witnesses must have
	// cosigned, a decimal from 1 to their number; all of them when unset.
	EnvCheckpointWitnesses = "GOVERNED_CHECKPOINT_WITNESSES"
)

// pipelineWhose is how messages name the requester the pipeline sets.
const pipelineWhose = "the pipeline's"

// providerWhose is how messages name the provider block's requester.
const providerWhose = "the provider's"

// sha256Hex is the form of a pinned digest, as sha256sum prints it.
var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// pipeline is what the environment says, read when a provider instance is
// configured.
type pipeline struct {
	// ledger is GOVERNED_LEDGER; "" leaves the ledger to the configuration.
	ledger string
	// requester is GOVERNED_REQUESTER; "" when unset.
	requester string
	// policySHA256 and signersSHA256 are the pinned digests, lower case; empty
	// when not pinned.
	policySHA256  string
	signersSHA256 []string
	// revokeOnly makes every plan that would add access fail.
	revokeOnly bool
	// checkpoint is the path of the signed checkpoint the ledger must extend,
	// and checkpointKey the key its signature must verify with; "" and nil
	// when the pipeline sets none.
	checkpoint    string
	checkpointKey note.Verifier
	// checkpointProblem says what is wrong with the checkpoint settings
	// (one without the other, a key that cannot be read); "" when nothing
	// is. Like a ledger that does not extend its checkpoint, it refuses
	// what adds access and lets what removes access proceed: a lost or
	// mistyped secret must not keep expired access in force.
	checkpointProblem string

	// witnesses are the cosignatures the checkpoint must carry; none when
	// the pipeline names no witness keys.
	witnesses checkpoint.Witnesses
}

// readPipeline reads the pipeline's settings. A setting that is present but
// malformed is an error rather than ignored: a pipeline that meant to pin
// something must not run unpinned because of a typo.
func readPipeline() (pipeline, diag.Diagnostics) {
	var diags diag.Diagnostics
	p := pipeline{ledger: strings.TrimSpace(os.Getenv(ledger.EnvLocation))}

	if v, set := os.LookupEnv(EnvRequester); set {
		if strings.TrimSpace(v) == "" {
			addPipelineSettingError(&diags, EnvRequester, v, violationDetail(policy.Violation{
				Rule: policy.RuleRequesterBlank, Detail: EnvRequester + " is set but blank.",
			}))
		}
		p.requester = v
	}

	if v := strings.ToLower(strings.TrimSpace(os.Getenv(EnvPolicySHA256))); v != "" {
		if !sha256Hex.MatchString(v) {
			addPipelineSettingError(&diags, EnvPolicySHA256, v, "It must be the SHA-256 of the policy document in hex, "+
				"64 characters, as `sha256sum access-policy.hcl` prints it.")
		}
		p.policySHA256 = v
	}

	if v := strings.ToLower(strings.TrimSpace(os.Getenv(EnvSignersSHA256))); v != "" {
		parts := strings.Split(v, ",")
		ok := len(parts) <= 2
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
			ok = ok && sha256Hex.MatchString(parts[i])
		}
		if !ok {
			addPipelineSettingError(&diags, EnvSignersSHA256, v, "It must be the SHA-256 of the allowed_signers file in "+
				"hex, followed, where the policy names a revoked keys file, by a comma and the SHA-256 of that file.")
		}
		p.signersSHA256 = parts
	}

	if v := strings.TrimSpace(os.Getenv(EnvRevokeOnly)); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			addPipelineSettingError(&diags, EnvRevokeOnly, v, "Set it to 1 for a run that may only remove access, or "+
				"leave it unset.")
		}
		p.revokeOnly = on || err != nil // a run that meant to only remove access never adds any
	}

	p.checkpoint = strings.TrimSpace(os.Getenv(EnvCheckpoint))
	key := strings.TrimSpace(os.Getenv(EnvCheckpointKey))
	switch {
	case p.checkpoint != "" && key == "":
		p.checkpointProblem = fmt.Sprintf("The environment variable %s is set to %q, and %s, the verifier key "+
			"that the checkpoint's signature must verify with (as governed checkpoint keygen prints it), or a file "+
			"that holds it, is not set.", EnvCheckpoint, p.checkpoint, EnvCheckpointKey)
	case p.checkpoint == "" && key != "":
		p.checkpointProblem = fmt.Sprintf("The environment variable %s is set, and %s, the checkpoint it "+
			"verifies, is not: set both, or neither.", EnvCheckpointKey, EnvCheckpoint)
	case key != "":
		v, err := checkpoint.ParseVerifierKey(key)
		if err != nil {
			p.checkpointProblem = fmt.Sprintf("The environment variable %s is set to %s, which the provider "+
				"cannot use: %s", EnvCheckpointKey, shownKeys(key), sentence(err.Error()))
		}
		p.checkpointKey = v
	}
	readWitnesses(&p)
	return p, diags
}

// shownKeys is a key setting's value as a message quotes it: each
// comma-separated part that is a signer key, which must stay secret, is
// replaced by its name alone, so that a secret given by mistake where a
// verifier key belongs never reaches a plan's output or a CI log.
func shownKeys(value string) string {
	parts := strings.Split(value, ",")
	for i, part := range parts {
		parts[i] = shownKey(part)
	}
	return fmt.Sprintf("%q", strings.Join(parts, ","))
}

// shownKey is one key setting as a message shows it: a signer key by its
// name alone, anything else as given.
func shownKey(value string) string {
	if s, err := note.NewSigner(strings.TrimSpace(value)); err == nil {
		return "PRIVATE+KEY+" + s.Name() + "+… (a signer key, not shown)"
	}
	return value
}

// readWitnesses reads EnvCheckpointWitnessKeys and EnvCheckpointWitnesses.
// Settings it cannot use become the checkpoint's problem, as unusable
// checkpoint settings do: they refuse what adds access and let what removes
// access proceed.
func readWitnesses(p *pipeline) {
	problem := func(env, value, detail string) {
		if p.checkpointProblem == "" {
			p.checkpointProblem = fmt.Sprintf("The environment variable %s is set to %s, which the provider cannot use: %s",
				env, shownKeys(value), detail)
		}
	}
	keys := strings.TrimSpace(os.Getenv(EnvCheckpointWitnessKeys))
	threshold := strings.TrimSpace(os.Getenv(EnvCheckpointWitnesses))
	if keys == "" {
		if threshold != "" {
			problem(EnvCheckpointWitnesses, threshold, "It is how many of the witnesses in "+
				EnvCheckpointWitnessKeys+" must have cosigned the checkpoint, and that is not set: set both, or neither.")
		}
		return
	}
	if p.checkpoint == "" {
		problem(EnvCheckpointWitnessKeys, keys, "It names the witnesses whose cosignatures "+
			EnvCheckpoint+" must carry, and that is not set: set "+EnvCheckpoint+" and "+EnvCheckpointKey+" too.")
		return
	}
	for _, k := range strings.Split(keys, ",") {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		v, err := checkpoint.ParseVerifierKey(k)
		if err != nil {
			problem(EnvCheckpointWitnessKeys, keys, "The witness key "+shownKey(k)+": "+sentence(err.Error()))
			p.witnesses.Keys = append(p.witnesses.Keys, nil)
			continue
		}
		p.witnesses.Keys = append(p.witnesses.Keys, v)
	}
	p.witnesses.Threshold = len(p.witnesses.Keys)
	if threshold != "" {
		n, err := strconv.Atoi(threshold)
		if err != nil || n < 1 || n > len(p.witnesses.Keys) {
			problem(EnvCheckpointWitnesses, threshold, fmt.Sprintf("It must be how many of "+
				"the %d witnesses in %s must have cosigned the checkpoint: a number from 1 to %d.",
				len(p.witnesses.Keys), EnvCheckpointWitnessKeys, len(p.witnesses.Keys)))
			return
		}
		p.witnesses.Threshold = n
	}
	if p.checkpointProblem != "" {
		return
	}
	if err := p.witnesses.CheckKeys(p.checkpointKey); err != nil {
		problem(EnvCheckpointWitnessKeys, keys, sentence(err.Error()))
	}
}

// requesters returns every requester the provider instance knows of, for
// separation of duties: the provider block's and the pipeline's. def is the
// requester resources default to: the provider block's, else the pipeline's.
func (p pipeline) requesters(configured types.String, diags *diag.Diagnostics) (def string, all []policy.Requester) {
	own := configured.ValueString()
	if !configured.IsNull() && strings.TrimSpace(own) == "" {
		diags.AddAttributeError(path.Root("requester"), summaryInvalidRequester, violationDetail(policy.Violation{
			Rule: policy.RuleRequesterBlank, Detail: "The provider block's requester is blank.",
		}))
	}
	if strings.TrimSpace(own) != "" {
		all = append(all, policy.Requester{Identity: own, Whose: providerWhose})
	}
	if strings.TrimSpace(p.requester) != "" {
		all = append(all, policy.Requester{Identity: p.requester, Whose: pipelineWhose})
	}
	return firstNonEmpty(own, p.requester), all
}

// checkLedger refuses a provider block whose ledger is not the one the
// pipeline pins.
func (p pipeline) checkLedger(configured types.String, diags *diag.Diagnostics) {
	// The value as the ledger will be opened with it: only a blank one gives
	// way to the pipeline's (ledger.Resolve), so spaces around a path name
	// another file and are compared as they are.
	own := configured.ValueString()
	if p.ledger == "" || strings.TrimSpace(own) == "" || sameLedgerLocation(own, p.ledger) {
		return
	}
	addLedgerPinnedError(diags, pgurl.Redact(p.ledger), pgurl.Redact(own))
}

// checkPolicy refuses a policy document, given as attr, whose digest is not
// the one the pipeline pins.
func (p pipeline) checkPolicy(attr string, src []byte, diags *diag.Diagnostics) {
	if p.policySHA256 == "" {
		return
	}
	if got := policy.DocumentDigest(src); got != p.policySHA256 {
		addPolicyPinnedError(diags, attr, p.policySHA256, got)
	}
}

// checkSigners refuses a policy whose key files are not the ones the pipeline
// pins, and a pinned policy whose key files are not pinned: the keys an
// approval is verified with matter as much as the document that names them.
func (p pipeline) checkSigners(attr string, pol *policy.Policy, diags *diag.Diagnostics) {
	pinned := strings.Join(p.signersSHA256, ",")
	switch {
	case pol.Signers == nil && pinned != "":
		addSignersPinnedError(diags, attr, "The pipeline pins approval_signatures' key files with "+EnvSignersSHA256+
			", but this policy has no approval_signatures block, so approvals would count unsigned.")
	case pol.Signers == nil:
	case pinned == "" && p.policySHA256 != "":
		addSignersPinnedError(diags, attr, "The pipeline pins the policy with "+EnvPolicySHA256+" but not the key "+
			"files its approval_signatures block names, whose contents decide whose signature counts. Set "+
			EnvSignersSHA256+"="+pol.Signers.Pin()+" in the pipeline, having checked that these are the files you trust.")
	case pinned != "" && pinned != pol.Signers.Pin():
		addSignersPinnedError(diags, attr, "The pipeline pins approval_signatures' key files with "+EnvSignersSHA256+"="+
			pinned+", but their SHA-256 is "+pol.Signers.Pin()+" ("+signersFiles(pol.Signers)+").")
	}
}

// signersFiles names the key files, in the order their digests are pinned.
func signersFiles(s *policy.Signers) string {
	if s.RevokedKeysFile == "" {
		return s.AllowedSignersFile
	}
	return s.AllowedSignersFile + ", then " + s.RevokedKeysFile
}

// sameLedgerLocation reports whether two ledger locations name the same
// ledger: the same PostgreSQL URL once the password is left out
// (pgurl.Same), or the same SQLite file, whether written as PATH or
// sqlite:PATH, relative or absolute, or through a symbolic link.
func sameLedgerLocation(a, b string) bool {
	if a == b {
		return true
	}
	if pgurl.Is(a) || pgurl.Is(b) {
		return pgurl.Is(a) && pgurl.Is(b) && pgurl.Same(a, b)
	}
	if strings.Contains(a, "://") || strings.Contains(b, "://") {
		return false // not a location the ledger opens; only the same text is the same
	}
	pa, pb := sqlitePath(a), sqlitePath(b)
	if pa == pb {
		return true
	}
	ia, errA := os.Stat(pa)
	ib, errB := os.Stat(pb)
	return errA == nil && errB == nil && os.SameFile(ia, ib)
}

// sqlitePath is the file a SQLite location names, absolute and clean, its
// directory's symbolic links resolved where it exists.
func sqlitePath(location string) string {
	p := strings.TrimPrefix(location, "sqlite:")
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(p)); err == nil {
		p = filepath.Join(dir, filepath.Base(p))
	}
	return p
}

// mayAddAccess refuses, on a run that may only remove access, what would add
// access (what: "issue a grant of …", "record an approval of …").
func (d *providerData) mayAddAccess(diags *diag.Diagnostics, summary, what string) bool {
	if !d.revokeOnly {
		return true
	}
	addRevokeOnlyError(diags, summary, what)
	return false
}

// anchor checks that the ledger extends the pipeline's checkpoint. It
// returns "" when it does or when the pipeline sets none, else what is wrong:
// a checkpoint that cannot be read or whose signature does not verify, or a
// ledger that does not extend it. cp is the checkpoint when its signature
// verified, nil otherwise. The error is for failures to read the ledger.
func (p pipeline) anchor(ctx context.Context, l *ledger.Ledger) (problem string, cp *checkpoint.Checkpoint, err error) {
	if p.checkpointProblem != "" {
		return p.checkpointProblem, nil, nil
	}
	if p.checkpoint == "" || p.checkpointKey == nil {
		return "", nil, nil
	}
	c, cosigned, short, err := checkpoint.LoadCosigned(p.checkpoint, p.checkpointKey, p.witnesses)
	if err != nil {
		return sentence(err.Error()), nil, nil
	}
	problem, err = checkpoint.Check(ctx, l, c)
	if err != nil {
		return "", &c, err
	}
	if problem != "" {
		problem = fmt.Sprintf("The ledger does not extend the checkpoint %s (ledger %s, size %d): %s.", p.checkpoint,
			c.LedgerID, c.Size, problem)
	} else {
		// The witnesses' timestamps anchor the recording times: an event
		// appended after the checkpoint and dated before a witness saw it
		// was backdated.
		timeProblem, err := checkpoint.CheckAnchors(ctx, l, c, cosigned)
		if err != nil {
			return "", &c, err
		}
		if timeProblem != "" {
			problem = fmt.Sprintf("The ledger's recording times contradict the witnesses of the checkpoint %s: %s.", p.checkpoint, timeProblem)
		}
	}
	if short != "" {
		// A checkpoint short of its witnesses may be a fork its witnesses
		// refused to cosign: it anchors nothing.
		problem = strings.TrimSpace(sentence(short) + " Have the witnesses cosign it (governed checkpoint witness); " +
			"a witness that refuses has seen a ledger this one does not extend, a fork or a rollback, to investigate " +
			"before anything is granted. " + problem)
	}
	return problem, &c, nil
}

// checkpointKeyName is the name of the checkpoint's verifier key, "" without one.
func (p pipeline) checkpointKeyName() string {
	if p.checkpointKey == nil {
		return ""
	}
	return p.checkpointKey.Name()
}
