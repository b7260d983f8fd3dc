package main

import (
	"flag"
	"log"

	"github.com/governed-entitlements/terraform-provider-governed/internal/provider"
)

// version is set by the release build.
var version = "dev"

func main() {
	var debug bool
	flag.BoolVar(&debug, "debug", false, "run the provider with support for debuggers such as delve")
	flag.Parse()

	if err := provider.Serve(provider.Address, provider.New(version), debug); err != nil {
		log.Fatal(err)
	}
}
