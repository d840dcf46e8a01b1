package config

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/deploybot/deploybot/internal/contract"
)

// APIToken is one entry of API_TOKENS: "name@U0BOB:token" decides as that
// Slack user (recorded as "via token name"), "name:token" only reads, and
// a bare "token" (the older form) only reads too.
type APIToken struct {
	// Name identifies the token in audit logs and in "via token <name>";
	// "#<n>" for a bare token, n counting from 1.
	Name string
	// User is the Slack user id the token decides as; "" = read-only.
	User string
	// Token is the bearer secret.
	Token string
}

// apiTokenName is "name" or "name@<Slack user id>".
var apiTokenName = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9._-]{0,63})(?:@(` + contract.SlackUserIDPattern + `))?$`)

// APITokenList parses API_TOKENS. A malformed entry is left out here; its
// problem is reported by Load (checkFormats).
func (c *Config) APITokenList() []APIToken {
	out, _ := parseAPITokens(c.APITokens)
	return out
}

func parseAPITokens(entries []string) ([]APIToken, []string) {
	var out []APIToken
	var problems []string
	names := map[string]bool{}
	tokens := map[string]bool{}
	for i, e := range entries {
		t := APIToken{Name: fmt.Sprintf("#%d", i+1), Token: e}
		if head, token, ok := strings.Cut(e, ":"); ok {
			if m := apiTokenName.FindStringSubmatch(head); m != nil {
				t = APIToken{Name: m[1], User: m[2], Token: token}
			} else if strings.Contains(head, "@") {
				problems = append(problems, fmt.Sprintf("entry %d names %q, not name@<Slack user id> (U… or W…)", i+1, head))
				continue
			}
		}
		switch {
		case t.Token == "":
			problems = append(problems, fmt.Sprintf("entry %d (%s) has no token after the colon", i+1, t.Name))
			continue
		case names[t.Name]:
			problems = append(problems, fmt.Sprintf("the name %s is used twice: each token needs its own", t.Name))
			continue
		case tokens[t.Token]:
			problems = append(problems, fmt.Sprintf("entry %d (%s) repeats another entry's token: give each its own secret", i+1, t.Name))
			continue
		}
		names[t.Name], tokens[t.Token] = true, true
		out = append(out, t)
	}
	return out, problems
}
