package worker

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/deploybot/deploybot/internal/argocd"
	"github.com/deploybot/deploybot/internal/config"
)

// ArgoCDFromConfig connects to the Argo CD instances this worker serves
// (ARGOCD_URL, or ARGOCD_INSTANCES_FILE narrowed by WORKER_ARGOCD_INSTANCES)
// and returns the task queue they share: a worker polls one queue, so
// instances with task queues of their own need a worker (fleet) each.
func ArgoCDFromConfig(cfg *config.Config, log *slog.Logger, userAgent string) (*argocd.Instances, string, error) {
	set, err := cfg.ArgoCDInstances()
	if err != nil {
		return nil, "", err
	}
	served := cfg.ServedInstances(set)
	queues := map[string][]string{}
	var list []argocd.Instance
	closeAll := func() {
		for _, i := range list {
			_ = i.Client.Close()
		}
	}
	for _, i := range served {
		q := i.TaskQueue
		if q == "" {
			q = cfg.TemporalTaskQueue
		}
		queues[q] = append(queues[q], i.Name)
		token, err := i.Token()
		if err != nil {
			closeAll()
			return nil, "", err
		}
		c, err := argocd.New(argocd.Options{URL: i.URL, Token: token, GRPCWeb: i.GRPCWeb, CAFile: i.CAFile,
			VerifySSL: i.Verify(), UserAgent: userAgent, Logger: log.With("argocdInstance", i.Name)})
		if err != nil {
			closeAll()
			if i.Name != "" {
				return nil, "", fmt.Errorf("Argo CD instance %q: %w", i.Name, err)
			}
			return nil, "", err
		}
		list = append(list, argocd.Instance{Name: i.Name, Client: c, Namespace: i.Namespace, Projects: i.Projects})
	}
	if len(queues) != 1 {
		closeAll()
		var parts []string
		for q, names := range queues {
			parts = append(parts, fmt.Sprintf("%s (%s)", q, strings.Join(names, ", ")))
		}
		sort.Strings(parts)
		return nil, "", fmt.Errorf("the Argo CD instances this worker serves use %d task queues: %s; a worker polls one, so set WORKER_ARGOCD_INSTANCES to the instances of one queue and run a worker per queue, e.g. WORKER_ARGOCD_INSTANCES=%s",
			len(queues), strings.Join(parts, "; "), served[0].Name)
	}
	var queue string
	for q := range queues {
		queue = q
	}
	in, err := argocd.NewInstances(set.Default, list...)
	if err != nil {
		closeAll()
		return nil, "", err
	}
	return in, queue, nil
}
