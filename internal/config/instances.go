package config

import (
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/deploybot/deploybot/internal/contract"
)

// ArgoCDInstance is one Argo CD server deploybot acts on, as named in
// ARGOCD_INSTANCES_FILE (or the one server of ARGOCD_URL, named "").
type ArgoCDInstance struct {
	// Name is what commands write after '@' (guestbook@prod).
	Name string `json:"name"`
	URL  string `json:"url"`
	// TokenEnv names the environment variable holding the API token;
	// TokenFile is a file holding it (a mounted Secret). Exactly one.
	TokenEnv  string `json:"tokenEnv,omitempty"`
	TokenFile string `json:"tokenFile,omitempty"`
	CAFile    string `json:"caFile,omitempty"`
	// VerifySSL defaults to true.
	VerifySSL *bool `json:"verifySSL,omitempty"`
	GRPCWeb   bool  `json:"grpcWeb,omitempty"`
	// Namespace Argo CD runs in there; default ARGOCD_NAMESPACE.
	Namespace string `json:"namespace,omitempty"`
	// Projects, if set, are the only AppProjects deploybot may use there.
	Projects []string `json:"projects,omitempty"`
	// TaskQueue, if set, is where this instance's runs go, for a worker
	// fleet of its own (WORKER_ARGOCD_INSTANCES); default TEMPORAL_TASK_QUEUE.
	TaskQueue string `json:"taskQueue,omitempty"`

	token string // ARGOCD_TOKEN for the instance of ARGOCD_URL
}

// Verify is VerifySSL with its default.
func (i ArgoCDInstance) Verify() bool { return i.VerifySSL == nil || *i.VerifySSL }

// Token reads the instance's API token.
func (i ArgoCDInstance) Token() (string, error) {
	switch {
	case i.TokenEnv != "":
		t := strings.TrimSpace(os.Getenv(i.TokenEnv))
		if t == "" {
			return "", fmt.Errorf("Argo CD instance %q: %s (its tokenEnv) is empty: export the API token of deploybot's account there, e.g. %s=eyJhbGciOi…", i.Name, i.TokenEnv, i.TokenEnv)
		}
		return t, nil
	case i.TokenFile != "":
		b, err := os.ReadFile(i.TokenFile)
		if err != nil {
			return "", fmt.Errorf("Argo CD instance %q: read its tokenFile: %w; mount the token Secret there, e.g. /var/run/secrets/argocd-%s/token", i.Name, err, i.Name)
		}
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
		return "", fmt.Errorf("Argo CD instance %q: its tokenFile %s is empty", i.Name, i.TokenFile)
	}
	return i.token, nil
}

// ArgoCDInstances is every Argo CD deploybot acts on and the default one
// (the instance of an app named without '@').
type ArgoCDInstances struct {
	Default   string           `json:"default,omitempty"`
	Instances []ArgoCDInstance `json:"instances"`
}

// Get returns the named instance ("" = the default).
func (s ArgoCDInstances) Get(name string) (ArgoCDInstance, bool) {
	if name == "" {
		name = s.Default
	}
	for _, i := range s.Instances {
		if i.Name == name {
			return i, true
		}
	}
	return ArgoCDInstance{}, false
}

// Names lists the instances, for messages.
func (s ArgoCDInstances) Names() []string {
	out := make([]string, len(s.Instances))
	for k, i := range s.Instances {
		out[k] = i.Name
	}
	return out
}

// ArgoCDInstances reads ARGOCD_INSTANCES_FILE, or makes the one instance
// of ARGOCD_URL/ARGOCD_TOKEN/... (named "") when it is not set.
func (c *Config) ArgoCDInstances() (ArgoCDInstances, error) {
	if c.ArgoCDInstancesFile == "" {
		verify := c.ArgoCDVerifySSL
		return ArgoCDInstances{Instances: []ArgoCDInstance{{
			URL: c.ArgoCDURL, token: c.ArgoCDToken, CAFile: c.ArgoCDCAFile, VerifySSL: &verify,
			GRPCWeb: c.ArgoCDGRPCWeb, Namespace: c.ArgoCDNamespace,
		}}}, nil
	}
	b, err := os.ReadFile(c.ArgoCDInstancesFile)
	if err != nil {
		return ArgoCDInstances{}, fmt.Errorf("ARGOCD_INSTANCES_FILE: %w; point it at the YAML file naming each Argo CD, e.g. /etc/deploybot/argocd-instances.yaml", err)
	}
	return c.parseInstances(b)
}

