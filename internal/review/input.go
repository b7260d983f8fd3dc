package review

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	tfjson "github.com/hashicorp/terraform-json"
)

// Input is what a review reads: the JSON of a saved plan (`terraform show
// -json PLANFILE`), the machine-readable log of the `terraform plan -json`
// that made it, or both. A plan that Terraform refused leaves no plan file,
// only a log: its refusals come from the log.
type Input struct {
	// Plan is the saved plan, or nil when only a log was given.
	Plan *tfjson.Plan
	// Errored is the plan's own field of that name, and Reasons the
	// action_reason of each resource change by address, which terraform-json
	// does not decode.
	Errored bool
	Reasons map[string]string
	// Log holds the diagnostics and the change summary of the plan's log.
	Log *PlanLog
}

// PlanLog is what a review takes from the `terraform plan -json` log: every
// diagnostic, and whether a change summary was written (a plan that ran to
// the end writes one; a refused plan does not).
type PlanLog struct {
	Diagnostics []Diagnostic
	Summarised  bool
}

// Diagnostic is one "diagnostic" message of Terraform's machine-readable UI
// (https://developer.hashicorp.com/terraform/internals/machine-readable-ui).
// Address is the resource instance it concerns, when Terraform names one.
type Diagnostic struct {
	Severity string `json:"severity"`
	Summary  string `json:"summary"`
	Detail   string `json:"detail"`
	Address  string `json:"address"`
	Range    *struct {
		Filename string `json:"filename"`
		Start    struct {
			Line   int `json:"line"`
			Column int `json:"column"`
		} `json:"start"`
	} `json:"range"`
}

// ErrInput marks input that is not a plan or a plan log; the command exits 2
// on it.
var ErrInput = errors.New("unreadable input")

// ReadPlan decodes the JSON that `terraform show -json PLANFILE` prints. It
// fails (ErrInput) on anything else, a state's JSON included.
// It fills in.Plan, in.Errored and in.Reasons.
func (in *Input) ReadPlan(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInput, err)
	}
	var head struct {
		FormatVersion   string           `json:"format_version"`
		Errored         bool             `json:"errored"`
		Planned         *json.RawMessage `json:"planned_values"`
		Values          *json.RawMessage `json:"values"`
		ResourceChanges []struct {
			Address      string `json:"address"`
			ActionReason string `json:"action_reason"`
		} `json:"resource_changes"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return fmt.Errorf("%w: not JSON (want the output of terraform show -json PLANFILE): %v", ErrInput, err)
	}
	if head.FormatVersion == "" || head.Values != nil && head.Planned == nil {
		return fmt.Errorf("%w: not a plan's JSON (want the output of terraform show -json PLANFILE, "+
			"of a plan saved with terraform plan -out=PLANFILE)", ErrInput)
	}
	var p tfjson.Plan
	if err := json.Unmarshal(data, &p); err != nil {
		return fmt.Errorf("%w: %v", ErrInput, err)
	}
	in.Plan, in.Errored, in.Reasons = &p, head.Errored, map[string]string{}
	for _, rc := range head.ResourceChanges {
		if rc.ActionReason != "" {
			in.Reasons[rc.Address] = rc.ActionReason
		}
	}
	return nil
}

// ReadPlanLog reads the JSON lines that `terraform plan -json` prints into
// in.Log. Lines that are not JSON (a wrapper's own output) are skipped; a log
// without a single Terraform message is refused (ErrInput).
func (in *Input) ReadPlanLog(r io.Reader) error {
	log, err := readPlanLog(r)
	in.Log = log
	return err
}

func readPlanLog(r io.Reader) (*PlanLog, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	log := &PlanLog{}
	messages := 0
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var m struct {
			Type       string     `json:"type"`
			Diagnostic Diagnostic `json:"diagnostic"`
		}
		if json.Unmarshal(line, &m) != nil || m.Type == "" {
			continue
		}
		messages++
		switch m.Type {
		case "diagnostic":
			log.Diagnostics = append(log.Diagnostics, m.Diagnostic)
		case "change_summary":
			log.Summarised = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInput, err)
	}
	if messages == 0 {
		return nil, fmt.Errorf("%w: no Terraform messages (want the output of terraform plan -json)", ErrInput)
	}
	return log, nil
}

// rule returns the name of the policy rule a provider diagnostic names
// ("Rule ticket.pattern: …"), or "".
func (d Diagnostic) rule() string {
	rest, ok := strings.CutPrefix(d.Detail, "Rule ")
	if !ok {
		return ""
	}
	name, _, ok := strings.Cut(rest, ":")
	if !ok || strings.ContainsAny(name, " \n") {
		return ""
	}
	return name
}
