package review

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// WriteJSON writes the report as indented JSON (the Report type's fields).
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// WriteGitHub writes GitHub Actions workflow commands
// (https://docs.github.com/actions/reference/workflow-commands-for-github-actions):
// an error for what blocks, a warning for destroys, statements to sign and
// the plan's warnings, a notice for every grant that adds or ends access.
func (r *Report) WriteGitHub(w io.Writer) error {
	var b strings.Builder
	for _, f := range r.Refusals {
		title := f.Summary
		if f.Rule != "" {
			title += " (" + f.Rule + ")"
		}
		annotate(&b, "error", f.File, f.Line, f.Column, title, prefixed(f.Address, firstParagraph(f.Detail)))
	}
	refusedByLog := len(r.Refusals) > 0
	for i, s := range r.Blocking {
		if i == 0 && refusedByLog {
			continue // the first reason says the plan was refused: the refusals above are its errors
		}
		annotate(&b, "error", "", 0, 0, "Governed review: blocking", s)
	}
	for _, it := range r.Items {
		switch it.Class {
		case ClassNew, ClassRenewal, ClassNarrowing:
			if it.Type != TypeGrant {
				continue
			}
			annotate(&b, "notice", "", 0, 0, "Access: "+strings.ReplaceAll(it.Class, "_", " "), fmt.Sprintf(
				"%s: %s to %s, ticket %s, approvers %s, expires %s", it.Address, it.entitlementText(), it.Principal,
				it.Ticket, it.approversText(), it.expiryText()))
		case ClassExpired, ClassRevokedOutOfBand, ClassApprovalWithdrawn, ClassRemoved:
			annotate(&b, "notice", "", 0, 0, "Access ends: "+strings.ReplaceAll(it.Class, "_", " "), fmt.Sprintf(
				"%s: %s to %s (ticket %s)", it.Address, it.entitlementText(), it.Principal, it.Ticket))
		case ClassExpiringSoon:
			annotate(&b, "warning", "", 0, 0, "Grant expiring soon", fmt.Sprintf("%s: %s to %s expires %s",
				it.Address, it.entitlementText(), it.Principal, it.ExpiresAt))
		}
	}
	for _, d := range r.Destroys {
		annotate(&b, "warning", "", 0, 0, "Destroyed because a grant ends", fmt.Sprintf("%s, gated on %s", d.Address,
			strings.Join(d.Because, ", ")))
	}
	for _, s := range r.ToSign {
		annotate(&b, "warning", "", 0, 0, "Statement to sign", fmt.Sprintf("%s signs for %s (%s): %s", s.Approver,
			s.Address, s.File, s.Command))
	}
	for _, f := range r.Warnings {
		annotate(&b, "warning", f.File, f.Line, f.Column, f.Summary, prefixed(f.Address, firstParagraph(f.Detail)))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func prefixed(address, s string) string {
	if address == "" || strings.HasPrefix(address, "provider[") {
		return s
	}
	return address + ": " + s
}

func annotate(b *strings.Builder, level, file string, line, col int, title, message string) {
	b.WriteString("::" + level)
	var props []string
	if file != "" {
		props = append(props, "file="+escapeProperty(file))
		if line > 0 {
			props = append(props, fmt.Sprintf("line=%d", line))
		}
		if col > 0 {
			props = append(props, fmt.Sprintf("col=%d", col))
		}
	}
	props = append(props, "title="+escapeProperty(title))
	b.WriteString(" " + strings.Join(props, ","))
	b.WriteString("::" + escapeData(message) + "\n")
}

// escapeData and escapeProperty encode as the runner's toolkit does, so that
// a value from the plan cannot end an annotation or start another command.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// SARIF 2.1.0 (https://docs.oasis-open.org/sarif/sarif/v2.1.0/), the subset
// GitHub code scanning reads.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID               string       `json:"id"`
	ShortDescription sarifMessage `json:"shortDescription"`
	Help             sarifMessage `json:"help"`
}

type sarifMessage struct {
	Text string `json:"text"`
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	Level     string          `json:"level"`
	Message   sarifMessage    `json:"message"`
	Locations []sarifLocation `json:"locations,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
}

type sarifLogical struct {
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

// Rule ids of findings that are not a policy rule.
const (
	sarifPlanError   = "governed.plan_error"   // an error of the plan that names no rule
	sarifBlocking    = "governed.blocking"     // something else that blocks (errored or incomplete plan)
	sarifToSign      = "governed.to_sign"      // a statement an approver still has to sign
	sarifGatedDelete = "governed.gated_delete" // a resource destroyed because a grant ends
)

// WriteSARIF writes the findings as SARIF 2.1.0 for code scanning: refusals
// (at the configuration's file and line), what else blocks, statements to
// sign and gated destroys. Grants that pass are not findings.
func (r *Report) WriteSARIF(w io.Writer) error {
	rules := map[string]sarifRule{}
	addRule := func(id, short, help string) {
		if _, ok := rules[id]; !ok {
			rules[id] = sarifRule{ID: id, ShortDescription: sarifMessage{short}, Help: sarifMessage{help}}
		}
	}
	byName := map[string]policy.Rule{}
	for _, p := range policy.Rules {
		byName[p.Name] = p
	}
	results := []sarifResult{}
	for _, f := range r.Refusals {
		id := sarifPlanError
		if p, ok := byName[f.Rule]; ok {
			id = p.Name
			addRule(id, p.Summary, p.Fix)
		} else {
			addRule(id, "The plan failed with an error that names no policy rule.", "Fix the error the plan reports.")
		}
		res := sarifResult{RuleID: id, Level: "error", Message: sarifMessage{prefixed(f.Address, f.Summary+": "+firstParagraph(f.Detail))}}
		res.Locations = location(f.File, f.Line, f.Column, f.Address)
		results = append(results, res)
	}
	for i, s := range r.Blocking {
		if i == 0 && len(r.Refusals) > 0 {
			continue
		}
		addRule(sarifBlocking, "Something in the plan blocks the change.", "Resolve what the message says and plan again.")
		results = append(results, sarifResult{RuleID: sarifBlocking, Level: "error", Message: sarifMessage{s}})
	}
	for _, s := range r.ToSign {
		addRule(sarifToSign, "An approver has not signed the approval's statement yet.", policy.RuleSignatureMissing.Fix)
		results = append(results, sarifResult{RuleID: sarifToSign, Level: "warning", Message: sarifMessage{fmt.Sprintf(
			"%s signs for %s, writing %s: %s", s.Approver, s.Address, s.File, s.Command)}, Locations: location(s.Config, s.Line, 0, s.Address)})
	}
	for _, d := range r.Destroys {
		addRule(sarifGatedDelete, "A resource gated on a grant is destroyed because the grant ends.", "Nothing to do if the access is meant to end; renew the grant under a new approval otherwise.")
		results = append(results, sarifResult{RuleID: sarifGatedDelete, Level: "note", Message: sarifMessage{fmt.Sprintf(
			"%s is destroyed because %s ends", d.Address, strings.Join(d.Because, ", "))}, Locations: location("", 0, 0, d.Address)})
	}
	ids := make([]string, 0, len(rules))
	for id := range rules {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	driver := sarifDriver{Name: "governed review", InformationURI: "https://registry.terraform.io/providers/governed-entitlements/governed/latest/docs/guides/reviewing-grants",
		Rules: []sarifRule{}}
	for _, id := range ids {
		driver.Rules = append(driver.Rules, rules[id])
	}
	log := sarifLog{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0",
		Runs: []sarifRun{{Tool: sarifTool{Driver: driver}, Results: results}}}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(log)
}

func location(file string, line, col int, address string) []sarifLocation {
	var loc sarifLocation
	if file != "" {
		loc.PhysicalLocation = &sarifPhysical{ArtifactLocation: sarifArtifact{URI: file}}
		if line > 0 {
			loc.PhysicalLocation.Region = &sarifRegion{StartLine: line, StartColumn: col}
		}
	}
	if address != "" && !strings.HasPrefix(address, "provider[") {
		loc.LogicalLocations = []sarifLogical{{FullyQualifiedName: address, Kind: "resource"}}
	}
	if loc.PhysicalLocation == nil && loc.LogicalLocations == nil {
		return nil
	}
	return []sarifLocation{loc}
}
