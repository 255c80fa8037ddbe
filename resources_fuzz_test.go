package main

import (
	"strings"
	"testing"
)

// FuzzParseResources: an agent's --resources string parses without a
// panic; a refusal names the resource (the agent makes it a usage error,
// exit 2); what parses
// has no negative amount and no port range that ends before it begins.
func FuzzParseResources(f *testing.F) {
	f.Add("cpus=4,mem=8192,disk=20000,gpus=0,ports=[31000-32000,33000]")
	f.Add("cpus(analytics)=2;mem:1024")
	f.Add("ports=[2-1]")
	f.Add("cpus=-1")
	f.Fuzz(func(t *testing.T, s string) {
		res, _, reserved, err := parseResources(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "resource") {
				t.Fatalf("parseResources(%q): %q does not start by naming the resource", s, err)
			}
			return
		}
		if res.CPUs < 0 || res.Mem < 0 || res.Disk < 0 || res.GPUs < 0 {
			t.Fatalf("parseResources(%q) accepted a negative amount: %+v", s, res)
		}
		for _, r := range res.Ports {
			if r.End < r.Begin {
				t.Fatalf("parseResources(%q) accepted the port range %d-%d", s, r.Begin, r.End)
			}
		}
		for role, rr := range reserved {
			if rr.CPUs < 0 || rr.Mem < 0 {
				t.Fatalf("parseResources(%q) reserved a negative amount for %s: %+v", s, role, rr)
			}
		}
	})
}
