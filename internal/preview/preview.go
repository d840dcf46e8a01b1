// Package preview says what a sync would change, from what Argo CD's
// ManagedResources reports for each resource (target, live and predicted
// live state): which resources are created, updated or pruned, and which
// fields of them change. It is pure: the activity reads Argo CD, slackui
// words the result.
package preview

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"

	"github.com/deploybot/deploybot/internal/contract"
)

// Bounds keep a preview small enough for a workflow's history and a Slack
// file: a sync that changes more says how much was left out.
const (
	MaxResources = 50
	MaxFields    = 200 // over all resources
	MaxValue     = 200 // characters of one value
)

// Hidden stands in for the values of a Secret: Argo CD masks them already;
// deploybot never shows them either way.
const Hidden = "(hidden)"

// Of is the preview of a sync whose managed resources are items.
func Of(items []*v1alpha1.ResourceDiff) contract.Preview {
	var p contract.Preview
	fields := 0
	for _, d := range items {
		if d == nil || d.Hook {
			continue
		}
		rc, ok := change(d)
		if !ok {
			continue
		}
		if len(p.Resources) == MaxResources {
			p.OmittedResources++
			continue
		}
		if room := MaxFields - fields; len(rc.Fields) > room {
			rc.OmittedFields += len(rc.Fields) - room
			rc.Fields = rc.Fields[:room]
		}
		fields += len(rc.Fields)
		p.Resources = append(p.Resources, rc)
	}
	return p
}

// change is what syncing d would do to its resource; false if nothing.
func change(d *v1alpha1.ResourceDiff) (contract.ResourceChange, bool) {
	rc := contract.ResourceChange{Group: d.Group, Kind: d.Kind, Namespace: d.Namespace, Name: d.Name}
	target, live := parse(d.TargetState), parse(first(d.NormalizedLiveState, d.LiveState))
	switch {
	case target == nil && live == nil:
		return rc, false
	case target == nil:
		rc.Change = contract.ChangePrune
		return rc, true
	case live == nil:
		rc.Change = contract.ChangeCreate
		rc.Fields = diff(flatten(target), nil, d.Kind, false)
		return rc, true
	}
	// Argo CD predicts the live state after the sync (its server-side or
	// three-way diff); without it, fields only the live state has are the
	// server's defaults, not changes.
	after, onlyTarget := flatten(target), true
	if pred := parse(d.PredictedLiveState); pred != nil {
		after, onlyTarget = flatten(pred), false
	}
	rc.Fields = diff(after, flatten(live), d.Kind, onlyTarget)
	if len(rc.Fields) == 0 && !d.Modified {
		return rc, false
	}
	rc.Change = contract.ChangeUpdate
	return rc, true
}

func first(a, b string) string {
	if a != "" && a != "null" {
		return a
	}
	return b
}

// parse reads a state Argo CD sends as JSON; nil for none ("" or "null").
func parse(s string) map[string]any {
	if s == "" || s == "null" {
		return nil
	}
	var m map[string]any
	if json.Unmarshal([]byte(s), &m) != nil {
		return nil
	}
	return m
}

// ignored are fields the cluster keeps, never a sync's change.
var ignored = []string{
	"status", "metadata.managedFields", "metadata.resourceVersion", "metadata.uid",
	"metadata.creationTimestamp", "metadata.generation", "metadata.selfLink",
	"metadata.annotations.kubectl.kubernetes.io/last-applied-configuration",
	"metadata.annotations.deployment.kubernetes.io/revision",
}

func isIgnored(path string) bool {
	for _, p := range ignored {
		if path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[") {
			return true
		}
	}
	return false
}

