package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			_, _ = w.Write([]byte(`{"status":"degraded"}`))
		case "/slow":
			time.Sleep(2 * time.Second)
		default:
			http.Error(w, `{"status":"unavailable","temporal":"connection refused"}`, http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	for _, tt := range []struct {
		args    []string
		code    int
		wantErr string
	}{
		{[]string{"probe", srv.URL + "/readyz"}, 0, ""},
		{[]string{"probe", srv.URL + "/down"}, 1, "503 Service Unavailable {\"status\":\"unavailable\",\"temporal\":\"connection refused\"}"},
		{[]string{"probe", closed.URL + "/readyz"}, 1, "connection refused"},
		{[]string{"probe", "--timeout", "100ms", srv.URL + "/slow"}, 1, "deadline exceeded"},
		{[]string{"probe", "127.0.0.1:8080/readyz"}, 2, "is not an http(s) URL"},
		{[]string{"probe"}, 2, "accepts 1 arg(s), received 0: give the URL to check"},
	} {
		stdout, stderr, code := execute(t, nil, tt.args...)
		if code == 0 && stdout != "{\"status\":\"degraded\"}\n" {
			t.Errorf("deploybot %s printed %q, want the body", strings.Join(tt.args, " "), stdout)
		}
		if code != tt.code || !strings.Contains(stderr, tt.wantErr) {
			t.Errorf("deploybot %s: exit %d, stderr %q; want exit %d and %q", strings.Join(tt.args, " "), code, stderr, tt.code, tt.wantErr)
		}
	}
}
