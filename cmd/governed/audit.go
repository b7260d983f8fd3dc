package main

import (
	"flag"

	"github.com/governed-entitlements/terraform-provider-governed/internal/checkpoint"
)

// auditSynopsis is the synopsis of the flags verify and evidence share.
const auditSynopsis = "[--checkpoint F --checkpoint-key K [--witness-key W]... [--witnesses N]] " +
	signersSynopsis + " " + policyPinSynopsis

// auditFlags are the flags that say what verify and evidence hold the ledger
// to, from places the auditor trusts: a checkpoint and its witnesses, the
// organisation's key files, the pinned policies.
type auditFlags struct {
	cp *checkpointFlags
	wf *witnessFlags
	sf *signersFlags
	pf *policyPinFlags
}

// auditFlags defines the shared flags on fs; checkpointUsage says what the
// checkpoint is for.
func (c *command) auditFlags(fs *flag.FlagSet, checkpointUsage string) auditFlags {
	return auditFlags{cp: c.checkpointFlags(fs, checkpointUsage), wf: c.witnessFlags(fs), sf: c.signersFlags(fs), pf: c.policyPinFlags(fs)}
}

// validate checks the shared flags once fs is parsed: it sets c.trust and
// returns the witnesses, or the exit code of a usage error.
func (a auditFlags) validate(c *command, fs *flag.FlagSet) (checkpoint.Witnesses, int, bool) {
	var code int
	var ok bool
	if c.trust, code, ok = a.sf.trust(c, fs); !ok {
		return checkpoint.Witnesses{}, code, false
	}
	if code, ok := a.pf.pin(c, &c.trust); !ok {
		return checkpoint.Witnesses{}, code, false
	}
	if code, ok := a.cp.validate(c, fs); !ok {
		return checkpoint.Witnesses{}, code, false
	}
	return a.wf.parse(c, fs, a.cp)
}
