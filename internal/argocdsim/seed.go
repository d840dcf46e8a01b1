package argocdsim

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/argoproj/gitops-engine/pkg/health"
	synccommon "github.com/argoproj/gitops-engine/pkg/sync/common"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
)

// Seed constants. Everything derived from them is deterministic so tests,
// docs and demos can rely on exact revisions and timestamps.
const (
	argocdNamespace = "argocd"
	inClusterServer = "https://kubernetes.default.svc"
	repoBase        = "https://github.com/deploybot-demo/"
	imageBase       = "ghcr.io/deploybot-demo/"
	simUser         = "admin"
)

// seedBase is the fixed origin of every seeded timestamp.
var seedBase = time.Date(2025, time.January, 6, 9, 0, 0, 0, time.UTC)

// param is one flattened Helm value (e.g. image.tag=v1.3.0).
type param struct{ name, value string }

// commit is one revision of an app's repository and what it would render.
type commit struct {
	sha      string
	index    int
	message  string
	author   string
	date     time.Time
	params   []param // Helm values (sorted by name); also used for plain manifests
	image    string  // full image reference
	replicas int
}

func (c *commit) value(name string) string {
	for _, p := range c.params {
		if p.name == name {
			return p.value
		}
	}
	return ""
}

// repoModel is a fake Git repository: an ordered list of commits, HEAD last.
type repoModel struct {
	url        string
	path       string
	helm       bool
	valueFiles []string
	commits    []*commit
}

func (r *repoModel) head() *commit { return r.commits[len(r.commits)-1] }

// resolve maps a targetRevision to a commit the way the repo server does for
// Git: symbolic refs resolve to HEAD, SHAs (full or ≥7-char prefix) to themselves.
func (r *repoModel) resolve(rev string) (*commit, error) {
	switch rev {
	case "", "HEAD", "main", "master":
		return r.head(), nil
	}
	if len(rev) >= 7 {
		for i := len(r.commits) - 1; i >= 0; i-- {
			if strings.HasPrefix(r.commits[i].sha, rev) {
				return r.commits[i], nil
			}
		}
	}
	return nil, fmt.Errorf("unable to resolve '%s' to a commit SHA", rev)
}

// appSeed describes one seeded application.
type appSeed struct {
	name         string
	namespace    string // the Application's namespace; "" = argocd
	project      string
	helm         bool
	deployments  int // successful deployments so far (history ids 0..deployments-1)
	historyLimit int // spec.revisionHistoryLimit (0 = Argo CD default of 10)
	behind       int // commits on HEAD not deployed yet (OutOfSync when > 0)
	automated    bool
	broken       bool // every operation ends with the Deployment Degraded
	labels       map[string]string
	values       func(i int) []param
	logs         logStyle
}

func sha(parts ...string) string {
	h := sha1.Sum([]byte(strings.Join(parts, "/")))
	return hex.EncodeToString(h[:])
}

func helmValues(app string, tag string, replicas int, extra ...param) []param {
	ps := append([]param{
		{"image.repository", imageBase + app},
		{"image.tag", tag},
		{"image.pullPolicy", "IfNotPresent"},
		{"replicaCount", strconv.Itoa(replicas)},
		{"service.type", "ClusterIP"},
		{"service.port", "80"},
	}, extra...)
	sort.Slice(ps, func(i, j int) bool { return ps[i].name < ps[j].name })
	return ps
}

var authors = []string{
	"Alice Anders <alice@example.com>",
	"Bob Brown <bob@example.com>",
	"Carol Chen <carol@example.com>",
}

// slug names what belongs to one seeded app alone (repository, commits,
// UIDs): the name in argocd, "namespace-name" elsewhere.
func (sd appSeed) slug() string {
	if sd.namespace == "" {
		return sd.name
	}
	return sd.namespace + "-" + sd.name
}

// teamNamespace holds the seeded app outside argocd: a second "guestbook",
// so that an app is (namespace, name). Argo CD serves it only where
// --application-namespaces enables the namespace (Options.AppNamespaces).
const teamNamespace = "team-a"

