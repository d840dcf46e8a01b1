package argocd

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in      string
		want    endpoint
		wantErr string
	}{
		{in: "https://argocd.example.com", want: endpoint{addr: "argocd.example.com:443"}},
		{in: "https://argocd.example.com/", want: endpoint{addr: "argocd.example.com:443"}},
		{in: "HTTPS://argocd.example.com:8443", want: endpoint{addr: "argocd.example.com:8443"}},
		{in: "http://127.0.0.1:8081", want: endpoint{addr: "127.0.0.1:8081", plainText: true}},
		{in: "http://argocd", want: endpoint{addr: "argocd:80", plainText: true}},
		{in: "argocd.example.com:443", want: endpoint{addr: "argocd.example.com:443"}},
		{in: "  argocd.example.com  ", want: endpoint{addr: "argocd.example.com:443"}},
		{in: "https://[::1]:8080", want: endpoint{addr: "[::1]:8080"}},
		{in: "https://example.com/argocd", want: endpoint{addr: "example.com:443", rootPath: "argocd"}},
		{in: "https://example.com/tools/argocd/", want: endpoint{addr: "example.com:443", rootPath: "tools/argocd"}},
		{in: "", wantErr: "it is empty"},
		{in: "ftp://argocd.example.com", wantErr: `scheme "ftp"`},
		{in: "https://", wantErr: "has no host"},
		{in: "https://:8080", wantErr: "has no host"},
		{in: "https://argocd.example.com:", wantErr: "empty port"},
		{in: "https://argocd.example.com:99999", wantErr: "port"},
		{in: "https://argocd.example.com:http", wantErr: "ARGOCD_URL is not a valid URL"},
		{in: "https//argocd.example.com", wantErr: "has no scheme"},
		{in: "not a url", wantErr: "has no scheme"},
		{in: "https://user:pw@argocd.example.com", wantErr: "credentials"},
		{in: "https://argocd.example.com/?x=1", wantErr: "query"},
		{in: "https://argo cd.example.com", wantErr: "ARGOCD_URL is not a valid URL"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseURL(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("parseURL(%q) = %+v, want error", tt.in, got)
				}
				msg := err.Error()
				if !strings.HasPrefix(msg, "ARGOCD_URL is not a valid URL: ") ||
					!strings.HasSuffix(msg, ", e.g. https://argocd.example.com") ||
					!strings.Contains(msg, tt.wantErr) {
					t.Fatalf("error %q, want it to mention %q", msg, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseURL(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("parseURL(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestNewValidation(t *testing.T) {
	// GRPCWeb avoids apiclient's connect-time probe, so nothing is dialled here.
	base := Options{URL: "http://127.0.0.1:1", Token: "t", GRPCWeb: true}
	for name, tt := range map[string]struct {
		mut     func(*Options)
		wantErr string
	}{
		"bad url":     {func(o *Options) { o.URL = "ftp://x" }, "ARGOCD_URL is not a valid URL"},
		"empty token": {func(o *Options) { o.Token = "  " }, "ARGOCD_TOKEN is empty"},
		"bearer only": {func(o *Options) { o.Token = "Bearer " }, "ARGOCD_TOKEN is empty"},
		"bad CA":      {func(o *Options) { o.CACertPEM = []byte("not pem") }, "no PEM certificate"},
		"ok":          {func(o *Options) {}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			o := base
			tt.mut(&o)
			c, err := New(o)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
