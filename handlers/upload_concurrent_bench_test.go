package handlers_test

import (
	"sync"
	"testing"
	"time"

	"chefdeploy/handlers/webtest"
	"chefdeploy/sandbox"
)

// concurrentDeploys is how many 60 MB deploys BenchmarkConcurrentDeploys
// sends at once, each to its own app.
const concurrentDeploys = 8

// BenchmarkConcurrentDeploys measures the product's peak memory (VmHWM,
// reset just before) while 8 deploys of 60 MB bundles, to 8 apps, are
// posted at once and go live: against a separate Convex (the sandbox in the
// test process), and in sandbox mode, where the product also receives the
// uploads as Convex hosting.
func BenchmarkConcurrentDeploys(b *testing.B) {
	b.Run("separate-convex", func(b *testing.B) {
		addr := webtest.FreeAddr(b)
		_, sandboxURL := startDeploySandbox(b, "http://"+addr)
		benchConcurrentDeploys(b, startProductProcess(b, sandboxURL, addr), sandboxURL)
	})
	b.Run("sandbox-mode", func(b *testing.B) {
		product := startProductProcess(b, "", "")
		benchConcurrentDeploys(b, product, product.url+"/sandbox")
	})
}

func benchConcurrentDeploys(b *testing.B, product *productProcess, sandboxURL string) {
	c := webtest.Browser(b)
	webtest.Login(b, c, product.url, sandboxURL+"/oidc/authorize", sandbox.UserGrace)
	apps := make([]string, concurrentDeploys)
	for i := range apps {
		apps[i] = product.connectedApp(b, c, sandbox.TeamHopperLabs)
	}
	forms := make([][]byte, concurrentDeploys)
	types := make([]string, concurrentDeploys)
	for i := range forms {
		forms[i], types[i] = multipartBundle(b, randomSiteZip(b, 60_000_000))
	}
	for b.Loop() {
		if err := product.resetPeak(); err != nil {
			b.Fatalf("resetting VmHWM: %v", err)
		}
		before := product.memKiB(b, "VmRSS")
		start := time.Now()
		var wg sync.WaitGroup
		ids := make([]string, concurrentDeploys)
		for i := range apps {
			wg.Go(func() { ids[i] = product.upload(b, c, apps[i], forms[i], types[i]) })
		}
		wg.Wait()
		for i := range apps {
			product.waitLive(b, c, apps[i], ids[i])
		}
		peak := product.memKiB(b, "VmHWM")
		b.Logf("%d concurrent 60 MB deploys live in %v: VmRSS before %.1f MiB, peak %.1f MiB (+%.1f MiB)",
			concurrentDeploys, time.Since(start).Round(time.Millisecond), float64(before)/1024, float64(peak)/1024, float64(peak-before)/1024)
	}
}
