package provider

import (
	"os"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// loadPolicy reads and parses the policy named by the provider configuration,
// and holds it, and the key files it names, to the pipeline's pins.
func loadPolicy(cfg providerModel, pipe pipeline) (*policy.Policy, diag.Diagnostics) {
	var diags diag.Diagnostics
	attr, name, src := "policy", "policy", []byte(cfg.Policy.ValueString())
	if !cfg.PolicyFile.IsNull() {
		attr, name = "policy_file", cfg.PolicyFile.ValueString()
		b, err := os.ReadFile(name)
		if err != nil {
			diags.AddAttributeError(path.Root(attr), "Unable to read the policy file",
				"The provider could not read the policy document "+name+": "+err.Error()+
					". Set policy_file to an existing, readable file (relative paths start at the working directory).")
			return nil, diags
		}
		src = b
	}
	// The pin first: a document the pipeline did not approve is refused as
	// such, whatever else is wrong with it.
	pipe.checkPolicy(attr, src, &diags)
	if diags.HasError() {
		return nil, diags
	}
	pol, err := policy.Parse(name, src)
	if err != nil {
		diags.AddAttributeError(path.Root(attr), "Invalid policy document",
			"The policy document does not parse or breaks a rule of its own format:\n\n"+err.Error()+
				"\n\nFix the document; nothing is planned against an invalid policy.")
		return nil, diags
	}
	pipe.checkSigners(attr, pol, &diags)
	if diags.HasError() {
		return nil, diags
	}
	return pol, diags
}
