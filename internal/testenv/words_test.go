package testenv

import (
	"go/parser"
	"go/token"
	"testing"
)

func TestSentencesFindsWordsButNotLogsTagsOrFormats(t *testing.T) {
	const src = `package p

import "fmt"

type T struct {
	A string ` + "`json:\"a,omitempty\" doc:\"not for people\"`" + `
}

func f(log logger, id string) string {
	log.Warn("could not post the note", "error", nil)
	apiErr(400, "operators read this one")
	_ = fmt.Sprintf("%s %s", id, id)
	_ = "deploy-" + id + " "
	return "Rejected by someone."
}
`
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := sentencesIn(fset, file, append(logMethods, "apiErr"))
	if len(got) != 1 || got[0].Text != `"Rejected by someone."` || got[0].Pos != "p.go:14" {
		t.Fatalf("found %+v, want only the returned sentence at p.go:14", got)
	}
}

// TestSentencesAllowsQualifiedCalls: "errors.New" allows errors.New only,
// not another package's New; a plain name allows every call of it.
func TestSentencesAllowsQualifiedCalls(t *testing.T) {
	const src = `package p

import "errors"

var errA = errors.New("operators read this one")

var b = slack.New("a Slack user reads this")

var c = fmt.Errorf("wrapped for operators: %w", errA)
`
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := sentencesIn(fset, file, append(logMethods, "errors.New", "Errorf"))
	if len(got) != 1 || got[0].Text != `"a Slack user reads this"` || got[0].Pos != "p.go:7" {
		t.Fatalf("found %+v, want only slack.New's sentence at p.go:7", got)
	}
}
