// Package slackreply holds Slack replies written the ways a gateway
// handler could write them, each of which
// TestGatewayAllowListCatchesSlackReplies expects the gateway's allowlist
// to refuse. It is test data: nothing builds it.
package slackreply

func replies(s *server, r request, c *context) {
	s.replyTo(r, "Your sync was started, hang on.")
	s.replyTo(r, fmt.Sprintf(":x: I could not start `%s`, sorry.", r.text))
	s.send(Reply{Channel: r.channel, Text: "This request is no longer waiting."}, false)
	c.JSON(200, gin.H{"response_type": "ephemeral", "text": "Only you can see this reply."})
	why := "a newer request is in progress"
	s.notWaiting(why)
}