// seeds returns the demo apps listed in DESIGN.md, n generated ones, and
// team-a/guestbook.
func seeds(extra int) []appSeed {
	s := []appSeed{
		{
			name: "guestbook", project: "default", helm: true,
			deployments: 14, historyLimit: 20,
			labels: map[string]string{"team": "web", "env": "prod"},
			values: func(i int) []param {
				return helmValues("guestbook", fmt.Sprintf("v1.%d.0", i), 2+i%3,
					param{"resources.limits.memory", fmt.Sprintf("%dMi", 128+64*(i/5))},
					param{"ingress.enabled", strconv.FormatBool(i >= 6)},
					param{"ingress.host", "guestbook.example.com"})
			},
			logs: webLogs,
		},
		{
			name: "payments", project: "payments", helm: true,
			deployments: 7, automated: true,
			labels: map[string]string{"team": "payments", "env": "prod", "tier": "critical"},
			values: func(i int) []param {
				return helmValues("payments", fmt.Sprintf("v2.%d.%d", i/3, i%3), 2+i%2,
					param{"config.currency", "EUR"},
					param{"config.timeoutSeconds", strconv.Itoa(20 + 5*(i%3))})
			},
			logs: paymentLogs,
		},
		{
			name: "checkout", project: "payments", helm: true,
			deployments: 6, broken: true,
			labels: map[string]string{"team": "payments", "env": "prod"},
			values: func(i int) []param {
				return helmValues("checkout", fmt.Sprintf("v0.%d.0", 9+i), 2,
					param{"config.database", "checkout-db:5432"})
			},
			logs: paymentLogs,
		},
		{
			name: "frontend", project: "default", helm: true,
			deployments: 8, behind: 1,
			labels: map[string]string{"team": "web", "env": "prod"},
			values: func(i int) []param {
				return helmValues("frontend", fmt.Sprintf("v4.%d.0", i), 3,
					param{"config.apiURL", "https://api.example.com"},
					param{"config.featureFlags", fmt.Sprintf("new-cart=%t", i >= 8)})
			},
			logs: webLogs,
		},
		{
			name: "ledger", project: "payments", helm: true,
			deployments: 40, historyLimit: 30,
			labels: map[string]string{"team": "payments", "env": "prod"},
			values: func(i int) []param {
				return helmValues("ledger", fmt.Sprintf("v3.%d.%d", i/10, i%10), 2,
					param{"config.batchSize", strconv.Itoa(100 * (1 + i%4))})
			},
			logs: batchLogs,
		},
		{
			name: "search", project: "default", helm: false,
			deployments: 4,
			labels:      map[string]string{"team": "search", "env": "prod"},
			values: func(i int) []param {
				return []param{
					{"image", fmt.Sprintf("%ssearch:v0.%d.0", imageBase, i)},
					{"replicas", "2"},
				}
			},
			logs: batchLogs,
		},
	}
	for i := 1; i <= extra; i++ {
		name := fmt.Sprintf("app-%03d", i)
		s = append(s, appSeed{
			name: name, project: "default", helm: true, deployments: 3,
			labels: map[string]string{"team": "generated", "env": "dev"},
			values: func(i int) []param { return helmValues(name, fmt.Sprintf("v1.%d.0", i), 1) },
			logs:   webLogs,
		})
	}
	// Last, so the others keep their seeded times.
	return append(s, appSeed{
		name: "guestbook", namespace: teamNamespace, project: teamNamespace, helm: true, deployments: 3,
		labels: map[string]string{"team": teamNamespace, "env": "staging"},
		values: func(i int) []param {
			return helmValues("guestbook", fmt.Sprintf("v2.%d.0", i), 1, param{"ingress.host", "guestbook.team-a.example.com"})
		},
		logs: webLogs,
	})
}

// buildRepo creates the fake repository of a seed with deterministic commits.
func buildRepo(sd appSeed, appIdx int) *repoModel {
	r := &repoModel{url: repoBase + sd.slug() + ".git", helm: sd.helm}
	if sd.helm {
		r.path = "charts/" + sd.name
		r.valueFiles = []string{"values-production.yaml", "values.yaml"}
	} else {
		r.path = "manifests"
	}
	n := sd.deployments + sd.behind
	for i := 0; i < n; i++ {
		c := &commit{
			sha:    sha(sd.slug(), strconv.Itoa(i)),
			index:  i,
			author: authors[(i+appIdx)%len(authors)],
			date:   seedDeployedAt(appIdx, i).Add(-25 * time.Minute),
			params: sd.values(i),
		}
		if sd.helm {
			c.image = c.value("image.repository") + ":" + c.value("image.tag")
			c.replicas, _ = strconv.Atoi(c.value("replicaCount"))
			c.message = fmt.Sprintf("%s: release %s", sd.name, c.value("image.tag"))
		} else {
			c.image = c.value("image")
			c.replicas, _ = strconv.Atoi(c.value("replicas"))
			c.message = fmt.Sprintf("%s: deploy %s", sd.name, c.image[strings.LastIndex(c.image, ":")+1:])
		}
		r.commits = append(r.commits, c)
	}
	return r
}

// seedDeployedAt spaces seeded deployments ~1 day apart, offset per app.
func seedDeployedAt(appIdx, i int) time.Time {
	return seedBase.Add(time.Duration(i)*26*time.Hour + time.Duration(appIdx)*17*time.Minute)
}

func sourceFor(r *repoModel) v1alpha1.ApplicationSource {
	src := v1alpha1.ApplicationSource{RepoURL: r.url, Path: r.path, TargetRevision: "HEAD"}
	if r.helm {
		src.Helm = &v1alpha1.ApplicationSourceHelm{ValueFiles: []string{"values.yaml", "values-production.yaml"}}
	}
	return src
}

