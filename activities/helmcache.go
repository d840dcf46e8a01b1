package activities

import (
	"github.com/Masterminds/semver/v3"
	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v2/util/git"
	lru "github.com/hashicorp/golang-lru/v2"
)

// HelmParamsCache remembers the Helm parameters Argo CD rendered for an
// app's source at an immutable revision (a git commit, an exact chart
// version), so a repeated rollback_revisions table costs no chart renders.
// Safe for concurrent use; a nil cache remembers nothing.
type HelmParamsCache struct {
	lru *lru.Cache[string, map[string]string]
}

// NewHelmParamsCache keeps at most size lookups, dropping the least recently
// used; size <= 0 returns nil (no cache).
func NewHelmParamsCache(size int) *HelmParamsCache {
	if size <= 0 {
		return nil
	}
	c, err := lru.New[string, map[string]string](size)
	if err != nil { // only for size <= 0, excluded above
		return nil
	}
	return &HelmParamsCache{lru: c}
}

// Len is how many lookups are remembered.
func (c *HelmParamsCache) Len() int {
	if c == nil {
		return 0
	}
	return c.lru.Len()
}

func (c *HelmParamsCache) get(key string) (map[string]string, bool) {
	if c == nil || key == "" {
		return nil, false
	}
	return c.lru.Get(key)
}

func (c *HelmParamsCache) add(key string, params map[string]string) {
	if c == nil || key == "" {
		return
	}
	c.lru.Add(key, params)
}

// immutableRevisions reports whether every source of h is pinned to content
// that cannot change: a full git commit SHA, or an exact version of a chart
// from a Helm repository. Branches, tags and version ranges can move.
func immutableRevisions(h *v1alpha1.RevisionHistory) bool {
	if h == nil {
		return false
	}
	if len(h.Sources) > 0 {
		if len(h.Revisions) != len(h.Sources) {
			return false
		}
		for i := range h.Sources {
			if !immutableRevision(&h.Sources[i], h.Revisions[i]) {
				return false
			}
		}
		return true
	}
	return immutableRevision(&h.Source, h.Revision)
}

func immutableRevision(src *v1alpha1.ApplicationSource, rev string) bool {
	if src.Chart != "" {
		_, err := semver.StrictNewVersion(rev)
		return err == nil
	}
	return git.IsCommitSHA(rev)
}
