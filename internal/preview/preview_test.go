package preview_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/preview"
)

const (
	liveDep = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"guestbook","namespace":"default","resourceVersion":"41","uid":"u1",
		"annotations":{"deployment.kubernetes.io/revision":"3"}},"spec":{"replicas":2,"progressDeadlineSeconds":600,
		"template":{"spec":{"containers":[{"name":"web","image":"guestbook:1.4.2"}]}}},"status":{"readyReplicas":2}}`
	targetDep = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"guestbook","namespace":"default"},"spec":{"replicas":3,
		"template":{"spec":{"containers":[{"name":"web","image":"guestbook:1.5.0"}]}}}}`
)

func fields(rc contract.ResourceChange) string {
	var s []string
	for _, f := range rc.Fields {
		s = append(s, fmt.Sprintf("%s: %q → %q", f.Path, f.From, f.To))
	}
	return strings.Join(s, "; ")
}

func TestPreviewCreateUpdatePrune(t *testing.T) {
	p := preview.Of([]*v1alpha1.ResourceDiff{
		{Kind: "Deployment", Namespace: "default", Name: "guestbook", Group: "apps", TargetState: targetDep, LiveState: liveDep, Modified: true},
		{Kind: "ConfigMap", Namespace: "default", Name: "guestbook-env", TargetState: `{"kind":"ConfigMap","data":{"MODE":"fast"}}`, LiveState: "null"},
		{Kind: "Service", Namespace: "default", Name: "old", TargetState: "null", LiveState: `{"kind":"Service"}`},
		{Kind: "Service", Namespace: "default", Name: "same", TargetState: `{"kind":"Service","spec":{"port":80}}`, LiveState: `{"kind":"Service","spec":{"port":80,"clusterIP":"10.0.0.1"}}`},
		{Kind: "Job", Name: "migrate", Hook: true, TargetState: `{"kind":"Job"}`, LiveState: "null"},
	})
	if len(p.Resources) != 3 {
		t.Fatalf("resources = %+v, want the Deployment, the ConfigMap and the pruned Service", p.Resources)
	}
	dep, cm, svc := p.Resources[0], p.Resources[1], p.Resources[2]
	// Server defaults (progressDeadlineSeconds), status and bookkeeping
	// metadata are not changes; the image and the replicas are.
	if dep.Change != contract.ChangeUpdate || fields(dep) != `spec.replicas: "2" → "3"; spec.template.spec.containers[0].image: "guestbook:1.4.2" → "guestbook:1.5.0"` {
		t.Errorf("deployment = %s %s", dep.Change, fields(dep))
	}
	if cm.Change != contract.ChangeCreate || fields(cm) != `data.MODE: "" → "fast"; kind: "" → "ConfigMap"` {
		t.Errorf("configmap = %s %s", cm.Change, fields(cm))
	}
	if svc.Change != contract.ChangePrune || svc.Name != "old" {
		t.Errorf("service = %+v", svc)
	}
}

// With Argo CD's predicted live state, fields the sync removes show too.
func TestPreviewUsesThePredictedLiveState(t *testing.T) {
	p := preview.Of([]*v1alpha1.ResourceDiff{{
		Kind: "ConfigMap", Name: "env", Modified: true,
		TargetState: `{"data":{"A":"1"}}`, LiveState: `{"data":{"A":"1","B":"2"}}`, PredictedLiveState: `{"data":{"A":"1"}}`,
	}})
	if len(p.Resources) != 1 || fields(p.Resources[0]) != `data.B: "2" → ""` {
		t.Errorf("preview = %+v", p)
	}
}

func TestPreviewNeverShowsSecretValues(t *testing.T) {
	p := preview.Of([]*v1alpha1.ResourceDiff{{
		Kind: "Secret", Name: "db", Modified: true,
		TargetState: `{"data":{"password":"bmV3"},"type":"Opaque"}`, LiveState: `{"data":{"password":"b2xk"},"type":"Opaque"}`,
	}})
	got := fields(p.Resources[0])
	if got != `data.password: "(hidden)" → "(hidden)"` || strings.Contains(got, "bmV3") || strings.Contains(got, "b2xk") {
		t.Errorf("secret preview = %s", got)
	}
}

func TestPreviewIsBounded(t *testing.T) {
	var items []*v1alpha1.ResourceDiff
	for i := range preview.MaxResources + 5 {
		var data []string
		for k := range 10 {
			data = append(data, fmt.Sprintf(`"k%d":"%s"`, k, strings.Repeat("v", preview.MaxValue+50)))
		}
		items = append(items, &v1alpha1.ResourceDiff{Kind: "ConfigMap", Name: fmt.Sprintf("c%d", i),
			TargetState: `{"data":{` + strings.Join(data, ",") + `}}`, LiveState: "null"})
	}
	p := preview.Of(items)
	n := 0
	for _, r := range p.Resources {
		n += len(r.Fields)
		for _, f := range r.Fields {
			if len([]rune(f.To)) > preview.MaxValue+1 {
				t.Fatalf("value of %d runes", len([]rune(f.To)))
			}
		}
	}
	if len(p.Resources) != preview.MaxResources || p.OmittedResources != 5 || n != preview.MaxFields {
		t.Errorf("%d resources (%d omitted), %d fields; want %d, 5, %d", len(p.Resources), p.OmittedResources, n, preview.MaxResources, preview.MaxFields)
	}
}

// A rollback's preview compares the manifests its revision renders with
// the live resources: a manifest without a namespace is the app's
// destination's, a live resource the revision lacks is to prune, hooks and
// unchanged resources are left out.
func TestPreviewAgainstRenderedManifests(t *testing.T) {
	live := []*v1alpha1.ResourceDiff{
		{Group: "apps", Kind: "Deployment", Namespace: "default", Name: "guestbook", LiveState: liveDep, TargetState: liveDep},
		{Kind: "Service", Namespace: "default", Name: "guestbook", LiveState: `{"apiVersion":"v1","kind":"Service","metadata":{"name":"guestbook","namespace":"default"},"spec":{"port":80,"clusterIP":"10.0.0.1"}}`},
		{Kind: "ConfigMap", Namespace: "default", Name: "added-later", LiveState: `{"apiVersion":"v1","kind":"ConfigMap","data":{"A":"1"}}`},
		{Kind: "Pod", Namespace: "default", Name: "gone", LiveState: "null", TargetState: `{"kind":"Pod"}`},
	}
	manifests := []string{
		`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"guestbook"},"spec":{"replicas":3,"template":{"spec":{"containers":[{"name":"web","image":"guestbook:1.3.0"}]}}}}`,
		`{"apiVersion":"v1","kind":"Service","metadata":{"name":"guestbook","namespace":"default"},"spec":{"port":80}}`,
		`{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"migrate","annotations":{"argocd.argoproj.io/hook":"PreSync"}}}`,
		`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"creds"},"data":{"password":"c2VjcmV0"}}`,
		`not json`,
	}
	p := preview.Against(manifests, live, "default")
	var got []string
	for _, r := range p.Resources {
		got = append(got, r.Change+" "+r.Kind+"/"+r.Namespace+"/"+r.Name+" "+fields(r))
	}
	want := []string{
		`update Deployment/default/guestbook spec.replicas: "2" → "3"; spec.template.spec.containers[0].image: "guestbook:1.4.2" → "guestbook:1.3.0"`,
		`create Secret/default/creds apiVersion: "" → "v1"; data.password: "" → "(hidden)"; kind: "" → "Secret"; metadata.name: "" → "creds"`,
		`prune ConfigMap/default/added-later `,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("preview:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
