package command

import (
	"fmt"
	"strings"
)

// HelpText is the reply to `help` and the tail of every "I did not
// understand" reply: what the bot is and every command it knows, in Slack
// mrkdwn. botName is how people mention it ("deploybot" if empty).
func HelpText(botName, description string) string {
	if botName == "" {
		botName = "deploybot"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*%s*", botName)
	if description != "" {
		fmt.Fprintf(&b, " — %s", description)
	}
	fmt.Fprintf(&b, "\nMention me (`@%s <command>`) or use `/deploy <command>`:\n", botName)
	for _, sp := range Table {
		fmt.Fprintf(&b, "• `%s` — %s\n", sp.Usage, sp.Summary)
	}
	b.WriteString("Changes (sync, rollback, autosync) wait for an approver's click; everything is recorded in Temporal.")
	return b.String()
}
