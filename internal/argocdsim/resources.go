package argocdsim

import (
	"crypto/sha1"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/argoproj/gitops-engine/pkg/health"
	synccommon "github.com/argoproj/gitops-engine/pkg/sync/common"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
)

func sortStrings(s []string) { slices.Sort(s) }

// uid derives a stable Kubernetes-style UID.
func uid(parts ...string) types.UID {
	h := sha(parts...)
	return types.UID(h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32])
}

// k8sSafe mirrors the alphabet Kubernetes uses for generated name suffixes.
const k8sSafe = "bcdfghjklmnpqrstvwxz2456789"

func suffix(n int, parts ...string) string {
	h := sha1.Sum([]byte(fmt.Sprint(parts)))
	out := make([]byte, n)
	for i := range out {
		out[i] = k8sSafe[int(h[i])%len(k8sSafe)]
	}
	return string(out)
}

// targetCommit resolves the app's spec source like the repo server would.
func (sa *simApp) targetCommit() (*commit, error) {
	src := sa.app.Spec.Source
	if src == nil || src.RepoURL != sa.repo.url {
		return nil, fmt.Errorf("repository not found")
	}
	if src.Path != sa.repo.path {
		return nil, fmt.Errorf("%s: app path does not exist", src.Path)
	}
	return sa.repo.resolve(src.TargetRevision)
}

// recompute derives the status fields a controller reconcile would write.
// Without persistHealth (Argo CD 3.0+) per-resource health is left out of
// status.resources, which then says it lives in the resource tree.
func (sa *simApp) recompute(persistHealth bool) {
	a := sa.app
	st := &a.Status
	target, err := sa.targetCommit()
	syncCode := v1alpha1.SyncStatusCodeSynced
	st.Conditions = nil
	switch {
	case err != nil:
		syncCode = v1alpha1.SyncStatusCodeUnknown
		st.Conditions = []v1alpha1.ApplicationCondition{{
			Type:               v1alpha1.ApplicationConditionComparisonError,
			Message:            "Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = " + err.Error(),
			LastTransitionTime: &metav1.Time{Time: sa.reconciled},
		}}
	case target != sa.live:
		syncCode = v1alpha1.SyncStatusCodeOutOfSync
	}
	st.Sync = v1alpha1.SyncStatus{
		Status:     syncCode,
		ComparedTo: v1alpha1.ComparedTo{Destination: a.Spec.Destination},
		Revision:   sa.live.sha,
	}
	if a.Spec.Source != nil {
		st.Sync.ComparedTo.Source = *a.Spec.Source.DeepCopy()
	}
	st.Health = v1alpha1.HealthStatus{Status: sa.health}
	st.Resources = nil
	st.ResourceHealthSource = v1alpha1.ResourceHealthLocationInline
	if !persistHealth {
		st.ResourceHealthSource = v1alpha1.ResourceHealthLocationAppTree
	}
	for _, n := range sa.managedNodes() {
		code := v1alpha1.SyncStatusCodeSynced
		if n.Kind == "Deployment" && syncCode != v1alpha1.SyncStatusCodeSynced {
			code = syncCode
		}
		rs := v1alpha1.ResourceStatus{
			Group: n.Group, Version: n.Version, Kind: n.Kind, Namespace: n.Namespace, Name: n.Name,
			Status: code,
		}
		if persistHealth {
			rs.Health = n.Health.DeepCopy()
		}
		st.Resources = append(st.Resources, rs)
	}
	st.Summary = v1alpha1.ApplicationSummary{Images: []string{sa.live.image}}
	if sa.repo.helm {
		st.SourceType = v1alpha1.ApplicationSourceTypeHelm
	} else {
		st.SourceType = v1alpha1.ApplicationSourceTypeDirectory
	}
	st.ReconciledAt = &metav1.Time{Time: sa.reconciled}
	st.ControllerNamespace = argocdNamespace
}

// inferResourcesHealth mirrors argocd-server's inferResourcesStatusHealth
// (3.0+, used by Get and Watch): when health lives in the resource tree,
// each status.resources entry gets its tree node's health.
func (sa *simApp) inferResourcesHealth(app *v1alpha1.Application) {
	if app.Status.ResourceHealthSource != v1alpha1.ResourceHealthLocationAppTree {
		return
	}
	type key struct{ group, kind, namespace, name string }
	byKey := map[key]*v1alpha1.HealthStatus{}
	for _, n := range sa.tree().Nodes {
		if n.Health != nil {
			byKey[key{n.Group, n.Kind, n.Namespace, n.Name}] = n.Health
		}
	}
	for i := range app.Status.Resources {
		r := &app.Status.Resources[i]
		r.Health = byKey[key{r.Group, r.Kind, r.Namespace, r.Name}].DeepCopy()
	}
}

