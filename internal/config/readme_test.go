package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEConfigurationTable: the README's table names every variable,
// with the default Load applies, and nothing that is not a variable.
func TestREADMEConfigurationTable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "## Configuration")
	end := strings.Index(text[start+1:], "\n## ")
	if start < 0 || end < 0 {
		t.Fatal("README has no Configuration section")
	}
	rows := map[string]string{}
	row := regexp.MustCompile("(?m)^\\| `([A-Z][A-Z0-9_]*)` \\| ([^|]*) \\|")
	for _, m := range row.FindAllStringSubmatch(text[start:start+1+end], -1) {
		rows[m[1]] = strings.TrimSpace(m[2])
	}
	settings := Default().Settings()
	known := map[string]bool{}
	for _, s := range settings {
		known[s.Name] = true
		got, ok := rows[s.Name]
		switch {
		case !ok:
			t.Errorf("README's configuration table lacks %s", s.Name)
		case s.Default == "" && got != "—":
			t.Errorf("README: %s default %q, but it has none (write —)", s.Name, got)
		case s.Default != "" && got != "`"+s.Default+"`" && !strings.Contains(got, s.Default):
			t.Errorf("README: %s default %q, want `%s`", s.Name, got, s.Default)
		}
	}
	for name := range rows {
		if !known[name] {
			t.Errorf("README's configuration table has %s, which deploybot does not read", name)
		}
	}
}