func (c *Config) parseInstances(b []byte) (ArgoCDInstances, error) {
	file := c.ArgoCDInstancesFile
	var s ArgoCDInstances
	if err := yaml.UnmarshalStrict(b, &s); err != nil {
		return s, fmt.Errorf("ARGOCD_INSTANCES_FILE %s is not a valid instances file: %v; see docs/operations.md#more-than-one-argo-cd", file, err)
	}
	if len(s.Instances) == 0 {
		return s, fmt.Errorf("ARGOCD_INSTANCES_FILE %s names no instances: list them under instances:, e.g. - {name: prod, url: https://argocd.prod.example.com, tokenEnv: ARGOCD_TOKEN_PROD}", file)
	}
	seen := map[string]bool{}
	for k := range s.Instances {
		i := &s.Instances[k]
		where := fmt.Sprintf("ARGOCD_INSTANCES_FILE %s, instance %d (%q)", file, k+1, i.Name)
		if err := contract.ValidateInstanceName(i.Name); err != nil {
			return s, fmt.Errorf("%s: %v", where, err)
		}
		if seen[i.Name] {
			return s, fmt.Errorf("%s: the name is used twice; every instance needs its own", where)
		}
		seen[i.Name] = true
		if what := checkArgoCDURL(i.URL); what != "" {
			return s, fmt.Errorf("%s: url %s, e.g. https://argocd.%s.example.com", where, what, i.Name)
		}
		if (i.TokenEnv == "") == (i.TokenFile == "") {
			return s, fmt.Errorf("%s: set exactly one of tokenEnv (an environment variable, e.g. ARGOCD_TOKEN_%s) and tokenFile (a mounted Secret)", where, strings.ToUpper(strings.ReplaceAll(i.Name, "-", "_")))
		}
		if i.Namespace == "" {
			i.Namespace = c.ArgoCDNamespace
		}
		if err := contract.ValidateNamespace(i.Namespace); err != nil {
			return s, fmt.Errorf("%s: namespace (where this Argo CD runs): %v, e.g. argocd", where, err)
		}
		for _, p := range i.Projects {
			if err := contract.ValidateProjectName(p); err != nil {
				return s, fmt.Errorf("%s: projects: %v", where, err)
			}
		}
	}
	if s.Default == "" {
		s.Default = s.Instances[0].Name
	}
	if !seen[s.Default] {
		return s, fmt.Errorf("ARGOCD_INSTANCES_FILE %s: default %q is not one of the instances (%s)", file, s.Default, strings.Join(s.Names(), ", "))
	}
	return s, nil
}

// checkInstancesFile reports a file that cannot be read or is not valid.
func (c *Config) checkInstancesFile(ps *problems) {
	if c.ArgoCDInstancesFile == "" {
		if len(c.WorkerArgoCDInstances) > 0 {
			ps.add(Problem{"WORKER_ARGOCD_INSTANCES", "is set, but ARGOCD_INSTANCES_FILE is not: name the instances in that file first", "prod"})
		}
		return
	}
	s, err := c.ArgoCDInstances()
	if err != nil {
		ps.add(Problem{"ARGOCD_INSTANCES_FILE", strings.TrimPrefix(err.Error(), "ARGOCD_INSTANCES_FILE "), "/etc/deploybot/argocd-instances.yaml"})
		return
	}
	for _, n := range c.WorkerArgoCDInstances {
		if _, ok := s.Get(n); !ok || n == "" {
			ps.add(Problem{"WORKER_ARGOCD_INSTANCES", fmt.Sprintf("names %q, which is not an instance of ARGOCD_INSTANCES_FILE (%s)", n, strings.Join(s.Names(), ", ")), s.Default})
		}
	}
}

// checkWorkerInstances: no ARGOCD_URL/ARGOCD_TOKEN beside the file, and
// every instance the worker serves has its token.
func (c *Config) checkWorkerInstances(ps *problems) {
	// Which would win? Make the operator say.
	for _, v := range [][2]string{{"ARGOCD_URL", c.ArgoCDURL}, {"ARGOCD_TOKEN", c.ArgoCDToken}} {
		if v[1] != "" {
			ps.add(Problem{v[0], "is set, and so is ARGOCD_INSTANCES_FILE: put this Argo CD in the file as an instance and unset " + v[0], ""})
		}
	}
	s, err := c.ArgoCDInstances()
	if err != nil {
		return // reported by checkInstancesFile
	}
	for _, i := range c.ServedInstances(s) {
		if _, err := i.Token(); err != nil {
			ps.add(Problem{"ARGOCD_INSTANCES_FILE", err.Error(), ""})
		}
	}
}

// ServedInstances are the instances of s this worker serves
// (WORKER_ARGOCD_INSTANCES, default all).
func (c *Config) ServedInstances(s ArgoCDInstances) []ArgoCDInstance {
	if len(c.WorkerArgoCDInstances) == 0 {
		return s.Instances
	}
	var out []ArgoCDInstance
	for _, n := range c.WorkerArgoCDInstances {
		if i, ok := s.Get(n); ok && n != "" {
			out = append(out, i)
		}
	}
	return out
}
