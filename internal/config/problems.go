package config

import (
	"fmt"
	"slices"
	"strings"
)

// Problem is one thing wrong with the configuration. Messages never contain
// the value of a secret.
type Problem struct {
	Var     string // the environment variable, e.g. ARGOCD_URL
	What    string // what is wrong and what to do, phrased to follow Var
	Example string // a good value; "" when none fits
}

// Error reads "VAR what, e.g. example".
func (p Problem) Error() string {
	if p.Example == "" {
		return p.Var + " " + p.What
	}
	return p.Var + " " + p.What + ", e.g. " + p.Example
}

// ProblemsError reports every configuration problem at once, so one restart
// is enough to fix them all.
type ProblemsError struct {
	Problems []Problem
}

// Error lists the problems one per line under a count.
func (e *ProblemsError) Error() string {
	var b strings.Builder
	if len(e.Problems) == 1 {
		b.WriteString("configuration has 1 problem:")
	} else {
		fmt.Fprintf(&b, "configuration has %d problems:", len(e.Problems))
	}
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Has reports whether any problem concerns the variable name.
func (e *ProblemsError) Has(name string) bool {
	return slices.ContainsFunc(e.Problems, func(p Problem) bool { return p.Var == name })
}

// problems collects Problems without duplicates.
type problems []Problem

func (ps *problems) add(p Problem) {
	if !slices.Contains(*ps, p) {
		*ps = append(*ps, p)
	}
}

// err returns nil or a *ProblemsError ordered like the variables in Config,
// so related problems stay together whatever check found them.
func (ps problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	out := slices.Clone([]Problem(ps))
	slices.SortStableFunc(out, func(a, b Problem) int { return varOrder(a.Var) - varOrder(b.Var) })
	return &ProblemsError{Problems: out}
}

func merge(errs ...*ProblemsError) problems {
	var ps problems
	for _, e := range errs {
		if e != nil {
			for _, p := range e.Problems {
				ps.add(p)
			}
		}
	}
	return ps
}

// varOrder is the position of a variable in Config; aliases sort with the
// variable they stand for.
func varOrder(name string) int {
	for cur, old := range aliases {
		if name == old {
			name = cur
		}
	}
	if f, ok := fieldByEnv(name); ok {
		return f.index
	}
	return len(fieldList) + 1
}
