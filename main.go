package main

import (
	"flag"
	"log"
	"os"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6/tf6server"

	"github.com/governed-entitlements/terraform-provider-governed/internal/provider"
)

// version is set by the release build.
var version = "dev"

const address = "registry.terraform.io/governed-entitlements/governed"

func main() {
	var debug bool
	flag.BoolVar(&debug, "debug", false, "run the provider with support for debuggers such as delve")
	flag.Parse()

	quietUnreadLogs()
	server, err := provider.NewProtocol6Server(provider.New(version))()
	if err != nil {
		log.Fatal(err)
	}
	var opts []tf6server.ServeOpt
	if debug {
		opts = append(opts, tf6server.WithManagedDebug())
	}
	if err := tf6server.Serve(address, func() tfprotov6.ProviderServer { return server }, opts...); err != nil {
		log.Fatal(err)
	}
}

// quietUnreadLogs turns provider-side logging off when Terraform will discard
// it anyway: Terraform keeps provider logs only when TF_LOG or TF_LOG_PROVIDER
// is set, yet formatting the SDK's per-request trace lines costs about a third
// of a large plan. Any level set explicitly is left alone.
func quietUnreadLogs() {
	if os.Getenv("TF_LOG") != "" || os.Getenv("TF_LOG_PROVIDER") != "" {
		return
	}
	for _, name := range []string{"TF_LOG_PROVIDER", "TF_LOG_SDK", "TF_LOG_SDK_PROTO", "TF_LOG_SDK_FRAMEWORK"} {
		if os.Getenv(name) == "" {
			_ = os.Setenv(name, "off")
		}
	}
}
