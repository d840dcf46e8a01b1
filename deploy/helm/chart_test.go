// Package helm_test checks the Helm chart in ./deploybot: it lints and renders
// the chart with the default values and every ci/*-values.yaml, decodes each
// rendered object into its Kubernetes type (unknown fields fail), and checks
// what the chart promises: the security settings, probes, the worker's stop
// timeout, the gateway/worker Secret split, that every variable it sets is one
// deploybot reads, and that bad values fail with the chart's own message.
//
// helm comes from $HELM, else ../../bin/helm (make bin/helm), else PATH. Without
// it the tests skip locally and fail in CI (CI=true).
package helm_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	yamlv3 "gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/deploybot/deploybot/internal/config"
)

const (
	chartDir = "deploybot"
	release  = "deploybot"
	ns       = "deploybot"
	// helm built with `go install` assumes Kubernetes 1.20 without a cluster,
	// below the chart's kubeVersion; render for a current one.
	kubeVersion = "1.31.0"
)

// Variables the chart sets itself from structured values; `config` refuses them.
var chartManaged = []string{
	"HTTP_HOST", "HTTP_PORT", "FLASK_HOST", "FLASK_PORT", "WORKER_STOP_TIMEOUT", "ARGOCD_CA_FILE",
	"ARGOCD_INSTANCES_FILE", "WORKER_ARGOCD_INSTANCES", "APPROVAL_POLICY_FILE",
	"TEMPORAL_TLS", "TEMPORAL_TLS_SERVER_NAME", "TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH",
	"TEMPORAL_TLS_SERVER_CA_CERT_PATH", "TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY",
}

// Variables neither the gateway nor the worker reads (the simulator's); the
// chart runs only those two.
var notForChart = func() []string {
	var out []string
	for _, v := range config.Variables(config.RoleDev) {
		if !slices.Contains(config.Variables(config.RoleGateway), v) && !slices.Contains(config.Variables(config.RoleWorker), v) {
			out = append(out, v)
		}
	}
	return out
}()

// The secret variables each component's Secret carries: those its process
// reads, as internal/config says.
var (
	gatewaySecretKeys = secretsReadBy(config.RoleGateway)
	workerSecretKeys  = secretsReadBy(config.RoleWorker)
)

func secretsReadBy(role config.Role) []string {
	secret := map[string]bool{}
	for _, s := range config.Default().Settings() {
		secret[s.Name] = s.Secret
	}
	var out []string
	for _, v := range config.Variables(role) {
		if secret[v] {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

// The Ingress paths of the gateway's public endpoints.
var publicPaths = map[string]networkingv1.PathType{
	"/slack/events": networkingv1.PathTypeExact, "/slack/interactions": networkingv1.PathTypeExact,
	"/slack/commands": networkingv1.PathTypeExact, "/interactions": networkingv1.PathTypeExact,
	"/webhooks/sonarqube": networkingv1.PathTypeExact, "/api/v1/runs": networkingv1.PathTypePrefix,
}

// ---- helm ----

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
)

func helmBin(t *testing.T) string {
	t.Helper()
	helmOnce.Do(func() {
		if p := os.Getenv("HELM"); p != "" {
			if _, err := os.Stat(p); err != nil {
				helmErr = fmt.Errorf("HELM=%s: %w", p, err)
				return
			}
			helmPath = p
			return
		}
		if p, err := filepath.Abs(filepath.Join("..", "..", "bin", "helm")); err == nil {
			if _, err := os.Stat(p); err == nil {
				helmPath = p
				return
			}
		}
		helmPath, helmErr = exec.LookPath("helm")
	})
	if helmErr != nil {
		msg := "helm not found (" + helmErr.Error() + "): install it with `make bin/helm` or set HELM=/path/to/helm"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " — CI must run the chart tests")
		}
		t.Skip("!!! SKIPPING THE HELM CHART TESTS: " + msg)
	}
	return helmPath
}

// helm runs helm with args and returns stdout, or an error carrying stderr.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(helmBin(t), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Keep helm away from the user's kubeconfig, repositories and plugins.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home,
		"KUBECONFIG="+filepath.Join(home, "none"))
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	return stdout.String(), nil
}

