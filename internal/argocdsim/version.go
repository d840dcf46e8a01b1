package argocdsim

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/deploybot/deploybot/internal/argocd"
)

// Version is what the simulator reports in its default (2.14) mode.
const Version = "v2.14.21+argocdsim"

// release is an Argo CD release line the simulator models, with what its
// argocd-server reports in VersionService.Version. Tool versions are those
// the release's own build pins: Helm and Kustomize in hack/tool-versions.sh,
// kubectl as its Makefile reads it (k8s.io/client-go in go.mod), Jsonnet
// from go.mod.
type release struct {
	short, raw                        string
	helm, kustomize, kubectl, jsonnet string
}

// releases are the lines the simulator speaks, oldest first. "+argocdsim"
// takes the place of the git commit argocd-server puts there.
var releases = []release{
	{short: "2.14", raw: Version, helm: "v3.16.3", kustomize: "v5.4.3", kubectl: "v0.31.0", jsonnet: "v0.20.0"},
	{short: "3.0", raw: "v3.0.23+argocdsim", helm: "v3.17.1", kustomize: "v5.6.0", kubectl: "v0.32.2", jsonnet: "v0.20.0"},
	{short: "3.1", raw: "v3.1.16+argocdsim", helm: "v3.18.4", kustomize: "v5.7.0", kubectl: "v0.33.1", jsonnet: "v0.21.0"},
}

// AcceptedVersions names the values Options.Version takes, for messages.
const AcceptedVersions = `"2.14", "3.0", "3.1" or a release of those lines such as "v3.1.16" ("" = "2.14")`

// parseVersion maps Options.Version to the release it selects and the
// version the server reports.
func parseVersion(s string) (release, argocd.ServerVersion, error) {
	if s == "" {
		s = releases[0].short
	}
	for _, r := range releases {
		if s == r.short {
			v, err := argocd.ParseServerVersion(r.raw)
			return r, v, err
		}
	}
	bad := func(why string) error {
		return fmt.Errorf("argocdsim: Argo CD version %q %s; use %s", s, why, AcceptedVersions)
	}
	if !strings.HasPrefix(s, "v") {
		return release{}, argocd.ServerVersion{}, bad("is neither a release line nor a vMAJOR.MINOR.PATCH release")
	}
	v, err := argocd.ParseServerVersion(s)
	if err != nil {
		return release{}, argocd.ServerVersion{}, bad("is not vMAJOR.MINOR.PATCH")
	}
	for _, r := range releases {
		if fmt.Sprintf("%d.%d", v.Major, v.Minor) == r.short {
			return r, v, nil
		}
	}
	return release{}, argocd.ServerVersion{}, bad("is not a release line the simulator models")
}

// ParseVersion checks an Options.Version value and returns the version a
// simulator made with it reports.
func ParseVersion(s string) (argocd.ServerVersion, error) {
	_, v, err := parseVersion(s)
	return v, err
}

// Version is the Argo CD release the simulator reports and whose semantics
// it follows (Options.Version).
func (s *Server) Version() argocd.ServerVersion { return s.version }

// persistsResourceHealth reports whether the controller stores per-resource
// health on the Application: until 3.0, whose controller keeps it in the
// resource tree only (--persist-resource-health defaults to false).
func (s *Server) persistsResourceHealth() bool { return !s.version.AtLeast(3, 0) }

// gitTag is the tag a release build reports: the version without a suffix.
func gitTag(v argocd.ServerVersion) string {
	return fmt.Sprintf("v%d.%d.%d", v.Major, v.Minor, v.Patch)
}

// platform is what argocd-server's build reports as its platform.
func platform() string { return runtime.GOOS + "/" + runtime.GOARCH }
