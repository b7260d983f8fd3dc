package provider

import (
	"maps"
	"testing"
)

// TestProviderLogLevels: every provider-side logger is set to the level
// Terraform keeps of the provider's logs (TF_LOG_PROVIDER, else TF_LOG, read
// as Terraform reads them), or to its own where that is less verbose.
func TestProviderLogLevels(t *testing.T) {
	t.Parallel()
	all := func(level string) map[string]string {
		return map[string]string{"TF_LOG_SDK": level, "TF_LOG_SDK_PROTO": level, "TF_LOG_SDK_FRAMEWORK": level, "TF_LOG_PROVIDER_GOVERNED": level}
	}
	with := func(m map[string]string, k, v string) map[string]string {
		m = maps.Clone(m)
		m[k] = v
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		want map[string]string
	}{
		{"nothing set: Terraform keeps nothing", nil, all("OFF")},
		{"TF_LOG=WARN", map[string]string{"TF_LOG": "WARN"}, all("WARN")},
		{"lower case", map[string]string{"TF_LOG": "debug"}, all("DEBUG")},
		{"TF_LOG=JSON is TRACE", map[string]string{"TF_LOG": "JSON"}, all("TRACE")},
		{"an unknown level is TRACE", map[string]string{"TF_LOG": "verbose"}, all("TRACE")},
		{"TF_LOG_PROVIDER wins over TF_LOG", map[string]string{"TF_LOG": "TRACE", "TF_LOG_PROVIDER": "ERROR"}, all("ERROR")},
		{"TF_LOG_PROVIDER alone", map[string]string{"TF_LOG_PROVIDER": "INFO"}, all("INFO")},
		{"TF_LOG_CORE does not reach providers", map[string]string{"TF_LOG_CORE": "TRACE"}, all("OFF")},
		{"an own level less verbose stays", map[string]string{"TF_LOG": "TRACE", "TF_LOG_SDK_PROTO": "ERROR"},
			with(all("TRACE"), "TF_LOG_SDK_PROTO", "ERROR")},
		{"an own level more verbose than kept is raised", map[string]string{"TF_LOG": "WARN", "TF_LOG_SDK_FRAMEWORK": "TRACE"}, all("WARN")},
		{"an own OFF stays", map[string]string{"TF_LOG": "DEBUG", "TF_LOG_PROVIDER_GOVERNED": "off"},
			with(all("DEBUG"), "TF_LOG_PROVIDER_GOVERNED", "OFF")},
		{"an own level the loggers cannot read counts as TRACE", map[string]string{"TF_LOG": "INFO", "TF_LOG_SDK": "loud"}, all("INFO")},
	}
	for _, tt := range tests {
		got := providerLogLevels(Address, func(k string) string { return tt.env[k] })
		if !maps.Equal(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}
