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
// Without that variable it serves the provider as the released binary does.
// A profile it cannot write makes it exit with an error, on standard error.
package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"

	"github.com/governed-entitlements/terraform-provider-governed/internal/provider"
)

func main() {
	dir := os.Getenv("GOVERNED_PROFILE_DIR")
	var stop func() error
	if dir != "" {
		var err error
		if stop, err = startProfiles(dir); err != nil {
			log.Fatal(err)
		}
	}
	err := provider.Serve(provider.Address, provider.New("profile"), false)
	if stop != nil {
		err = errors.Join(err, stop())
	}
	if err != nil {
		log.Fatal(err.Error())
	}
}

// startProfiles starts the CPU profile and returns the function that ends it
// and writes the heap profile, the goroutines and the memory statistics.
func startProfiles(dir string) (func() error, error) {
	name := func(kind, ext string) string {
		return filepath.Join(dir, fmt.Sprintf("%s-%d.%s", kind, os.Getpid(), ext))
	}
	cpu, err := os.Create(name("cpu", "pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		return nil, errors.Join(err, cpu.Close())
	}
	return func() error {
		pprof.StopCPUProfile()
		errs := []error{cpu.Close()}
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		runtime.GC()
		errs = append(errs,
			writeFile(name("heap", "pprof"), pprof.WriteHeapProfile),
			writeFile(name("goroutines", "txt"), func(w io.Writer) error { return pprof.Lookup("goroutine").WriteTo(w, 1) }))
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		stats := fmt.Sprintf("before GC: HeapAlloc=%d HeapInuse=%d HeapSys=%d Sys=%d NumGC=%d TotalAlloc=%d\n"+
			"after GC:  HeapAlloc=%d HeapInuse=%d HeapSys=%d Sys=%d\n",
			before.HeapAlloc, before.HeapInuse, before.HeapSys, before.Sys, before.NumGC, before.TotalAlloc,
			after.HeapAlloc, after.HeapInuse, after.HeapSys, after.Sys)
		errs = append(errs, os.WriteFile(name("memstats", "txt"), []byte(stats), 0o644))
		return errors.Join(errs...)
	}, nil
}

// writeFile creates path and writes it with write.
func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	return errors.Join(write(f), f.Close())
}
