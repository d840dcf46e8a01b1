package argocd_test

import (
	"os"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/deploybot/deploybot/internal/argocd"
	"github.com/deploybot/deploybot/internal/argocdsim"
)

// policyWithoutLogs is deploy/argocd/policy.csv without its `logs, get`
// rule: a policy written for Argo CD 2.x.
func policyWithoutLogs(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../deploy/argocd/policy.csv")
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, " logs, get,") || strings.HasPrefix(line, "#") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

// TestPodLogsWithoutLogsRBAC: an Argo CD 3.0+ server refuses PodLogs to an
// account without `logs, get`; the client reports KindPermissionDenied, not
// retryable, with Argo CD's message naming the missing permission. 2.14
// serves the same account.
func TestPodLogsWithoutLogsRBAC(t *testing.T) {
	const botToken = "bot-token"
	for _, tr := range transports {
		for _, version := range []string{"2.14", "3.0", "3.1"} {
			t.Run(tr.name+"/"+version, func(t *testing.T) {
				t.Parallel()
				addr, _ := startSim(t, func(o *argocdsim.Options) {
					o.Version = version
					o.Accounts = map[string]string{botToken: "deploybot"}
					o.RBACPolicy = policyWithoutLogs(t)
				})
				c := newClient(t, "http://"+addr, tr.grpcWeb, func(o *argocd.Options) { o.Token = botToken })
				logs, err := c.PodLogs(ctxT(t), "guestbook", 5)
				if version == "2.14" {
					if err != nil || len(logs) == 0 {
						t.Fatalf("2.14 PodLogs: %d pods, %v", len(logs), err)
					}
					return
				}
				e := wantKind(t, err, argocd.ErrPermissionDenied)
				if e.Code != codes.PermissionDenied || e.Retryable() || e.App != "guestbook" {
					t.Fatalf("PodLogs error: %+v", e)
				}
				if want := "permission denied: logs, get, default/guestbook, sub: deploybot, iat: "; !strings.HasPrefix(e.Message, want) {
					t.Fatalf("Message %q, want Argo CD's %q...", e.Message, want)
				}
				if !strings.Contains(e.Error(), e.Message) {
					t.Fatalf("Error() %q lacks Argo CD's message", e.Error())
				}
				// The hint names the permission 3.0 added, not only applications get.
				if !strings.Contains(e.Error(), "p, role:deploybot, logs, get, */*, allow") {
					t.Fatalf("Error() %q does not say how to grant `logs, get`", e.Error())
				}
				// The rest of what deploybot reads still works for this account.
				if _, err := c.GetApp(ctxT(t), "guestbook"); err != nil {
					t.Fatalf("GetApp: %v", err)
				}
			})
		}
	}
}
