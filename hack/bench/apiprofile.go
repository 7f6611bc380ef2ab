package main

import (
	"context"
	"os"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// apiProfile fetches a CPU profile of the kube-apiserver (its own
// /debug/pprof, which the control plane's admin may read) for seconds and
// writes it to path. It runs in the background; failures are reported, not
// fatal, since the profile only explains the figures.
func (b *bench) apiProfile(ctx context.Context, path string, seconds int) {
	go func() {
		rc, err := rest.RESTClientFor(apiProfileConfig(b.env.Config))
		if err != nil {
			progress("kube-apiserver profile: %v", err)
			return
		}
		raw, err := rc.Get().AbsPath("/debug/pprof/profile").Param("seconds", strconv.Itoa(seconds)).
			Timeout(time.Duration(seconds+30) * time.Second).DoRaw(ctx)
		if err != nil {
			progress("kube-apiserver profile: %v", err)
			return
		}
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			progress("kube-apiserver profile: %v", err)
			return
		}
		progress("kube-apiserver CPU profile (%d s) written to %s", seconds, path)
	}()
}

func apiProfileConfig(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &schema.GroupVersion{}
	c.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	c.Timeout = 0
	return c
}
