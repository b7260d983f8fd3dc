// Command profile is the provider binary with profiling switched on, for finding
// where the time and memory of scripts/bench.sh go. Build it in place of the
// provider (the dev_overrides directory must hold it under the provider's name):
//
//	go build -o DIR/terraform-provider-governed ./bench/profile
//	GOVERNED_PROFILE_DIR=/tmp/prof terraform plan
//
// Every provider process Terraform starts writes, when Terraform shuts it down,
// cpu-PID.pprof (the whole life of the process), heap-PID.pprof (the heap at
// exit, after a collection), goroutines-PID.txt (what is still running) and
// memstats-PID.txt, into GOVERNED_PROFILE_DIR.
// Without that variable it serves the provider as the released binary does,
// except that it leaves log levels as the environment sets them.
package main

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6/tf6server"

	"github.com/governed-entitlements/terraform-provider-governed/internal/provider"
)

func main() {
	dir := os.Getenv("GOVERNED_PROFILE_DIR")
	var stop func()
	if dir != "" {
		var err error
		if stop, err = startProfiles(dir); err != nil {
			log.Fatal(err)
		}
	}
	server, err := provider.NewProtocol6Server(provider.New("profile"))()
	if err == nil {
		err = tf6server.Serve("registry.terraform.io/governed-entitlements/governed",
			func() tfprotov6.ProviderServer { return server })
	}
	if stop != nil {
		stop()
	}
	if err != nil {
		log.Fatal(err.Error())
	}
}

// startProfiles starts the CPU profile and returns the function that ends it
// and writes the heap profile and memory statistics.
func startProfiles(dir string) (func(), error) {
	name := func(kind, ext string) string {
		return filepath.Join(dir, fmt.Sprintf("%s-%d.%s", kind, os.Getpid(), ext))
	}
	cpu, err := os.Create(name("cpu", "pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		cpu.Close()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		runtime.GC()
		if heap, err := os.Create(name("heap", "pprof")); err == nil {
			pprof.WriteHeapProfile(heap)
			heap.Close()
		}
		if g, err := os.Create(name("goroutines", "txt")); err == nil {
			pprof.Lookup("goroutine").WriteTo(g, 1)
			g.Close()
		}
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		stats := fmt.Sprintf("before GC: HeapAlloc=%d HeapInuse=%d HeapSys=%d Sys=%d NumGC=%d TotalAlloc=%d\n"+
			"after GC:  HeapAlloc=%d HeapInuse=%d HeapSys=%d Sys=%d\n",
			before.HeapAlloc, before.HeapInuse, before.HeapSys, before.Sys, before.NumGC, before.TotalAlloc,
			after.HeapAlloc, after.HeapInuse, after.HeapSys, after.Sys)
		os.WriteFile(name("memstats", "txt"), []byte(stats), 0o644)
	}, nil
}
