package main

import (
	"os"
	"testing"
)

// TestMain lets tests run this test binary as the real deploybot command
// (DEPLOYBOT_RUN_MAIN=1), so process-level tests need no separate build.
func TestMain(m *testing.M) {
	if os.Getenv("DEPLOYBOT_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}
