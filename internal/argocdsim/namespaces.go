package argocdsim

import (
	"sort"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v2/util/glob"
)

// Applications may live outside the argocd namespace ("apps in any
// namespace"): argocd-server serves those of the namespaces its
// --application-namespaces names (Options.AppNamespaces), and an app's
// project must list its namespace in spec.sourceNamespaces. An app is
// (namespace, name); the simulator keys it, in its state and in its call
// counters, by its name in the argocd namespace and by "namespace/name"
// elsewhere ("team-a/guestbook"). Kubernetes names never contain "/", so
// no app's key is another's.

// appKey is the key of the app name in namespace ns ("" = argocd).
func appKey(ns, name string) string {
	if ns == "" || ns == argocdNamespace {
		return name
	}
	return ns + "/" + name
}

// keyOf is the key of a seeded or stored app.
func keyOf(app *v1alpha1.Application) string { return appKey(app.Namespace, app.Name) }

// namespaceEnabled mirrors security.IsNamespaceEnabled: the argocd
// namespace, and those --application-namespaces matches (names, globs or
// /regular expressions/, as Argo CD's glob.REGEXP).
func (s *Server) namespaceEnabled(ns string) bool {
	return ns == argocdNamespace || glob.MatchStringInList(s.opts.AppNamespaces, ns, glob.REGEXP)
}

// informerSees reports whether argocd-server's Application informer holds
// apps of ns: it watches every namespace once any other is enabled, else
// only its own. Methods that read it find an app of a namespace that is not
// enabled then, as argocd-server does.
func (s *Server) informerSees(ns string) bool {
	return ns == argocdNamespace || len(s.opts.AppNamespaces) > 0
}

// namespacePermitted mirrors AppProject.IsAppNamespacePermitted.
func namespacePermitted(proj *v1alpha1.AppProject, app *v1alpha1.Application) bool {
	return proj.IsAppNamespacePermitted(app, argocdNamespace)
}

// appsByName returns the apps sorted as argocd-server's List sorts them,
// by name (ties, which it leaves unordered, by namespace).
func (s *Server) appsByName() []*simApp {
	out := make([]*simApp, 0, len(s.apps))
	for _, sa := range s.apps {
		out = append(out, sa)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].app, out[j].app
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Namespace < b.Namespace
	})
	return out
}

// appsByQualifiedName returns the apps sorted as Watch's first events are,
// by namespace/name.
func (s *Server) appsByQualifiedName() []*simApp {
	out := make([]*simApp, 0, len(s.apps))
	for _, sa := range s.apps {
		out = append(out, sa)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].app.QualifiedName() < out[j].app.QualifiedName() })
	return out
}
