package argocdsim

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v2/server/rbacpolicy"
	"github.com/argoproj/argo-cd/v2/util/assets"
	"github.com/argoproj/argo-cd/v2/util/rbac"
	"github.com/argoproj/argo-cd/v2/util/security"
)

// Accounts and RBAC. A request's token names an account: Options.Token the
// admin, Options.Accounts the others. Once RBAC is on (Accounts,
// RBACPolicy or RBACDefaultRole set) every request is authorized by Argo
// CD's own enforcer, built as argocd-server builds it: the built-in policy
// (which binds admin to role:admin), argocd-rbac-cm's policy.csv and
// policy.default, glob matching, and server/rbacpolicy's claims enforcer.
// The claims are those argocd-server hands it for a local account's API
// token once parsed: sub is the account name, iat when the simulator
// started (the tokens are not JWTs; they were "issued" then). So a denial
// reads exactly as the real server's, e.g. "permission denied: logs, get,
// default/guestbook, sub: deploybot, iat: 2025-01-06T09:00:00Z".

// adminAccount is the account Options.Token logs in as.
const adminAccount = "admin"

// builtinPolicy3x is what Argo CD 3.x adds to the built-in policy of 2.14
// (assets/builtin-policy.csv): no simulated method checks it.
const builtinPolicy3x = "p, role:readonly, applicationsets, get, */*, allow\n"

// simClaims are the claims of a parsed local-account token. They satisfy
// jwt.Claims (Valid), which is what the enforcer and EnforceErr look for.
type simClaims struct {
	Sub string `json:"sub"`
	Iss string `json:"iss"`
	Iat int64  `json:"iat"`
	Nbf int64  `json:"nbf"`
}

// Valid makes simClaims a jwt.Claims (v4): the token was checked already.
func (simClaims) Valid() error { return nil }

type claimsKey struct{}

func withClaims(ctx context.Context, c simClaims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// claimsOf returns the request's claims; a request without (a method that
// needs no token) is the admin's only when RBAC is off.
func claimsOf(ctx context.Context) (simClaims, bool) {
	c, ok := ctx.Value(claimsKey{}).(simClaims)
	return c, ok
}

// username is who an operation is initiated by (session.Username).
func username(ctx context.Context) string {
	if c, ok := claimsOf(ctx); ok && c.Sub != "" {
		return c.Sub
	}
	return simUser
}

// accountFor returns the account of an API token, "" for none.
func (s *Server) accountFor(token string) string {
	if token == "" {
		return ""
	}
	return s.accounts[token]
}

// claimsFor are the claims of account's token.
func (s *Server) claimsFor(account string) simClaims {
	return simClaims{Sub: account, Iss: "argocd", Iat: s.issuedAt.Unix(), Nbf: s.issuedAt.Unix()}
}

// enforce asks the enforcer as argocd-server does (Enforce(claims, ...)).
func (s *Server) enforce(ctx context.Context, resource, action, object string) bool {
	if s.enf == nil {
		return true
	}
	c, ok := claimsOf(ctx)
	if !ok {
		return false
	}
	return s.enf.Enforce(c, resource, action, object)
}

// enforceErr is EnforceErr: nil, or PermissionDenied with the request and
// the caller's sub and iat in the message.
func (s *Server) enforceErr(ctx context.Context, resource, action, object string) error {
	if s.enf == nil {
		return nil
	}
	c, ok := claimsOf(ctx)
	if !ok {
		return errPermissionDenied
	}
	return s.enf.EnforceErr(c, resource, action, object)
}

// rbacName is Application.RBACName(argocd): <project>/<app>, or
// <project>/<namespace>/<app> for an app outside argocd.
func rbacName(project, namespace, name string) string {
	return security.RBACName(argocdNamespace, project, namespace, name)
}

// checksPodLogsRBAC reports whether PodLogs checks `logs, get`: from 3.0
// always, in 2.14 with server.rbac.log.enforce.enable (Options.LogsRBACEnforce).
func (s *Server) checksPodLogsRBAC() bool {
	return s.version.AtLeast(3, 0) || s.opts.LogsRBACEnforce
}

// setupAccounts fills s.accounts and builds the enforcer when RBAC is on.
func (s *Server) setupAccounts(opts Options) error {
	s.accounts = map[string]string{s.token: adminAccount}
	s.issuedAt = time.Now().UTC().Truncate(time.Second)
	tokens := make([]string, 0, len(opts.Accounts))
	for tok := range opts.Accounts {
		tokens = append(tokens, tok)
	}
	sort.Strings(tokens)
	for _, tok := range tokens {
		name := opts.Accounts[tok]
		switch {
		case tok == "":
			return fmt.Errorf("argocdsim: Accounts: account %q has an empty token", name)
		case tok == s.token:
			return fmt.Errorf("argocdsim: Accounts: account %q has the admin's token (Options.Token); give it its own", name)
		case name == "" || strings.ContainsAny(name, " \t\n,=:"):
			return fmt.Errorf("argocdsim: Accounts: %q is not an account name (a local account such as deploybot)", name)
		}
		s.accounts[tok] = name
	}
	if len(opts.Accounts) == 0 && opts.RBACPolicy == "" && opts.RBACDefaultRole == "" {
		return nil
	}
	enf := rbac.NewEnforcer(nil, argocdNamespace, "argocd-rbac-cm", nil)
	builtin := assets.BuiltinPolicyCSV
	if s.version.AtLeast(3, 0) {
		builtin += "\n" + builtinPolicy3x
	}
	if err := enf.SetBuiltinPolicy(builtin); err != nil {
		return fmt.Errorf("argocdsim: built-in RBAC policy: %w", err)
	}
	if err := rbac.ValidatePolicy(opts.RBACPolicy); err != nil {
		return fmt.Errorf("argocdsim: RBACPolicy: %w", err)
	}
	if err := enf.SetUserPolicy(opts.RBACPolicy); err != nil {
		return fmt.Errorf("argocdsim: RBACPolicy: %w", err)
	}
	enf.SetDefaultRole(opts.RBACDefaultRole)
	enf.SetMatchMode(rbac.GlobMatchMode)
	enf.SetClaimsEnforcerFunc(rbacpolicy.NewRBACPolicyEnforcer(enf, projectLister(seedProjects())).EnforceClaims)
	s.enf = enf
	return nil
}

// projectLister is the AppProject lister the claims enforcer consults for
// project roles. The projects are the seed's, which never change.
type projectLister map[string]*v1alpha1.AppProject

func (p projectLister) List(labels.Selector) ([]*v1alpha1.AppProject, error) {
	out := make([]*v1alpha1.AppProject, 0, len(p))
	for _, name := range sortedKeys(p) {
		out = append(out, p[name])
	}
	return out, nil
}

func (p projectLister) Get(name string) (*v1alpha1.AppProject, error) {
	if proj, ok := p[name]; ok {
		return proj, nil
	}
	return nil, errors.New("appproject " + name + " not found")
}

// ValidateRBACPolicy reports whether Argo CD accepts policy as
// argocd-rbac-cm's policy.csv (Options.RBACPolicy), as rbac.ValidatePolicy.
func ValidateRBACPolicy(policy string) error { return rbac.ValidatePolicy(policy) }
