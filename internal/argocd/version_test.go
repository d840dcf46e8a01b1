package argocd_test

import (
	"context"
	"testing"

	"github.com/deploybot/deploybot/internal/argocd"
	"github.com/deploybot/deploybot/internal/argocdsim"
)

func TestParseServerVersion(t *testing.T) {
	for _, tc := range []struct {
		in           string
		want         string
		enabledField bool
	}{
		{"v2.14.21+7a4e8e5", "2.14.21", false},
		{"v3.0.12+abc", "3.0.12", false},
		{"v3.1.0-rc1+abc", "3.1.0", true},
		{"v3.2.5", "3.2.5", true},
		{"4.0.0", "4.0.0", true},
	} {
		v, err := argocd.ParseServerVersion(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if v.String() != tc.want || v.Raw != tc.in || v.HasAutoSyncEnabled() != tc.enabledField {
			t.Errorf("%s = %s (raw %q), enabled field %v; want %s, %v", tc.in, v, v.Raw, v.HasAutoSyncEnabled(), tc.want, tc.enabledField)
		}
	}
	for _, bad := range []string{"", "latest", "v3", "v3.x.1"} {
		if _, err := argocd.ParseServerVersion(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestServerVersionOverBothTransports asks the simulator over gRPC and
// gRPC-Web, as deploybot does before choosing version-specific semantics.
func TestServerVersionOverBothTransports(t *testing.T) {
	addr, _ := startSim(t)
	want, err := argocd.ParseServerVersion(argocdsim.Version)
	if err != nil {
		t.Fatal(err)
	}
	for _, grpcWeb := range []bool{false, true} {
		c := newClient(t, "http://"+addr, grpcWeb)
		v, err := c.ServerVersion(context.Background())
		if err != nil {
			t.Fatalf("grpcWeb=%v: %v", grpcWeb, err)
		}
		if v != want {
			t.Errorf("grpcWeb=%v: %+v, want %+v", grpcWeb, v, want)
		}
	}
}