func (sa *simApp) ns() string {
	if ns := sa.app.Spec.Destination.Namespace; ns != "" {
		return ns
	}
	return sa.app.Name
}

// pod describes one pod of the live ReplicaSet.
type pod struct {
	name  string
	index int
}

func (sa *simApp) rsName() string {
	return sa.app.Name + "-" + suffix(10, sa.app.Name, sa.live.sha)
}

func (sa *simApp) pods() []pod {
	rs := sa.rsName()
	out := make([]pod, sa.live.replicas)
	for i := range out {
		out[i] = pod{name: rs + "-" + suffix(5, sa.app.Name, sa.live.sha, strconv.Itoa(i)), index: i}
	}
	return out
}

// workloadHealth is the health of the Deployment, its ReplicaSet and pods.
func (sa *simApp) workloadHealth() (dep, rs, pods v1alpha1.HealthStatus, reason, ready string) {
	n := sa.live.replicas
	switch sa.health {
	case health.HealthStatusProgressing:
		msg := fmt.Sprintf("Waiting for rollout to finish: 0 of %d updated replicas are available...", n)
		return v1alpha1.HealthStatus{Status: health.HealthStatusProgressing, Message: msg},
			v1alpha1.HealthStatus{Status: health.HealthStatusProgressing, Message: msg},
			v1alpha1.HealthStatus{Status: health.HealthStatusProgressing}, "ContainerCreating", "0/1"
	case health.HealthStatusDegraded:
		return v1alpha1.HealthStatus{Status: health.HealthStatusDegraded, Message: fmt.Sprintf("Deployment %q exceeded its progress deadline", sa.app.Name)},
			v1alpha1.HealthStatus{Status: health.HealthStatusProgressing, Message: fmt.Sprintf("Waiting for rollout to finish: 0 of %d updated replicas are available...", n)},
			v1alpha1.HealthStatus{Status: health.HealthStatusDegraded, Message: "back-off 2m40s restarting failed container=" + sa.app.Name},
			"CrashLoopBackOff", "0/1"
	case health.HealthStatusHealthy, "":
		h := v1alpha1.HealthStatus{Status: health.HealthStatusHealthy}
		return h, h, h, "Running", "1/1"
	default:
		h := v1alpha1.HealthStatus{Status: sa.health}
		return h, h, h, "Unknown", "0/1"
	}
}

// managedNodes are the resources Argo CD manages directly (in status.resources).
func (sa *simApp) managedNodes() []v1alpha1.ResourceNode {
	ns, name := sa.ns(), sa.app.Name
	dep, _, _, _, _ := sa.workloadHealth()
	created := metav1.NewTime(sa.app.CreationTimestamp.Add(2 * time.Minute))
	return []v1alpha1.ResourceNode{
		{
			ResourceRef:     v1alpha1.ResourceRef{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: ns, Name: name, UID: string(uid("Deployment", ns, name))},
			ResourceVersion: strconv.Itoa(1000 + sa.live.index),
			Info:            []v1alpha1.InfoItem{{Name: "Revision", Value: "Rev:" + strconv.Itoa(sa.live.index+1)}},
			Images:          []string{sa.live.image},
			Health:          &dep,
			CreatedAt:       &created,
		},
		{
			ResourceRef:     v1alpha1.ResourceRef{Version: "v1", Kind: "Service", Namespace: ns, Name: name, UID: string(uid("Service", ns, name))},
			ResourceVersion: "812",
			NetworkingInfo: &v1alpha1.ResourceNetworkingInfo{
				TargetLabels: map[string]string{"app.kubernetes.io/name": name},
			},
			Health:    &v1alpha1.HealthStatus{Status: health.HealthStatusHealthy},
			CreatedAt: &created,
		},
	}
}

