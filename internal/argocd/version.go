package argocd

import (
	"context"
	"fmt"
	"regexp"
	"strconv"

	"github.com/golang/protobuf/ptypes/empty"
)

// ServerVersion is the Argo CD release a server reports (VersionService).
// Semantics that changed between releases are chosen from it, because the
// v2 API types deploybot uses cannot see fields that newer servers add.
type ServerVersion struct {
	// Raw is what the server sent, e.g. "v3.1.2+1a2b3c4".
	Raw                 string
	Major, Minor, Patch int
}

var serverVersion = regexp.MustCompile(`^v?(\d+)\.(\d+)\.(\d+)`)

// ParseServerVersion reads "vMAJOR.MINOR.PATCH" with an optional
// pre-release or build suffix, as argocd-server reports it.
func ParseServerVersion(s string) (ServerVersion, error) {
	m := serverVersion.FindStringSubmatch(s)
	if m == nil {
		return ServerVersion{}, fmt.Errorf("argocd: server version %q is not vMAJOR.MINOR.PATCH (e.g. v3.1.2+1a2b3c4)", s)
	}
	v := ServerVersion{Raw: s}
	v.Major, _ = strconv.Atoi(m[1])
	v.Minor, _ = strconv.Atoi(m[2])
	v.Patch, _ = strconv.Atoi(m[3])
	return v, nil
}

// AtLeast reports whether v is major.minor or later.
func (v ServerVersion) AtLeast(major, minor int) bool {
	return v.Major > major || (v.Major == major && v.Minor >= minor)
}

// HasAutoSyncEnabled reports whether the server knows
// spec.syncPolicy.automated.enabled (Argo CD 3.1 and later), where
// `automated: {enabled: false}` means auto-sync is off with its settings kept.
func (v ServerVersion) HasAutoSyncEnabled() bool { return v.AtLeast(3, 1) }

func (v ServerVersion) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// ServerVersion asks the server which release it runs. The call needs no
// token in Argo CD, but sends it anyway like every call.
func (c *Client) ServerVersion(ctx context.Context) (ServerVersion, error) {
	vIf, done, err := open(ctx, c, opVersion, "", c.api.NewVersionClient)
	if err != nil {
		return ServerVersion{}, err
	}
	defer done()
	msg, err := vIf.Version(ctx, &empty.Empty{}, callOpts...)
	if err != nil {
		return ServerVersion{}, c.wrap(ctx, opVersion, "", err)
	}
	v, err := ParseServerVersion(msg.GetVersion())
	if err != nil {
		return ServerVersion{}, &Error{Kind: KindInvalidArgument, Op: opVersion, Message: err.Error()}
	}
	return v, nil
}
