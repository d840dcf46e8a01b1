package testenv

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// twoWords is what makes a string literal read as words for a person: two
// words of two or more letters in a row ("could not", "Auto-sync is"), as
// opposed to ids, keys, formats and separators ("deploy-", "%s %s", " ").
var twoWords = regexp.MustCompile(`[A-Za-z]{2,}[,;:.]?\s+[A-Za-z]{2,}`)

// logMethods are slog's and Temporal's logger methods: their messages are for
// operators reading logs, not for users reading Slack.
var logMethods = []string{"Debug", "Info", "Warn", "Error"}

// NoSentences fails t for every string literal in the non-test Go files of
// dir (relative to the repository root) that reads as words, so that
// sentences users read are written in slackui (and emailview) only. A literal
// is allowed inside the arguments of a logger method, or of a call whose
// function's name is in allowCalls (operator-facing text such as HTTP API
// errors). An allowCalls entry names a function or method ("apiErr"), or a
// package's function as written at the call ("errors.New"), which allows
// only that package's.
func NoSentences(t testing.TB, dir string, allowCalls ...string) {
	t.Helper()
	for _, f := range Sentences(t, dir, allowCalls...) {
		t.Errorf("%s writes words a user reads: %s; write them in internal/slackui (or internal/emailview) and pass domain types", f.Pos, f.Text)
	}
}

// Sentence is one string literal NoSentences refuses.
type Sentence struct {
	Pos  string // file:line
	Text string // the literal as written
}

// Sentences lists what NoSentences refuses, for tests of the checker itself.
func Sentences(t testing.TB, dir string, allowCalls ...string) []Sentence {
	t.Helper()
	root := filepath.Join(RepoRoot(t), dir)
	files, err := filepath.Glob(filepath.Join(root, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	allowed := append(slices.Clone(logMethods), allowCalls...)
	fset := token.NewFileSet()
	var found []Sentence
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		found = append(found, sentencesIn(fset, file, allowed)...)
	}
	return found
}

func sentencesIn(fset *token.FileSet, file *ast.File, allowed []string) []Sentence {
	var found []Sentence
	var walk func(n ast.Node) bool
	walk = func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.Field:
			// A struct tag is for encoders; walk the rest of the field.
			if n.Type != nil {
				ast.Inspect(n.Type, walk)
			}
			return false
		case *ast.ImportSpec:
			return false
		case *ast.CallExpr:
			if slices.Contains(allowed, calleeName(n.Fun)) || slices.Contains(allowed, qualifiedName(n.Fun)) {
				ast.Inspect(n.Fun, walk)
				return false
			}
		case *ast.BasicLit:
			if n.Kind != token.STRING {
				return false
			}
			s, err := strconv.Unquote(n.Value)
			if err != nil {
				s = n.Value
			}
			if twoWords.MatchString(s) {
				p := fset.Position(n.Pos())
				found = append(found, Sentence{Pos: fmt.Sprintf("%s:%d", filepath.Base(p.Filename), p.Line), Text: n.Value})
			}
		}
		return true
	}
	ast.Inspect(file, walk)
	return found
}

// qualifiedName is a call's pkg.Func as written ("errors.New"); "" when
// the function is not selected from a plain name.
func qualifiedName(fun ast.Expr) string {
	if ix, ok := fun.(*ast.IndexExpr); ok {
		fun = ix.X
	}
	if sel, ok := fun.(*ast.SelectorExpr); ok {
		if x, ok := sel.X.(*ast.Ident); ok {
			return x.Name + "." + sel.Sel.Name
		}
	}
	return ""
}

func calleeName(fun ast.Expr) string {
	switch f := fun.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		return f.Sel.Name
	case *ast.IndexExpr: // a generic call, f[T](…)
		return calleeName(f.X)
	}
	return ""
}