// valuesFiles lists ci/*-values.yaml.
func valuesFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no ci/*-values.yaml in %s: %v", chartDir, err)
	}
	return files
}

// args returns -f file (when file is set) followed by --set flags.
func valueArgs(file string, sets ...string) []string {
	var a []string
	if file != "" {
		a = append(a, "-f", file)
	}
	for _, s := range sets {
		a = append(a, "--set", s)
	}
	return a
}

func template(file string, sets ...string) []string {
	return append([]string{"template", release, chartDir, "--namespace", ns, "--kube-version", kubeVersion}, valueArgs(file, sets...)...)
}

// ---- decoding ----

// object is one rendered document, decoded into its typed Kubernetes object.
type object struct {
	Kind, Name string
	Obj        any
	Meta       metav1.ObjectMeta
}

// kinds maps apiVersion/kind to a constructor of the typed object. Anything
// else the chart renders fails the test.
var kinds = map[string]func() any{
	"apps/v1/Deployment":                      func() any { return &appsv1.Deployment{} },
	"v1/Service":                              func() any { return &corev1.Service{} },
	"v1/ConfigMap":                            func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                               func() any { return &corev1.Secret{} },
	"v1/ServiceAccount":                       func() any { return &corev1.ServiceAccount{} },
	"networking.k8s.io/v1/Ingress":            func() any { return &networkingv1.Ingress{} },
	"networking.k8s.io/v1/NetworkPolicy":      func() any { return &networkingv1.NetworkPolicy{} },
	"policy/v1/PodDisruptionBudget":           func() any { return &policyv1.PodDisruptionBudget{} },
	"autoscaling/v2/HorizontalPodAutoscaler":  func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &monitoringv1.ServiceMonitor{} },
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

func decode(t *testing.T, out string) []object {
	t.Helper()
	var objs []object
	seen := map[string]bool{}
	for i, doc := range docSep.Split(out, -1) {
		js, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatalf("document %d is not YAML: %v\n%s", i, err, doc)
		}
		if string(js) == "null" {
			continue // comments only
		}
		var tm metav1.TypeMeta
		if err := json.Unmarshal(js, &tm); err != nil {
			t.Fatalf("document %d: %v\n%s", i, err, doc)
		}
		newObj, ok := kinds[tm.APIVersion+"/"+tm.Kind]
		if !ok {
			t.Fatalf("document %d is a %s %s, which this test does not know: add it to kinds and assert on it\n%s", i, tm.APIVersion, tm.Kind, doc)
		}
		obj := newObj()
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.DisallowUnknownFields()
		if err := dec.Decode(obj); err != nil {
			t.Fatalf("document %d (%s): %v\n%s", i, tm.Kind, err, doc)
		}
		meta := obj.(metav1.ObjectMetaAccessor).GetObjectMeta().(*metav1.ObjectMeta)
		key := tm.Kind + "/" + meta.Name
		if seen[key] {
			t.Fatalf("%s is rendered twice", key)
		}
		seen[key] = true
		objs = append(objs, object{Kind: tm.Kind, Name: meta.Name, Obj: obj, Meta: *meta})
	}
	return objs
}

// rendering is what one values file renders to.
type rendering struct {
	file   string
	values map[string]any // the values file itself (not merged with defaults)
	objs   []object
}

var (
	renderMu    sync.Mutex
	renderCache = map[string]*rendering{}
)

// render renders the chart with a values file ("" for the defaults), once per file.
func render(t *testing.T, file string) *rendering {
	t.Helper()
	renderMu.Lock()
	defer renderMu.Unlock()
	if r, ok := renderCache[file]; ok {
		return r
	}
	out, err := helm(t, template(file)...)
	if err != nil {
		t.Fatal(err)
	}
	r := &rendering{file: file, values: map[string]any{}, objs: decode(t, out)}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, &r.values); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	renderCache[file] = r
	return r
}

func (r *rendering) list() []string {
	var l []string
	for _, o := range r.objs {
		l = append(l, o.Kind+"/"+o.Name)
	}
	sort.Strings(l)
	return l
}

func get[T any](t *testing.T, r *rendering, kind, name string) T {
	t.Helper()
	for _, o := range r.objs {
		if o.Kind == kind && o.Name == name {
			return o.Obj.(T)
		}
	}
	t.Fatalf("%s: no %s/%s among %v", r.name(), kind, name, r.list())
	panic("unreachable")
}

func all[T any](r *rendering, kind string) []T {
	var out []T
	for _, o := range r.objs {
		if o.Kind == kind {
			out = append(out, o.Obj.(T))
		}
	}
	return out
}

func (r *rendering) name() string {
	if r.file == "" {
		return "default values"
	}
	return filepath.Base(r.file)
}

// value looks up a dotted path in the values file.
func (r *rendering) value(path string) (any, bool) {
	var cur any = r.values
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// every runs f for the defaults and each values file.
func every(t *testing.T, f func(t *testing.T, r *rendering)) {
	t.Helper()
	for _, file := range append([]string{""}, valuesFiles(t)...) {
		name := "default"
		if file != "" {
			name = filepath.Base(file)
		}
		t.Run(name, func(t *testing.T) { f(t, render(t, file)) })
	}
}

// ---- deploybot's variables ----

type settings struct {
	known, secret map[string]bool
}

func deploybotSettings(t *testing.T) settings {
	t.Helper()
	s := settings{known: map[string]bool{}, secret: map[string]bool{}}
	for _, st := range config.Default().Settings() {
		s.known[st.Name] = true
		if st.Secret {
			s.secret[st.Name] = true
		}
	}
	return s
}

// ---- tests ----

func TestLint(t *testing.T) {
	t.Parallel()
	for _, file := range append([]string{""}, valuesFiles(t)...) {
		name := "default"
		if file != "" {
			name = filepath.Base(file)
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"lint", "--strict", chartDir, "--kube-version", kubeVersion}, valueArgs(file)...)
			out, err := helm(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "0 chart(s) failed") {
				t.Fatalf("helm lint:\n%s", out)
			}
		})
	}
}

func TestObjectLists(t *testing.T) {
	base := []string{
		"ConfigMap/deploybot",
		"Deployment/deploybot-gateway", "Deployment/deploybot-worker",
		"PodDisruptionBudget/deploybot-gateway", "PodDisruptionBudget/deploybot-worker",
		"Service/deploybot-gateway", "Service/deploybot-worker-metrics",
	}
	want := map[string][]string{
		"": append(slices.Clone(base), "Secret/deploybot-gateway", "Secret/deploybot-worker", "ServiceAccount/deploybot"),
		filepath.Join(chartDir, "ci", "default-values.yaml"): append(slices.Clone(base),
			"Secret/deploybot-gateway", "Secret/deploybot-worker", "ServiceAccount/deploybot"),
		filepath.Join(chartDir, "ci", "existing-secret-values.yaml"): append(slices.Clone(base), "ServiceAccount/deploybot"),
		filepath.Join(chartDir, "ci", "full-values.yaml"): append(slices.Clone(base),
			"HorizontalPodAutoscaler/deploybot-gateway", "HorizontalPodAutoscaler/deploybot-worker",
			"Ingress/deploybot-gateway",
			"NetworkPolicy/deploybot-gateway", "NetworkPolicy/deploybot-worker",
			"Secret/deploybot-gateway", "Secret/deploybot-worker",
			"ServiceAccount/deploybot-sa",
			"ServiceMonitor/deploybot-gateway", "ServiceMonitor/deploybot-worker"),
	}
	for _, f := range valuesFiles(t) {
		if _, ok := want[f]; !ok {
			t.Errorf("%s: no expected object list; add one here", f)
		}
	}
	for file, w := range want {
		r := render(t, file)
		sort.Strings(w)
		if got := r.list(); !slices.Equal(got, w) {
			t.Errorf("%s renders\n  %v\nwant\n  %v", r.name(), got, w)
		}
	}
}

func TestLabels(t *testing.T) {
	every(t, func(t *testing.T, r *rendering) {
		for _, o := range r.objs {
			for _, l := range []string{"helm.sh/chart", "app.kubernetes.io/name", "app.kubernetes.io/instance",
				"app.kubernetes.io/version", "app.kubernetes.io/managed-by", "app.kubernetes.io/part-of"} {
				if o.Meta.Labels[l] == "" {
					t.Errorf("%s/%s has no label %s", o.Kind, o.Name, l)
				}
			}
			if o.Kind != "ConfigMap" && o.Kind != "ServiceAccount" {
				c := o.Meta.Labels["app.kubernetes.io/component"]
				if c != "gateway" && c != "worker" {
					t.Errorf("%s/%s: app.kubernetes.io/component = %q, want gateway or worker", o.Kind, o.Name, c)
				}
			}
			if o.Meta.Namespace != ns && o.Kind != "ServiceMonitor" {
				t.Errorf("%s/%s: namespace %q, want %q", o.Kind, o.Name, o.Meta.Namespace, ns)
			}
		}
	})
}

// deployments returns the gateway and worker Deployments.
func deployments(t *testing.T, r *rendering) map[string]*appsv1.Deployment {
	return map[string]*appsv1.Deployment{
		"gateway": get[*appsv1.Deployment](t, r, "Deployment", "deploybot-gateway"),
		"worker":  get[*appsv1.Deployment](t, r, "Deployment", "deploybot-worker"),
	}
}

func container(t *testing.T, d *appsv1.Deployment) corev1.Container {
	t.Helper()
	if len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("%s has %d containers, want 1", d.Name, len(d.Spec.Template.Spec.Containers))
	}
	return d.Spec.Template.Spec.Containers[0]
}

func envValue(c corev1.Container, name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom == nil {
			return e.Value, true
		}
	}
	return "", false
}

func TestDeploymentsAreLockedDown(t *testing.T) {
	every(t, func(t *testing.T, r *rendering) {
		for component, d := range deployments(t, r) {
			pod := d.Spec.Template.Spec
			if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
				t.Errorf("%s: automountServiceAccountToken must be false", d.Name)
			}
			sc := pod.SecurityContext
			if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot ||
				sc.RunAsUser == nil || *sc.RunAsUser != 65532 || sc.RunAsGroup == nil || *sc.RunAsGroup != 65532 ||
				sc.FSGroup == nil || *sc.FSGroup != 65532 ||
				sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("%s: pod securityContext %+v, want non-root 65532:65532, fsGroup 65532, seccomp RuntimeDefault", d.Name, sc)
			}
			c := container(t, d)
			csc := c.SecurityContext
			if csc == nil || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation ||
				csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem ||
				csc.Capabilities == nil || !slices.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
				t.Errorf("%s: container securityContext %+v, want no privilege escalation, read-only root, drop ALL", d.Name, csc)
			}
			if !slices.Equal(c.Command, []string{"deploybot"}) || !slices.Equal(c.Args, []string{component}) {
				t.Errorf("%s: runs %v %v, want [deploybot] [%s]", d.Name, c.Command, c.Args, component)
			}
			if c.Image == "" || !strings.Contains(c.Image, ":") {
				t.Errorf("%s: image %q has no tag", d.Name, c.Image)
			}
			// /tmp is the only writable place.
			tmp := slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == "/tmp" && m.Name == "tmp" }) &&
				slices.ContainsFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == "tmp" && v.EmptyDir != nil })
			if !tmp {
				t.Errorf("%s: no emptyDir at /tmp", d.Name)
			}
			// The selector must select the pods.
			for k, v := range d.Spec.Selector.MatchLabels {
				if d.Spec.Template.Labels[k] != v {
					t.Errorf("%s: selector %s=%s does not match the pod labels %v", d.Name, k, v, d.Spec.Template.Labels)
				}
			}
			if d.Spec.Selector.MatchLabels["app.kubernetes.io/component"] != component {
				t.Errorf("%s: selector %v does not name the component", d.Name, d.Spec.Selector.MatchLabels)
			}
			for _, a := range []string{"checksum/config", "checksum/secret"} {
				if d.Spec.Template.Annotations[a] == "" {
					t.Errorf("%s: pod template has no %s annotation", d.Name, a)
				}
			}
		}
	})
}

func TestProbes(t *testing.T) {
	every(t, func(t *testing.T, r *rendering) {
		for _, d := range deployments(t, r) {
			c := container(t, d)
			var port *corev1.ContainerPort
			for i := range c.Ports {
				if c.Ports[i].Name == "http" {
					port = &c.Ports[i]
				}
			}
			if port == nil {
				t.Fatalf("%s: no container port named http", d.Name)
			}
			if v, _ := envValue(c, "HTTP_PORT"); v != fmt.Sprint(port.ContainerPort) {
				t.Errorf("%s: HTTP_PORT=%q but the http port is %d", d.Name, v, port.ContainerPort)
			}
			for _, p := range []struct {
				what  string
				probe *corev1.Probe
				path  string
			}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
				if p.probe == nil || p.probe.HTTPGet == nil {
					t.Errorf("%s: no httpGet %s probe", d.Name, p.what)
					continue
				}
				if p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port != intstr.FromString("http") {
					t.Errorf("%s: %s probe GET %s on %s, want %s on the named port http", d.Name, p.what, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path)
				}
			}
		}
	})
}

func TestWorkerGracePeriodExceedsStopTimeout(t *testing.T) {
	every(t, func(t *testing.T, r *rendering) {
		d := deployments(t, r)["worker"]
		v, ok := envValue(container(t, d), "WORKER_STOP_TIMEOUT")
		if !ok {
			t.Fatal("worker: WORKER_STOP_TIMEOUT is not set")
		}
		stop, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("worker: WORKER_STOP_TIMEOUT=%q: %v", v, err)
		}
		if want, ok := r.value("worker.stopTimeout"); ok && want != v {
			t.Errorf("worker: WORKER_STOP_TIMEOUT=%q, values say %v", v, want)
		}
		grace := d.Spec.Template.Spec.TerminationGracePeriodSeconds
		if grace == nil || time.Duration(*grace)*time.Second <= stop {
			t.Errorf("worker: terminationGracePeriodSeconds %v does not exceed WORKER_STOP_TIMEOUT %s", grace, stop)
		}
	})
}

// secretsOf returns the data of the Secrets a container loads with envFrom
// that the chart rendered, and the names of all the Secrets it loads.
func secretsOf(r *rendering, c corev1.Container) (map[string]string, []string) {
	data := map[string]string{}
	var names []string
	for _, ef := range c.EnvFrom {
		if ef.SecretRef == nil {
			continue
		}
		names = append(names, ef.SecretRef.Name)
		for _, s := range all[*corev1.Secret](r, "Secret") {
			if s.Name == ef.SecretRef.Name {
				for k, v := range s.Data {
					data[k] = string(v)
				}
			}
		}
	}
	return data, names
}

func TestGatewayHasNoArgoCDCredentials(t *testing.T) {
	every(t, func(t *testing.T, r *rendering) {
		c := container(t, deployments(t, r)["gateway"])
		data, names := secretsOf(r, c)
		for _, bad := range []string{"ARGOCD_TOKEN", "SMTP_PASSWORD"} {
			if _, ok := data[bad]; ok {
				t.Errorf("gateway loads %s (from one of %v)", bad, names)
			}
			if slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == bad }) {
				t.Errorf("gateway env sets %s", bad)
			}
		}
		// The gateway sends no email; the worker's SMTP settings must not
		// make it refuse to start (SMTP_USERNAME without SMTP_PASSWORD).
		if v, ok := envValue(c, "SMTP_HOST"); !ok || v != "" {
			t.Errorf("gateway: SMTP_HOST must be set empty, got %q (set %v)", v, ok)
		}
		workerC := container(t, deployments(t, r)["worker"])
		_, workerNames := secretsOf(r, workerC)
		for _, n := range names {
			if slices.Contains(workerNames, n) {
				t.Errorf("gateway and worker load the same Secret %s", n)
			}
		}
		// Each Secret holds only what its component reads.
		for _, s := range all[*corev1.Secret](r, "Secret") {
			allowed := map[string][]string{"deploybot-gateway": gatewaySecretKeys, "deploybot-worker": workerSecretKeys}[s.Name]
			if allowed == nil {
				t.Errorf("unexpected Secret %s", s.Name)
			}
			for k := range s.Data {
				if !slices.Contains(allowed, k) {
					t.Errorf("Secret %s holds %s, which its component does not read", s.Name, k)
				}
			}
		}
	})
}

func TestExistingSecrets(t *testing.T) {
	r := render(t, filepath.Join(chartDir, "ci", "existing-secret-values.yaml"))
	for component, d := range deployments(t, r) {
		_, names := secretsOf(r, container(t, d))
		want, _ := r.value("existingSecret." + component)
		if !slices.Equal(names, []string{want.(string)}) {
			t.Errorf("%s loads Secrets %v, want [%s]", d.Name, names, want)
		}
	}
}

func TestVariablesAreDeploybots(t *testing.T) {
	s := deploybotSettings(t)
	every(t, func(t *testing.T, r *rendering) {
		cm := get[*corev1.ConfigMap](t, r, "ConfigMap", "deploybot")
		if len(cm.Data) == 0 {
			t.Error("the ConfigMap is empty")
		}
		for k := range cm.Data {
			if !s.known[k] {
				t.Errorf("ConfigMap sets %s, which deploybot does not read", k)
			}
			if s.secret[k] {
				t.Errorf("ConfigMap holds the secret variable %s", k)
			}
			if slices.Contains(chartManaged, k) {
				t.Errorf("ConfigMap sets %s, which the chart sets from structured values", k)
			}
		}
		for _, sec := range all[*corev1.Secret](r, "Secret") {
			for k := range sec.Data {
				if !s.secret[k] {
					t.Errorf("Secret %s holds %s, which is not a secret deploybot variable", sec.Name, k)
				}
			}
		}
		for _, d := range deployments(t, r) {
			c := container(t, d)
			var extra []string
			for _, e := range c.Env {
				if s.known[e.Name] {
					if s.secret[e.Name] {
						t.Errorf("%s: secret %s in plain env", d.Name, e.Name)
					}
					continue
				}
				extra = append(extra, e.Name)
			}
			// Names deploybot does not read may only come from extraEnv.
			component := d.Spec.Template.Labels["app.kubernetes.io/component"]
			ev, _ := r.value(component + ".extraEnv")
			for _, n := range extra {
				fromValues := false
				list, _ := ev.([]any)
				for _, e := range list {
					if m, ok := e.(map[string]any); ok && m["name"] == n {
						fromValues = true
					}
				}
				if !fromValues {
					t.Errorf("%s sets %s, which deploybot does not read", d.Name, n)
				}
			}
		}
	})
}

// TestFullValues checks that ci/full-values.yaml exercises every variable the
// chart takes, and that each arrives unchanged where it belongs.
func TestFullValues(t *testing.T) {
	s := deploybotSettings(t)
	r := render(t, filepath.Join(chartDir, "ci", "full-values.yaml"))
	str := func(v any) string {
		if l, ok := v.([]any); ok {
			var parts []string
			for _, x := range l {
				parts = append(parts, fmt.Sprint(x))
			}
			return strings.Join(parts, ",")
		}
		return fmt.Sprint(v)
	}

	cfg, _ := r.value("config")
	cm := get[*corev1.ConfigMap](t, r, "ConfigMap", "deploybot")
	for k, v := range cfg.(map[string]any) {
		if cm.Data[k] != str(v) {
			t.Errorf("ConfigMap %s = %q, values say %q", k, cm.Data[k], str(v))
		}
	}
	secrets := map[string]string{}
	for _, sec := range all[*corev1.Secret](r, "Secret") {
		for k, v := range sec.Data {
			secrets[k] = string(v)
		}
	}
	sv, _ := r.value("secrets")
	for name := range s.known {
		if slices.Contains(chartManaged, name) || slices.Contains(notForChart, name) {
			continue
		}
		if s.secret[name] {
			want := str(sv.(map[string]any)[name])
			if got, ok := secrets[name]; !ok || got != want || want == "" {
				t.Errorf("secret %s: rendered %q (present %v), full-values.yaml says %q; every secret variable must be set there and rendered in full", name, got, ok, want)
			}
		} else if _, ok := cm.Data[name]; !ok {
			t.Errorf("full-values.yaml does not set config.%s", name)
		}
	}
	for _, pair := range []struct {
		secret string
		keys   []string
	}{{"deploybot-gateway", gatewaySecretKeys}, {"deploybot-worker", workerSecretKeys}} {
		sec := get[*corev1.Secret](t, r, "Secret", pair.secret)
		var got []string
		for k := range sec.Data {
			got = append(got, k)
		}
		sort.Strings(got)
		if !slices.Equal(got, pair.keys) {
			t.Errorf("Secret %s holds %v, want %v", pair.secret, got, pair.keys)
		}
	}

	// The chart-managed variables point at the mounted files.
	for component, d := range deployments(t, r) {
		c := container(t, d)
		want := map[string]string{
			"TEMPORAL_TLS":                     "true",
			"TEMPORAL_TLS_SERVER_NAME":         "temporal.example.com",
			"TEMPORAL_TLS_CLIENT_CERT_PATH":    "/etc/deploybot/temporal/tls.crt",
			"TEMPORAL_TLS_CLIENT_KEY_PATH":     "/etc/deploybot/temporal/tls.key",
			"TEMPORAL_TLS_SERVER_CA_CERT_PATH": "/etc/deploybot/temporal/ca.crt",
		}
		if component == "worker" {
			want["ARGOCD_CA_FILE"] = "/etc/deploybot/argocd/ca.crt"
			want["WORKER_STOP_TIMEOUT"] = "1m30s"
		}
		for k, v := range want {
			if got, _ := envValue(c, k); got != v {
				t.Errorf("%s: %s=%q, want %q", d.Name, k, got, v)
			}
			if strings.HasPrefix(v, "/") && !mounted(c, v) {
				t.Errorf("%s: %s=%s is not under a volume mount", d.Name, k, v)
			}
		}
		if component == "gateway" {
			if _, ok := envValue(c, "ARGOCD_CA_FILE"); ok {
				t.Errorf("gateway gets ARGOCD_CA_FILE")
			}
		}
	}

	// What the chart renders is a configuration deploybot accepts, for each role.
	for component, d := range deployments(t, r) {
		c := container(t, d)
		env := map[string]string{}
		for k, v := range cm.Data {
			env[k] = v
		}
		data, _ := secretsOf(r, c)
		for k, v := range data {
			env[k] = v
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				env[e.Name] = e.Value
			}
		}
		_, err := config.LoadFor(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, config.Role(component))
		var pe *config.ProblemsError
		if err != nil && !errors.As(err, &pe) {
			t.Fatalf("%s: %v", component, err)
		}
		if pe != nil {
			for _, p := range pe.Problems {
				// The TLS files exist only in the pod.
				if v := env[p.Var]; strings.HasPrefix(v, "/etc/deploybot/") {
					continue
				}
				t.Errorf("%s: deploybot would refuse the rendered configuration: %s", component, p.Error())
			}
		}
	}
}

func mounted(c corev1.Container, path string) bool {
	return slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
		return strings.HasPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/")
	})
}

func TestDefaultConfigLoads(t *testing.T) {
	r := render(t, "")
	cm := get[*corev1.ConfigMap](t, r, "ConfigMap", "deploybot")
	lookup := func(k string) (string, bool) { v, ok := cm.Data[k]; return v, ok }
	if _, err := config.Load(lookup); err != nil {
		t.Errorf("the default ConfigMap does not load: %v", err)
	}
}

// TestSchemaKnowsEveryVariable keeps values.schema.json in step with
// internal/config: each deploybot variable is accepted in `config` (non-secret),
// in `secrets` (secret), or set by the chart, or listed as not for the chart.
func TestSchemaKnowsEveryVariable(t *testing.T) {
	s := deploybotSettings(t)
	b, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties map[string]struct {
			Properties           map[string]json.RawMessage `json:"properties"`
			AdditionalProperties *bool                      `json:"additionalProperties"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	for _, block := range []string{"config", "secrets"} {
		p := schema.Properties[block]
		if p.AdditionalProperties == nil || *p.AdditionalProperties {
			t.Errorf("schema: %s must have additionalProperties false, so typos fail", block)
		}
	}
	cfg, sec := schema.Properties["config"].Properties, schema.Properties["secrets"].Properties
	for name := range s.known {
		_, inCfg := cfg[name]
		_, inSec := sec[name]
		managed := slices.Contains(chartManaged, name) || slices.Contains(notForChart, name)
		switch {
		case managed && (inCfg || inSec):
			t.Errorf("schema accepts %s in values, but the chart sets it itself (or does not run what reads it)", name)
		case managed:
		case s.secret[name] && !inSec:
			t.Errorf("schema: secrets.%s is missing: add it to values.yaml, values.schema.json and a component's Secret", name)
		case !s.secret[name] && !inCfg:
			t.Errorf("schema: config.%s is missing: add it to values.schema.json (or to chartManaged/notForChart here)", name)
		case inCfg && s.secret[name]:
			t.Errorf("schema accepts the secret %s in config", name)
		}
	}
	for name := range cfg {
		if !s.known[name] || s.secret[name] {
			t.Errorf("schema: config.%s is not a non-secret deploybot variable", name)
		}
	}
	for name := range sec {
		if !s.secret[name] {
			t.Errorf("schema: secrets.%s is not a secret deploybot variable", name)
		}
		if !slices.Contains(gatewaySecretKeys, name) && !slices.Contains(workerSecretKeys, name) {
			t.Errorf("secrets.%s goes to neither component's Secret", name)
		}
	}
}

func TestServicesAndIngress(t *testing.T) {
	every(t, func(t *testing.T, r *rendering) {
		deps := deployments(t, r)
		services := map[string]*corev1.Service{}
		for _, svc := range all[*corev1.Service](r, "Service") {
			services[svc.Name] = svc
			component := svc.Labels["app.kubernetes.io/component"]
			d := deps[component]
			if d == nil {
				t.Fatalf("Service %s belongs to no Deployment", svc.Name)
			}
			for k, v := range svc.Spec.Selector {
				if d.Spec.Template.Labels[k] != v {
					t.Errorf("Service %s selects %s=%s, which %s's pods lack", svc.Name, k, v, d.Name)
				}
			}
			if len(svc.Spec.Selector) == 0 {
				t.Errorf("Service %s selects nothing", svc.Name)
			}
			c := container(t, d)
			for _, p := range svc.Spec.Ports {
				if p.TargetPort.Type != intstr.String || !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == p.TargetPort.StrVal }) {
					t.Errorf("Service %s port %s targets %s, not a named port of %s", svc.Name, p.Name, p.TargetPort.String(), d.Name)
				}
			}
		}
		gw := services["deploybot-gateway"]
		if gw == nil {
			t.Fatal("no gateway Service")
		}
		for _, ing := range all[*networkingv1.Ingress](r, "Ingress") {
			if len(ing.Spec.Rules) == 0 {
				t.Fatalf("Ingress %s has no rules", ing.Name)
			}
			for _, rule := range ing.Spec.Rules {
				got := map[string]networkingv1.PathType{}
				for _, p := range rule.HTTP.Paths {
					got[p.Path] = *p.PathType
					be := p.Backend.Service
					if be == nil || be.Name != gw.Name || !slices.ContainsFunc(gw.Spec.Ports, func(sp corev1.ServicePort) bool { return sp.Name == be.Port.Name }) {
						t.Errorf("Ingress %s path %s goes to %+v, not to a port of Service %s", ing.Name, p.Path, be, gw.Name)
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(publicPaths) {
					t.Errorf("Ingress %s host %q routes %v, want %v", ing.Name, rule.Host, got, publicPaths)
				}
			}
		}
		for _, sm := range all[*monitoringv1.ServiceMonitor](r, "ServiceMonitor") {
			var target *corev1.Service
			for _, svc := range services {
				match := len(sm.Spec.Selector.MatchLabels) > 0
				for k, v := range sm.Spec.Selector.MatchLabels {
					match = match && svc.Labels[k] == v
				}
				if match {
					if target != nil {
						t.Errorf("ServiceMonitor %s selects both %s and %s", sm.Name, target.Name, svc.Name)
					}
					target = svc
				}
			}
			if target == nil {
				t.Errorf("ServiceMonitor %s selects no Service", sm.Name)
				continue
			}
			for _, ep := range sm.Spec.Endpoints {
				if ep.Path != "/metrics" || !slices.ContainsFunc(target.Spec.Ports, func(sp corev1.ServicePort) bool { return sp.Name == ep.Port }) {
					t.Errorf("ServiceMonitor %s scrapes %s on port %q; Service %s has %v", sm.Name, ep.Path, ep.Port, target.Name, target.Spec.Ports)
				}
			}
			if !slices.Equal(sm.Spec.NamespaceSelector.MatchNames, []string{ns}) {
				t.Errorf("ServiceMonitor %s looks in %v, want [%s]", sm.Name, sm.Spec.NamespaceSelector.MatchNames, ns)
			}
		}
		// PodDisruptionBudgets, autoscalers and policies select their component.
		for _, pdb := range all[*policyv1.PodDisruptionBudget](r, "PodDisruptionBudget") {
			d := deps[pdb.Labels["app.kubernetes.io/component"]]
			if d == nil || !metav1SelectorMatches(pdb.Spec.Selector, d.Spec.Template.Labels) {
				t.Errorf("PodDisruptionBudget %s does not select its component's pods", pdb.Name)
			}
			if (pdb.Spec.MinAvailable == nil) == (pdb.Spec.MaxUnavailable == nil) {
				t.Errorf("PodDisruptionBudget %s: set exactly one of minAvailable and maxUnavailable", pdb.Name)
			}
		}
		for _, np := range all[*networkingv1.NetworkPolicy](r, "NetworkPolicy") {
			d := deps[np.Labels["app.kubernetes.io/component"]]
			if d == nil || !metav1SelectorMatches(&np.Spec.PodSelector, d.Spec.Template.Labels) || len(np.Spec.PodSelector.MatchLabels) == 0 {
				t.Errorf("NetworkPolicy %s does not select its component's pods", np.Name)
			}
		}
		for _, hpa := range all[*autoscalingv2.HorizontalPodAutoscaler](r, "HorizontalPodAutoscaler") {
			d := deps[hpa.Labels["app.kubernetes.io/component"]]
			if d == nil || hpa.Spec.ScaleTargetRef.Name != d.Name || hpa.Spec.ScaleTargetRef.Kind != "Deployment" {
				t.Errorf("HorizontalPodAutoscaler %s targets %+v", hpa.Name, hpa.Spec.ScaleTargetRef)
			}
			if d != nil && d.Spec.Replicas != nil {
				t.Errorf("%s sets replicas although %s scales it", d.Name, hpa.Name)
			}
		}
	})
}

func metav1SelectorMatches(sel *metav1.LabelSelector, labels map[string]string) bool {
	if sel == nil || len(sel.MatchExpressions) > 0 {
		return false
	}
	for k, v := range sel.MatchLabels {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestNetworkPolicies(t *testing.T) {
	r := render(t, filepath.Join(chartDir, "ci", "full-values.yaml"))
	ports := func(rules []networkingv1.NetworkPolicyEgressRule) []string {
		var out []string
		for _, rule := range rules {
			for _, p := range rule.Ports {
				out = append(out, p.Port.String())
			}
		}
		sort.Strings(out)
		return slices.Compact(out)
	}
	gw := get[*networkingv1.NetworkPolicy](t, r, "NetworkPolicy", "deploybot-gateway")
	wk := get[*networkingv1.NetworkPolicy](t, r, "NetworkPolicy", "deploybot-worker")
	for _, np := range []*networkingv1.NetworkPolicy{gw, wk} {
		if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
			t.Errorf("%s: policyTypes %v", np.Name, np.Spec.PolicyTypes)
		}
	}
	// DNS, Temporal (from TEMPORAL_ADDRESS), Slack, and the extra proxy rule.
	if got, want := ports(gw.Spec.Egress), []string{"3128", "443", "53", "7233"}; !slices.Equal(got, want) {
		t.Errorf("gateway egress ports %v, want %v", got, want)
	}
	// ... plus Argo CD's pod port and SMTP (from SMTP_PORT).
	if got, want := ports(wk.Spec.Egress), []string{"3128", "443", "465", "53", "7233", "8080"}; !slices.Equal(got, want) {
		t.Errorf("worker egress ports %v, want %v", got, want)
	}
	for _, rule := range wk.Spec.Ingress {
		if len(rule.From) == 0 {
			t.Errorf("worker ingress rule %+v admits anyone", rule)
		}
	}
	// Without metricsFrom nobody may connect to the worker, and without
	// SMTP_HOST there is no SMTP rule.
	out, err := helm(t, template("", "networkPolicy.enabled=true", "networkPolicy.worker.metricsFrom=null")...)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range decode(t, out) {
		if np, ok := o.Obj.(*networkingv1.NetworkPolicy); ok && np.Name == "deploybot-worker" {
			if np.Spec.Ingress == nil || len(np.Spec.Ingress) != 0 {
				t.Errorf("worker ingress without metricsFrom: %+v, want an empty list", np.Spec.Ingress)
			}
			if got, want := ports(np.Spec.Egress), []string{"443", "53", "7233", "8080"}; !slices.Equal(got, want) {
				t.Errorf("worker egress ports without SMTP_HOST %v, want %v", got, want)
			}
		}
	}
}

// TestRollsOnChange: pods roll when what they read changes, and only then.
func TestRollsOnChange(t *testing.T) {
	annotations := func(sets ...string) map[string]map[string]string {
		out, err := helm(t, template("", sets...)...)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]map[string]string{}
		for _, o := range decode(t, out) {
			if d, ok := o.Obj.(*appsv1.Deployment); ok {
				got[d.Name] = d.Spec.Template.Annotations
			}
		}
		return got
	}
	base := annotations()
	for _, c := range []struct {
		set              string
		gateway, worker  bool
		annotation, what string
	}{
		{"config.LOG_LEVEL=debug", true, true, "checksum/config", "a config value"},
		{"secrets.ARGOCD_TOKEN=x", false, true, "checksum/secret", "ARGOCD_TOKEN"},
		{"secrets.SIGNING_SECRET=x", true, false, "checksum/secret", "SIGNING_SECRET"},
		{"secrets.SLACK_TOKEN=xoxb-x", true, true, "checksum/secret", "SLACK_TOKEN"},
	} {
		got := annotations(c.set)
		for name, want := range map[string]bool{"deploybot-gateway": c.gateway, "deploybot-worker": c.worker} {
			if changed := got[name][c.annotation] != base[name][c.annotation]; changed != want {
				t.Errorf("%s: changing %s changes %s: %v, want %v", name, c.what, c.annotation, changed, want)
			}
		}
	}
}

func TestPodDisruptionBudgetDefaults(t *testing.T) {
	for _, c := range []struct {
		sets []string
		want []string
	}{
		{nil, []string{"deploybot-gateway", "deploybot-worker"}},
		{[]string{"gateway.replicas=1"}, []string{"deploybot-worker"}},
		{[]string{"gateway.replicas=1", "gateway.pdb.enabled=true", "worker.pdb.enabled=false"}, []string{"deploybot-gateway"}},
		{[]string{"worker.replicas=1", "worker.autoscaling.enabled=true", "worker.autoscaling.minReplicas=1"}, []string{"deploybot-gateway"}},
		{[]string{"worker.replicas=1", "worker.autoscaling.enabled=true", "worker.autoscaling.minReplicas=3"}, []string{"deploybot-gateway", "deploybot-worker"}},
	} {
		out, err := helm(t, template("", c.sets...)...)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, o := range decode(t, out) {
			if o.Kind == "PodDisruptionBudget" {
				got = append(got, o.Name)
			}
		}
		sort.Strings(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("with %v: PodDisruptionBudgets %v, want %v", c.sets, got, c.want)
		}
	}
}

// TestBadValuesFail: values the chart cannot honour fail with a message that
// says what is wrong.
func TestBadValuesFail(t *testing.T) {
	helmBin(t)
	cases := []struct {
		name string
		sets []string
		want string
		lint bool
	}{
		// helm lint logs a template's `fail` at INFO level (lint mode) and
		// passes: these are caught by helm template and helm install.
		{"grace period equal to stop timeout", []string{"worker.terminationGracePeriodSeconds=20"},
			"worker.terminationGracePeriodSeconds (20) must exceed worker.stopTimeout (20s)", false},
		{"grace period below stop timeout", []string{"worker.stopTimeout=1m30s", "worker.terminationGracePeriodSeconds=60"},
			"worker.terminationGracePeriodSeconds (60) must exceed worker.stopTimeout (1m30s = 90s)", false},
		{"unknown top-level key", []string{"replicaCount=3"}, "additional properties 'replicaCount' not allowed", true},
		{"misspelt component key", []string{"gateway.replica=3"}, "additional properties 'replica' not allowed", false},
		{"misspelt variable", []string{"config.ARGOCD_ULR=https://argocd.example.com"}, "additional properties 'ARGOCD_ULR' not allowed", true},
		{"secret variable in config", []string{"config.ARGOCD_TOKEN=x"}, "additional properties 'ARGOCD_TOKEN' not allowed", false},
		{"chart-managed variable in config", []string{"config.WORKER_STOP_TIMEOUT=5s"}, "additional properties 'WORKER_STOP_TIMEOUT' not allowed", false},
		{"stop timeout not a duration", []string{"worker.stopTimeout=20 seconds"}, "/worker/stopTimeout", false},
		{"bad log format", []string{"config.LOG_FORMAT=yaml"}, "/config/LOG_FORMAT", false},
		{"one Secret for both", []string{"existingSecret.gateway=creds", "existingSecret.worker=creds"},
			"the gateway would receive ARGOCD_TOKEN", false},
		{"two Argo CD CAs", []string{"argocd.caSecret.name=a", "argocd.caConfigMap.name=b"}, "not both", false},
		{"client cert without key", []string{"temporal.tls.existingSecret=t", "temporal.tls.keyKey="}, "certKey and temporal.tls.keyKey go together", false},
		{"worker ServiceMonitor without Service", []string{"worker.serviceMonitor.enabled=true", "worker.metricsService.enabled=false"}, "needs worker.metricsService.enabled", false},
		{"autoscaling min above max", []string{"gateway.autoscaling.enabled=true", "gateway.autoscaling.minReplicas=6"}, "minReplicas (6) is above maxReplicas (5)", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			runs := [][]string{template("", c.sets...)}
			if c.lint {
				runs = append(runs, append([]string{"lint", "--strict", chartDir, "--kube-version", kubeVersion}, valueArgs("", c.sets...)...))
			}
			for _, args := range runs {
				_, err := helm(t, args...)
				if err == nil {
					t.Fatalf("helm %s succeeded with %v", args[0], c.sets)
				}
				if !strings.Contains(err.Error(), c.want) {
					t.Errorf("helm %s with %v failed without saying %q:\n%v", args[0], c.sets, c.want, err)
				}
			}
		})
	}
	// Just above the limit is fine, whatever the duration's spelling.
	for _, sets := range [][]string{
		{"worker.stopTimeout=1.5m", "worker.terminationGracePeriodSeconds=91"},
		{"worker.stopTimeout=1h0m0.5s", "worker.terminationGracePeriodSeconds=3602"},
		{"worker.stopTimeout=500ms", "worker.terminationGracePeriodSeconds=1"},
	} {
		if _, err := helm(t, template("", sets...)...); err != nil {
			t.Errorf("with %v: %v", sets, err)
		}
	}
}

// TestValuesDocumented: every value has a helm-docs `# --` comment (or sits in
// a block whose values all do), and the README's table lists it.
func TestValuesDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(chartDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yamlv3.Node
	if err := yamlv3.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(prefix string, n *yamlv3.Node)
	walk = func(prefix string, n *yamlv3.Node) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			path := prefix + k.Value
			if strings.Contains(k.HeadComment, "# --") {
				if !bytes.Contains(readme, []byte("| "+path+" |")) {
					t.Errorf("README.md does not list %s: regenerate it with `go run github.com/norwoodj/helm-docs/cmd/helm-docs@v1.14.2 --chart-search-root deploy/helm`", path)
				}
				continue
			}
			if v.Kind == yamlv3.MappingNode && len(v.Content) > 0 {
				walk(path+".", v)
				continue
			}
			t.Errorf("values.yaml: %s has no `# --` comment", path)
		}
	}
	walk("", doc.Content[0])
}

// TestOperationsGuideValues: the my-values.yaml that docs/operations.md
// walks a new user through passes the schema and renders, with the TLS and
// Ingress it promises.
func TestOperationsGuideValues(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)\\*\\*Values\\*\\* \\(`my-values.yaml`\\):\n\n   ```yaml\n(.*?)   ```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/operations.md has no my-values.yaml example")
	}
	var lines []string
	for _, l := range strings.Split(string(m[1]), "\n") {
		lines = append(lines, strings.TrimPrefix(l, "   "))
	}
	file := filepath.Join(t.TempDir(), "my-values.yaml")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := helm(t, append([]string{"lint", "--strict", chartDir, "--kube-version", kubeVersion}, valueArgs(file)...)...); err != nil || !strings.Contains(out, "0 chart(s) failed") {
		t.Fatalf("helm lint with the guide's values: %v\n%s", err, out)
	}
	r := render(t, file)
	if got := r.list(); !slices.Contains(got, "Ingress/deploybot-gateway") || slices.Contains(got, "Secret/deploybot-worker") {
		t.Errorf("the guide's values render %v: want the Ingress and no Secret (existingSecret)", got)
	}
	w := container(t, deployments(t, r)["worker"])
	if v, _ := envValue(w, "ARGOCD_CA_FILE"); v == "" || !mounted(w, v) {
		t.Errorf("the guide's argocd.caSecret: ARGOCD_CA_FILE %q is not a mounted file", v)
	}
}

// approvalPolicy.configMap mounts the policy file in the gateway (only: it
// matches the rules, the runs carry them) and points APPROVAL_POLICY_FILE at it.
func TestApprovalPolicyFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policy-values.yaml")
	if err := os.WriteFile(file, []byte("approvalPolicy:\n  configMap: {name: approval-policy}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := deployments(t, render(t, file))
	g := container(t, d["gateway"])
	if v, _ := envValue(g, "APPROVAL_POLICY_FILE"); v != "/etc/deploybot/approval-policy/policy.yaml" || !mounted(g, v) {
		t.Errorf("gateway: APPROVAL_POLICY_FILE %q is not the mounted policy file", v)
	}
	if _, ok := envValue(container(t, d["worker"]), "APPROVAL_POLICY_FILE"); ok {
		t.Error("the worker gets APPROVAL_POLICY_FILE")
	}
	if _, ok := envValue(container(t, deployments(t, render(t, ""))["gateway"]), "APPROVAL_POLICY_FILE"); ok {
		t.Error("APPROVAL_POLICY_FILE set without approvalPolicy.configMap")
	}
}

// argocd.instancesConfigMap mounts the instances file in the gateway and the
// worker and points ARGOCD_INSTANCES_FILE at it; worker.argocdInstances is
// the worker's WORKER_ARGOCD_INSTANCES.
func TestArgoCDInstancesFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "instances-values.yaml")
	values := "argocd:\n  instancesConfigMap: {name: argocd-instances}\nworker:\n  argocdInstances: [prod, prod-eu]\n"
	if err := os.WriteFile(file, []byte(values), 0o600); err != nil {
		t.Fatal(err)
	}
	r := render(t, file)
	d := deployments(t, r)
	for _, comp := range []string{"gateway", "worker"} {
		c := container(t, d[comp])
		if v, _ := envValue(c, "ARGOCD_INSTANCES_FILE"); v != "/etc/deploybot/argocd-instances/instances.yaml" || !mounted(c, v) {
			t.Errorf("%s: ARGOCD_INSTANCES_FILE %q is not the mounted instances file", comp, v)
		}
	}
	if v, _ := envValue(container(t, d["worker"]), "WORKER_ARGOCD_INSTANCES"); v != "prod,prod-eu" {
		t.Errorf("WORKER_ARGOCD_INSTANCES = %q, want prod,prod-eu", v)
	}
	if _, ok := envValue(container(t, d["gateway"]), "WORKER_ARGOCD_INSTANCES"); ok {
		t.Error("the gateway gets WORKER_ARGOCD_INSTANCES")
	}
	plain := deployments(t, render(t, ""))
	if _, ok := envValue(container(t, plain["worker"]), "ARGOCD_INSTANCES_FILE"); ok {
		t.Error("ARGOCD_INSTANCES_FILE set without argocd.instancesConfigMap")
	}
}
