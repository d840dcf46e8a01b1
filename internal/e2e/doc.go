// Package e2e holds deploybot's end-to-end tests: the whole local
// environment (`deploybot dev`: Temporal dev server, Argo CD simulator,
// Slack stand-in, worker, gateway) driven only from outside, with the signed
// requests Slack would send, as a user in Slack would see it.
package e2e