// tree mirrors the resource tree the controller caches: Deployment ->
// ReplicaSet -> Pods, plus the Service.
func (sa *simApp) tree() *v1alpha1.ApplicationTree {
	ns := sa.ns()
	managed := sa.managedNodes()
	depRef := managed[0].ResourceRef
	_, rsHealth, podHealth, reason, ready := sa.workloadHealth()
	since := metav1.NewTime(sa.liveSince)
	rsName := sa.rsName()
	rsRef := v1alpha1.ResourceRef{Group: "apps", Version: "v1", Kind: "ReplicaSet", Namespace: ns, Name: rsName, UID: string(uid("ReplicaSet", ns, rsName))}
	nodes := []v1alpha1.ResourceNode{managed[0], {
		ResourceRef:     rsRef,
		ParentRefs:      []v1alpha1.ResourceRef{depRef},
		ResourceVersion: strconv.Itoa(2000 + sa.live.index),
		Info:            []v1alpha1.InfoItem{{Name: "Revision", Value: "Rev:" + strconv.Itoa(sa.live.index+1)}},
		Images:          []string{sa.live.image},
		Health:          &rsHealth,
		CreatedAt:       &since,
	}}
	for _, p := range sa.pods() {
		h := podHealth
		if h.Message != "" {
			h.Message += " pod=" + p.name + "_" + ns
		}
		info := []v1alpha1.InfoItem{
			{Name: "Status Reason", Value: reason},
			{Name: "Node", Value: fmt.Sprintf("worker-%d", 1+p.index%3)},
			{Name: "Containers", Value: ready},
		}
		if reason == "CrashLoopBackOff" {
			info = append(info, v1alpha1.InfoItem{Name: "Restart Count", Value: "5"})
		}
		nodes = append(nodes, v1alpha1.ResourceNode{
			ResourceRef:     v1alpha1.ResourceRef{Version: "v1", Kind: "Pod", Namespace: ns, Name: p.name, UID: string(uid("Pod", ns, p.name))},
			ParentRefs:      []v1alpha1.ResourceRef{rsRef},
			ResourceVersion: strconv.Itoa(3000 + sa.live.index*10 + p.index),
			Info:            info,
			Images:          []string{sa.live.image},
			Health:          &h,
			CreatedAt:       &since,
		})
	}
	nodes = append(nodes, managed[1])
	return &v1alpha1.ApplicationTree{Nodes: nodes, Hosts: []v1alpha1.HostInfo{{Name: "worker-1"}, {Name: "worker-2"}, {Name: "worker-3"}}}
}

// syncResults are the per-resource results of a sync to c.
func (sa *simApp) syncResults(c *commit, code synccommon.ResultCode) v1alpha1.ResourceResults {
	ns, name := sa.ns(), sa.app.Name
	depMsg := "deployment.apps/" + name + " configured"
	if code == synccommon.ResultCodeSyncFailed {
		depMsg = fmt.Sprintf("error when patching %q: deployments.apps %q is forbidden: exceeded quota", name, name)
	}
	return v1alpha1.ResourceResults{
		{Group: "", Version: "v1", Kind: "Service", Namespace: ns, Name: name, Status: synccommon.ResultCodeSynced,
			Message: "service/" + name + " unchanged", HookPhase: synccommon.OperationRunning, SyncPhase: synccommon.SyncPhaseSync},
		{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: ns, Name: name, Status: code,
			Message: depMsg, HookPhase: synccommon.OperationRunning, SyncPhase: synccommon.SyncPhaseSync},
	}
}

// manifests renders what commit c would produce (for ManagedResources).
func (sa *simApp) manifests(c *commit) (deployment, service string) {
	ns, name := sa.ns(), sa.app.Name
	labels := map[string]string{"app.kubernetes.io/name": name, "app.kubernetes.io/instance": name}
	dep := map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": labels},
		"spec": map[string]any{
			"replicas": c.replicas,
			"selector": map[string]any{"matchLabels": labels},
			"template": map[string]any{
				"metadata": map[string]any{"labels": labels},
				"spec": map[string]any{"containers": []any{map[string]any{
					"name": name, "image": c.image, "ports": []any{map[string]any{"containerPort": 8080}},
				}}},
			},
		},
	}
	svc := map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": labels},
		"spec":     map[string]any{"selector": labels, "ports": []any{map[string]any{"port": 80, "targetPort": 8080}}},
	}
	d, _ := json.Marshal(dep)
	s, _ := json.Marshal(svc)
	return string(d), string(s)
}

// logStyle produces the i-th log line of a pod.
type logStyle func(app string, p pod, c *commit, i int, h uint32) string

