package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"chefdeploy/loadtest"
)

// profile saves a heap profile, a CPU profile of most of the run, a heap
// profile and a 3 s execution trace at its end, from the replica's
// PPROF_ADDR into dir.
func profile(ctx context.Context, r *loadtest.Process, dir string, run time.Duration, stdout io.Writer) {
	base := "http://" + r.PprofAddr + "/debug/pprof/"
	save := func(name, path string, timeout time.Duration) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, "GET", base+path, nil)
		if err != nil {
			return
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Fprintln(stdout, "profile:", err)
			return
		}
		defer res.Body.Close()
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			fmt.Fprintln(stdout, "profile:", err)
			return
		}
		defer f.Close()
		if _, err := io.Copy(f, res.Body); err != nil {
			fmt.Fprintln(stdout, "profile:", err)
		}
	}
	seconds := max(1, int((run - 10*time.Second).Seconds()))
	save("heap-start.pprof", "heap", 10*time.Second)
	save("cpu.pprof", fmt.Sprintf("profile?seconds=%d", seconds), time.Duration(seconds+10)*time.Second)
	save("heap-end.pprof", "heap", 10*time.Second)
	// An execution trace of the end of the run: where requests waited
	// (go tool trace -pprof=sched trace.out; -pprof=sync; -pprof=net).
	save("trace.out", "trace?seconds=3", 15*time.Second)
	save("goroutines.txt", "goroutine?debug=1", 10*time.Second)
	fmt.Fprintf(stdout, "profiles of %s saved in %s (go tool pprof %s)\n", r.Name, dir, filepath.Join(dir, "cpu.pprof"))
}

// profileSelf records this load tool's own CPU profile (its browsers and
// the sandbox) into path until stop is called, and then writes its heap
// profile (what it holds, and what it allocated: what sets how often its
// collector runs) beside it as load-heap.pprof.
func profileSelf(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		if h, err := os.Create(filepath.Join(filepath.Dir(path), "load-heap.pprof")); err == nil {
			pprof.Lookup("heap").WriteTo(h, 0)
			h.Close()
		}
	}, nil
}