// flatten maps each leaf of v to its path: spec.replicas,
// spec.template.spec.containers[0].image.
func flatten(v map[string]any) map[string]string {
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if isIgnored(prefix) {
			return
		}
		switch t := v.(type) {
		case map[string]any:
			if len(t) == 0 {
				out[prefix] = "{}"
			}
			for k, x := range t {
				walk(join(prefix, k), x)
			}
		case []any:
			if len(t) == 0 {
				out[prefix] = "[]"
			}
			for i, x := range t {
				walk(fmt.Sprintf("%s[%d]", prefix, i), x)
			}
		default:
			b, _ := json.Marshal(t)
			s := string(b)
			if str, ok := t.(string); ok {
				s = str
			}
			out[prefix] = s
		}
	}
	walk("", v)
	return out
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// diff lists the fields whose value differs between after and before,
// sorted by path; onlyAfter skips fields after does not have.
func diff(after, before map[string]string, kind string, onlyAfter bool) []contract.FieldChange {
	paths := map[string]bool{}
	for p := range after {
		paths[p] = true
	}
	if !onlyAfter {
		for p := range before {
			paths[p] = true
		}
	}
	var out []contract.FieldChange
	for p := range paths {
		a, inA := after[p]
		b, inB := before[p]
		if inA == inB && a == b {
			continue
		}
		fc := contract.FieldChange{Path: p}
		if inB {
			fc.From = bound(b)
		}
		if inA {
			fc.To = bound(a)
		}
		if kind == "Secret" && (strings.HasPrefix(p, "data.") || strings.HasPrefix(p, "stringData.")) {
			fc.From, fc.To = hide(inB), hide(inA)
		}
		out = append(out, fc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func hide(present bool) string {
	if present {
		return Hidden
	}
	return ""
}

func bound(s string) string {
	if r := []rune(s); len(r) > MaxValue {
		return string(r[:MaxValue]) + "…"
	}
	return s
}

// Against is the preview of applying manifests (what Argo CD's GetManifests
// renders for a rollback's revision) to the app whose managed resources are
// live: each manifest against its live resource, and live resources the
// manifests lack as to prune. namespace is the app's destination, which
// manifests without one are applied to.
func Against(manifests []string, live []*v1alpha1.ResourceDiff, namespace string) contract.Preview {
	type key struct{ group, kind, namespace, name string }
	byKey := map[key]*v1alpha1.ResourceDiff{}
	for _, d := range live {
		if d != nil && !d.Hook {
			byKey[key{d.Group, d.Kind, d.Namespace, d.Name}] = d
		}
	}
	var items []*v1alpha1.ResourceDiff
	for _, m := range manifests {
		obj := parse(m)
		if obj == nil {
			continue
		}
		meta, _ := obj["metadata"].(map[string]any)
		apiVersion, _ := obj["apiVersion"].(string)
		kind, _ := obj["kind"].(string)
		name, _ := meta["name"].(string)
		ns, _ := meta["namespace"].(string)
		group, _, _ := strings.Cut(apiVersion, "/")
		if !strings.Contains(apiVersion, "/") {
			group = "" // the core group: "v1"
		}
		k := key{group, kind, ns, name}
		cur, found := byKey[k]
		if !found && ns == "" {
			k.namespace = namespace
			cur, found = byKey[k]
		}
		d := &v1alpha1.ResourceDiff{Group: group, Kind: kind, Namespace: k.namespace, Name: name, TargetState: m, Hook: isHook(meta)}
		if found {
			delete(byKey, k)
			d.LiveState, d.NormalizedLiveState = cur.LiveState, cur.NormalizedLiveState
		}
		items = append(items, d)
	}
	rest := make([]*v1alpha1.ResourceDiff, 0, len(byKey))
	for _, d := range byKey {
		if parse(first(d.NormalizedLiveState, d.LiveState)) != nil {
			rest = append(rest, &v1alpha1.ResourceDiff{Group: d.Group, Kind: d.Kind, Namespace: d.Namespace, Name: d.Name, LiveState: d.LiveState, NormalizedLiveState: d.NormalizedLiveState})
		}
	}
	sort.Slice(rest, func(i, j int) bool {
		a, b := rest[i], rest[j]
		return a.Group+"/"+a.Kind+"/"+a.Namespace+"/"+a.Name < b.Group+"/"+b.Kind+"/"+b.Namespace+"/"+b.Name
	})
	return Of(append(items, rest...))
}

// isHook says whether a rendered resource is an Argo CD or Helm hook, which
// runs during the operation rather than being kept in sync.
func isHook(meta map[string]any) bool {
	ann, _ := meta["annotations"].(map[string]any)
	_, argo := ann["argocd.argoproj.io/hook"]
	_, helm := ann["helm.sh/hook"]
	return argo || helm
}
