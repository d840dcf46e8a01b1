package argowire_test

import (
	"testing"

	applicationpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/application"
	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/deploybot/deploybot/internal/argowire"
)

func ptr(b bool) *bool { return &b }

func app(name string, automated *v1alpha1.SyncPolicyAutomated) v1alpha1.Application {
	a := v1alpha1.Application{}
	a.Name = name
	a.Spec.Project = "default"
	a.Spec.SyncPolicy = &v1alpha1.SyncPolicy{Automated: automated, SyncOptions: []string{"CreateNamespace=true"}}
	a.Status.Sync.Status = v1alpha1.SyncStatusCodeSynced
	return a
}

func marshal(t *testing.T, m interface{ Marshal() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func show(a []argowire.Automated) []string {
	var out []string
	for _, x := range a {
		switch {
		case x.Enabled == nil:
			out = append(out, "unset")
		case *x.Enabled:
			out = append(out, "true")
		default:
			out = append(out, "false")
		}
	}
	return out
}

func TestRewriteThenFindKeepsEverythingElse(t *testing.T) {
	a := app("payments", &v1alpha1.SyncPolicyAutomated{Prune: true, SelfHeal: true})
	raw := marshal(t, &a)

	found, err := argowire.Find(raw, argowire.ApplicationAutomated)
	if err != nil || len(found) != 1 || found[0].Enabled != nil || !found[0].On() {
		t.Fatalf("before: %v %v, want one automated without enabled (on)", show(found), err)
	}
	for _, want := range []*bool{ptr(false), ptr(true), nil} {
		out, err := argowire.Rewrite(raw, argowire.ApplicationAutomated, func(int, argowire.Automated) *bool { return want })
		if err != nil {
			t.Fatal(err)
		}
		found, err := argowire.Find(out, argowire.ApplicationAutomated)
		if err != nil || len(found) != 1 {
			t.Fatalf("found %v %v", show(found), err)
		}
		if (want == nil) != (found[0].Enabled == nil) || (want != nil && *want != *found[0].Enabled) {
			t.Fatalf("wrote %v, read %v", want, show(found))
		}
		if want != nil && *want == false && found[0].On() {
			t.Fatal("enabled:false reads as on")
		}
		// The v2 type still decodes everything it knows, and drops enabled.
		var back v1alpha1.Application
		if err := back.Unmarshal(out); err != nil {
			t.Fatal(err)
		}
		if back.Name != "payments" || !back.Spec.SyncPolicy.Automated.Prune || !back.Spec.SyncPolicy.Automated.SelfHeal ||
			back.Spec.SyncPolicy.SyncOptions[0] != "CreateNamespace=true" || back.Status.Sync.Status != v1alpha1.SyncStatusCodeSynced {
			t.Fatalf("other fields changed: %+v", back.Spec.SyncPolicy)
		}
		if reenc := marshal(t, &back); len(reenc) != len(raw) {
			t.Fatalf("re-encoded v2 app is %d bytes, want the original %d (enabled dropped)", len(reenc), len(raw))
		}
	}
}

func TestRewriteReplacesAnEarlierEnabled(t *testing.T) {
	a := app("payments", &v1alpha1.SyncPolicyAutomated{Prune: true})
	raw := marshal(t, &a)
	off, _ := argowire.Rewrite(raw, argowire.ApplicationAutomated, func(int, argowire.Automated) *bool { return ptr(false) })
	on, err := argowire.Rewrite(off, argowire.ApplicationAutomated, func(_ int, cur argowire.Automated) *bool {
		if cur.Enabled == nil || *cur.Enabled {
			t.Errorf("set saw %v, want the false written before", show([]argowire.Automated{cur}))
		}
		return ptr(true)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(on) != len(off) {
		t.Fatalf("rewriting enabled grew the message from %d to %d bytes: the old field was kept", len(off), len(on))
	}
	found, _ := argowire.Find(on, argowire.ApplicationAutomated)
	if got := show(found); len(got) != 1 || got[0] != "true" {
		t.Fatalf("found %v", got)
	}
}

func TestNoAutomatedNoChange(t *testing.T) {
	a := app("guestbook", nil)
	raw := marshal(t, &a)
	calls := 0
	out, err := argowire.Rewrite(raw, argowire.ApplicationAutomated, func(int, argowire.Automated) *bool { calls++; return ptr(false) })
	if err != nil || calls != 0 || string(out) != string(raw) {
		t.Fatalf("calls %d, changed %v, err %v", calls, string(out) != string(raw), err)
	}
	if found, err := argowire.Find(raw, argowire.ApplicationAutomated); err != nil || len(found) != 0 {
		t.Fatalf("found %v %v in an app without automated", show(found), err)
	}
}

func TestRepeatedAndNestedPaths(t *testing.T) {
	list := v1alpha1.ApplicationList{Items: []v1alpha1.Application{
		app("a", &v1alpha1.SyncPolicyAutomated{}),
		app("b", nil),
		app("c", &v1alpha1.SyncPolicyAutomated{Prune: true}),
	}}
	raw := marshal(t, &list)
	var seen []int
	out, err := argowire.Rewrite(raw, argowire.ListAutomated, func(i int, _ argowire.Automated) *bool {
		seen = append(seen, i)
		return ptr(i == 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 {
		t.Fatalf("set called for %v, want the two apps with automated", seen)
	}
	found, _ := argowire.Find(out, argowire.ListAutomated)
	if got := show(found); len(got) != 2 || got[0] != "true" || got[1] != "false" {
		t.Fatalf("found %v, want [true false] for a and c", got)
	}
	var back v1alpha1.ApplicationList
	if err := back.Unmarshal(out); err != nil || len(back.Items) != 3 || back.Items[2].Name != "c" || !back.Items[2].Spec.SyncPolicy.Automated.Prune {
		t.Fatalf("list no longer decodes: %v", err)
	}

	spec := app("x", &v1alpha1.SyncPolicyAutomated{SelfHeal: true}).Spec
	name := "x"
	req := applicationpkg.ApplicationUpdateSpecRequest{Name: &name, Spec: &spec}
	rraw := marshal(t, &req)
	rout, err := argowire.Rewrite(rraw, argowire.UpdateSpecAutomated, func(int, argowire.Automated) *bool { return ptr(false) })
	if err != nil {
		t.Fatal(err)
	}
	found, _ = argowire.Find(rout, argowire.UpdateSpecAutomated)
	if got := show(found); len(got) != 1 || got[0] != "false" {
		t.Fatalf("update spec: found %v", got)
	}
	created := app("y", &v1alpha1.SyncPolicyAutomated{})
	creq := applicationpkg.ApplicationCreateRequest{Application: &created}
	cout, _ := argowire.Rewrite(marshal(t, &creq), argowire.CreateAutomated, func(int, argowire.Automated) *bool { return ptr(false) })
	if found, _ := argowire.Find(cout, argowire.CreateAutomated); len(found) != 1 || found[0].On() {
		t.Fatalf("create: found %v", show(found))
	}
	ev := v1alpha1.ApplicationWatchEvent{Type: "MODIFIED", Application: created}
	wout, _ := argowire.Rewrite(marshal(t, &ev), argowire.WatchEventAutomated, func(int, argowire.Automated) *bool { return ptr(false) })
	if found, _ := argowire.Find(wout, argowire.WatchEventAutomated); len(found) != 1 || found[0].On() {
		t.Fatalf("watch event: found %v", show(found))
	}
}

func TestMalformed(t *testing.T) {
	a := app("payments", &v1alpha1.SyncPolicyAutomated{Prune: true})
	raw := marshal(t, &a)
	if _, err := argowire.Find(raw[:len(raw)/2], argowire.ApplicationAutomated); err == nil {
		// A cut can land between fields; cut inside the spec instead.
		if _, err := argowire.Find(raw[:3], argowire.ApplicationAutomated); err == nil {
			t.Fatal("a truncated message was read without error")
		}
	}
	// enabled with the wrong wire type.
	bad := protowire.AppendTag(nil, argowire.EnabledField, protowire.BytesType)
	bad = protowire.AppendBytes(bad, []byte("x"))
	msg := protowire.AppendTag(nil, 1, protowire.BytesType)
	msg = protowire.AppendBytes(msg, bad)
	if _, err := argowire.Find(msg, argowire.Path{1}); err == nil {
		t.Fatal("enabled as bytes was accepted")
	}
}

func FuzzRewrite(f *testing.F) {
	a := app("payments", &v1alpha1.SyncPolicyAutomated{Prune: true})
	raw, _ := a.Marshal()
	f.Add(raw, byte(0))
	f.Add([]byte{0x12, 0x02, 0x22, 0x00}, byte(1))
	f.Fuzz(func(t *testing.T, msg []byte, mode byte) {
		var v *bool
		if mode%3 != 2 {
			v = ptr(mode%3 == 1)
		}
		out, err := argowire.Rewrite(msg, argowire.ApplicationAutomated, func(int, argowire.Automated) *bool { return v })
		if err != nil {
			return
		}
		found, err := argowire.Find(out, argowire.ApplicationAutomated)
		if err != nil {
			t.Fatalf("rewritten message does not parse: %v", err)
		}
		for _, x := range found {
			if (v == nil) != (x.Enabled == nil) || (v != nil && *v != *x.Enabled) {
				t.Fatalf("wrote %v, read %v", v, show(found))
			}
		}
	})
}