func hash32(parts ...string) uint32 {
	sum := sha1.Sum([]byte(fmt.Sprint(parts)))
	return binary.BigEndian.Uint32(sum[:4])
}

var paths = []string{"/", "/api/items", "/api/cart", "/healthz", "/api/items/42", "/static/app.js", "/api/session"}

func webLogs(app string, p pod, c *commit, i int, h uint32) string {
	if i == 0 {
		return fmt.Sprintf("level=info msg=\"starting %s\" version=%s pod=%s", app, c.value("image.tag"), p.name)
	}
	if i == 1 {
		return "level=info msg=\"listening\" addr=:8080"
	}
	status := 200
	if (h>>8)%17 == 0 {
		status = 500
	} else if (h>>8)%7 == 0 {
		status = 404
	}
	return fmt.Sprintf("level=info method=GET path=%s status=%d duration_ms=%d pod=%s", paths[(h>>16)%uint32(len(paths))], status, 2+h%250, p.name)
}

func paymentLogs(app string, p pod, c *commit, i int, h uint32) string {
	if i == 0 {
		return fmt.Sprintf("{\"level\":\"info\",\"msg\":\"%s ready\",\"version\":%q,\"replica\":%d}", app, c.value("image.tag"), p.index)
	}
	amount := float64(100+h%90000) / 100
	if h%13 == 0 {
		return fmt.Sprintf("{\"level\":\"warn\",\"msg\":\"card declined\",\"payment_id\":\"pay_%08x\",\"amount\":%.2f}", h, amount)
	}
	return fmt.Sprintf("{\"level\":\"info\",\"msg\":\"payment captured\",\"payment_id\":\"pay_%08x\",\"amount\":%.2f,\"currency\":\"EUR\"}", h, amount)
}

func batchLogs(app string, p pod, c *commit, i int, h uint32) string {
	if i == 0 {
		return fmt.Sprintf("%s worker %d started (build %s)", app, p.index, c.sha[:7])
	}
	return fmt.Sprintf("%s worker %d: processed batch %d (%d records, %dms)", app, p.index, i, 50+h%950, 10+h%400)
}

func crashLogs(app string, p pod, c *commit, i int, h uint32) string {
	lines := []string{
		fmt.Sprintf("level=info msg=\"starting %s\" version=%s pod=%s", app, c.value("image.tag"), p.name),
		"level=info msg=\"connecting to database\" addr=" + c.value("config.database"),
		"level=error msg=\"database connection failed\" err=\"dial tcp 10.96.14.7:5432: connect: connection refused\"",
		"panic: cannot start without database",
	}
	return lines[i%len(lines)]
}

// logLine is one pod log line with its Kubernetes timestamp.
type logLine struct {
	pod     string
	ts      time.Time
	content string
}

const linesPerPod = 60

// podLogs returns the deterministic log of a pod (oldest first).
func (sa *simApp) podLogs(p pod) []logLine {
	style := sa.seed.logs
	if sa.health == health.HealthStatusDegraded {
		style = crashLogs
	}
	out := make([]logLine, linesPerPod)
	gaps := make([]time.Duration, linesPerPod)
	var span time.Duration
	for i := range out {
		h := hash32(p.name, strconv.Itoa(i))
		out[i] = logLine{pod: p.name, content: style(sa.app.Name, p, sa.live, i, h)}
		gaps[i] = time.Duration(1500+h%9000) * time.Millisecond
		span += gaps[i]
	}
	// A fresh pod has not had time to write its whole log: squeeze the
	// timestamps so no line is in the future.
	start := sa.liveSince.Add(time.Duration(1+p.index) * time.Second)
	scale := 1.0
	if avail := time.Since(start); avail < span {
		scale = max(float64(avail), 0) / float64(span)
	}
	ts := start
	for i := range out {
		out[i].ts = ts
		ts = ts.Add(time.Duration(float64(gaps[i]) * scale))
	}
	return out
}

// followLine is the i-th extra line a followed pod log produces.
func (sa *simApp) followLine(p pod, i int, at time.Time) logLine {
	style := sa.seed.logs
	if sa.health == health.HealthStatusDegraded {
		style = crashLogs
	}
	return logLine{pod: p.name, ts: at, content: style(sa.app.Name, p, sa.live, linesPerPod+i, hash32(p.name, "f", strconv.Itoa(i)))}
}
