package devenv

import (
	"bytes"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/internal/argocdsim"
	"github.com/deploybot/deploybot/internal/config"
)

// TestArgoCDVersion: the local simulator speaks 3.1 unless Options or
// ARGOCD_SIM_VERSION say otherwise (Options first).
func TestArgoCDVersion(t *testing.T) {
	env := func(kv map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
	}
	for _, tc := range []struct {
		opts Options
		env  map[string]string
		want string
	}{
		{Options{}, nil, "3.1"},
		{Options{}, map[string]string{"ARGOCD_SIM_VERSION": " 2.14 "}, "2.14"},
		{Options{}, map[string]string{"ARGOCD_SIM_VERSION": ""}, "3.1"},
		{Options{ArgoCDVersion: "3.0"}, map[string]string{"ARGOCD_SIM_VERSION": "2.14"}, "3.0"},
	} {
		if got := argoCDVersion(tc.opts, env(tc.env)); got != tc.want {
			t.Errorf("opts %q env %v: %q, want %q", tc.opts.ArgoCDVersion, tc.env, got, tc.want)
		}
	}
	v, err := argocdsim.ParseVersion(DefaultArgoCDVersion)
	if err != nil || !v.HasAutoSyncEnabled() {
		t.Fatalf("DefaultArgoCDVersion %q: %v, %v; want a release with automated.enabled", DefaultArgoCDVersion, v, err)
	}
}

// TestBannerShowsArgoCDVersion: the banner says which Argo CD the
// simulator speaks.
func TestBannerShowsArgoCDVersion(t *testing.T) {
	cfg := config.Default()
	var b bytes.Buffer
	printBanner(&b, URLs{ArgoCDSim: "http://localhost:8081", ArgoCDVersion: "v3.1.16+argocdsim"}, *cfg)
	if want := "Argo CD simulator  http://localhost:8081   (Argo CD v3.1.16+argocdsim: gRPC, gRPC-Web and REST on one port; token dev-token)"; !strings.Contains(b.String(), want) {
		t.Errorf("banner lacks %q:\n%s", want, b.String())
	}
}