// newSimApp builds the seeded state of one app: spec, history and live state.
func newSimApp(sd appSeed, appIdx int) *simApp {
	repo := buildRepo(sd, appIdx)
	src := sourceFor(repo)
	ns, dest := argocdNamespace, sd.name
	if sd.namespace != "" {
		ns, dest = sd.namespace, sd.namespace
	}
	app := &v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{
			Name:              sd.name,
			Namespace:         ns,
			UID:               uid("Application", sd.slug()),
			CreationTimestamp: metav1.NewTime(seedBase.Add(-72 * time.Hour)),
			Labels:            copyMap(sd.labels),
			Annotations:       map[string]string{"deploybot.io/owner": "team-" + sd.labels["team"]},
			Finalizers:        []string{v1alpha1.ResourcesFinalizerName},
			Generation:        1,
		},
		Spec: v1alpha1.ApplicationSpec{
			Source:      src.DeepCopy(),
			Destination: v1alpha1.ApplicationDestination{Server: inClusterServer, Namespace: dest},
			Project:     sd.project,
			SyncPolicy: &v1alpha1.SyncPolicy{
				SyncOptions: v1alpha1.SyncOptions{"CreateNamespace=true"},
			},
		},
	}
	if sd.historyLimit > 0 {
		app.Spec.RevisionHistoryLimit = ptr.To(int64(sd.historyLimit))
	}
	if sd.automated {
		app.Spec.SyncPolicy.Automated = &v1alpha1.SyncPolicyAutomated{Prune: true, SelfHeal: true}
		app.Spec.SyncPolicy.SyncOptions = v1alpha1.SyncOptions{"CreateNamespace=true", "PruneLast=true", "ApplyOutOfSyncOnly=true"}
		app.Spec.SyncPolicy.Retry = &v1alpha1.RetryStrategy{
			Limit:   5,
			Backoff: &v1alpha1.Backoff{Duration: "5s", Factor: ptr.To(int64(2)), MaxDuration: "3m"},
		}
	}
	var last *v1alpha1.RevisionHistory
	for i := 0; i < sd.deployments; i++ {
		deployed := seedDeployedAt(appIdx, i)
		h := v1alpha1.RevisionHistory{
			ID:              int64(i),
			Revision:        repo.commits[i].sha,
			DeployedAt:      metav1.NewTime(deployed),
			DeployStartedAt: ptr.To(metav1.NewTime(deployed.Add(-42 * time.Second))),
			Source:          src,
			InitiatedBy:     v1alpha1.OperationInitiator{Username: simUser},
		}
		if sd.automated && i%2 == 1 {
			h.InitiatedBy = v1alpha1.OperationInitiator{Automated: true}
		}
		app.Status.History = append(app.Status.History, h)
		last = &app.Status.History[len(app.Status.History)-1]
	}
	app.Status.History = app.Status.History.Trunc(app.Spec.GetRevisionHistoryLimit())
	live := repo.commits[sd.deployments-1]
	app.Status.OperationState = &v1alpha1.OperationState{
		Operation: v1alpha1.Operation{
			Sync:        &v1alpha1.SyncOperation{Revision: live.sha, SyncOptions: app.Spec.SyncPolicy.SyncOptions},
			InitiatedBy: last.InitiatedBy,
		},
		Phase:      synccommon.OperationSucceeded,
		Message:    "successfully synced (all tasks run)",
		StartedAt:  *last.DeployStartedAt,
		FinishedAt: ptr.To(last.DeployedAt),
		SyncResult: &v1alpha1.SyncOperationResult{Revision: live.sha, Source: src},
	}
	sa := &simApp{
		app:        app,
		repo:       repo,
		seed:       sd,
		live:       live,
		liveSince:  last.DeployedAt.Time,
		health:     health.HealthStatusHealthy,
		reconciled: last.DeployedAt.Add(3 * time.Minute),
	}
	if sd.broken {
		sa.outcome = Outcome{Phase: synccommon.OperationSucceeded, Health: health.HealthStatusDegraded}
	}
	if r := app.Spec.SyncPolicy.Retry; r != nil {
		app.Status.OperationState.Operation.Retry = *r
	}
	app.Status.OperationState.SyncResult.Resources = sa.syncResults(live, synccommon.ResultCodeSynced)
	return sa
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// seedProjects returns the AppProjects the seeded apps live in.
func seedProjects() map[string]*v1alpha1.AppProject {
	out := map[string]*v1alpha1.AppProject{}
	for _, p := range []struct {
		name, desc       string
		sourceNamespaces []string // namespaces other than argocd its apps may live in
	}{
		{"default", "Default project", nil},
		{"payments", "Payments team applications", nil},
		{teamNamespace, "Team A's applications, in their own namespace", []string{teamNamespace}},
	} {
		out[p.name] = &v1alpha1.AppProject{
			ObjectMeta: metav1.ObjectMeta{
				Name: p.name, Namespace: argocdNamespace, UID: uid("AppProject", p.name),
				CreationTimestamp: metav1.NewTime(seedBase.Add(-96 * time.Hour)),
				ResourceVersion:   "1", Generation: 1,
			},
			Spec: v1alpha1.AppProjectSpec{
				Description:              p.desc,
				SourceRepos:              []string{"*"},
				Destinations:             []v1alpha1.ApplicationDestination{{Server: "*", Namespace: "*"}},
				ClusterResourceWhitelist: []metav1.GroupKind{{Group: "*", Kind: "*"}},
				SourceNamespaces:         p.sourceNamespaces,
			},
		}
	}
	return out
}
