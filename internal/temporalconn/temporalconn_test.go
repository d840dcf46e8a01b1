package temporalconn_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/internal/temporalconn"
)

func writeKeyPair(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "deploybot"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestClientOptions(t *testing.T) {
	cert, key := writeKeyPair(t)
	tests := []struct {
		name      string
		in        temporalconn.Settings
		wantTLS   bool
		wantCreds bool
		wantCerts int
		wantErr   string
	}{
		{name: "local dev server is plaintext", in: temporalconn.Settings{Address: "localhost:7233", Namespace: "default"}},
		{name: "API key turns on TLS", in: temporalconn.Settings{Address: "ns.acct.tmprl.cloud:7233", APIKey: "k"}, wantTLS: true, wantCreds: true},
		{name: "mTLS loads the key pair", in: temporalconn.Settings{Address: "t:7233", TLSCertFile: cert, TLSKeyFile: key}, wantTLS: true, wantCerts: 1},
		{name: "API key with mTLS keeps the certificate", in: temporalconn.Settings{Address: "t:7233", APIKey: "k", TLSCertFile: cert, TLSKeyFile: key}, wantTLS: true, wantCreds: true, wantCerts: 1},
		{name: "cert without key", in: temporalconn.Settings{Address: "t:7233", TLSCertFile: cert}, wantErr: "must be set together"},
		{name: "unreadable key pair", in: temporalconn.Settings{Address: "t:7233", TLSCertFile: cert, TLSKeyFile: cert}, wantErr: "TEMPORAL_TLS_KEY"},
		{name: "no address", in: temporalconn.Settings{}, wantErr: "TEMPORAL_ADDRESS is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := temporalconn.ClientOptions(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				if tt.in.APIKey != "" && strings.Contains(err.Error(), tt.in.APIKey) {
					t.Errorf("error leaks the API key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if opts.HostPort != tt.in.Address || opts.Namespace != tt.in.Namespace {
				t.Errorf("HostPort/Namespace = %q/%q", opts.HostPort, opts.Namespace)
			}
			if got := opts.ConnectionOptions.TLS != nil; got != tt.wantTLS {
				t.Errorf("TLS on = %v, want %v", got, tt.wantTLS)
			}
			if got := opts.Credentials != nil; got != tt.wantCreds {
				t.Errorf("credentials set = %v, want %v", got, tt.wantCreds)
			}
			if tt.wantTLS && len(opts.ConnectionOptions.TLS.Certificates) != tt.wantCerts {
				t.Errorf("client certificates = %d, want %d", len(opts.ConnectionOptions.TLS.Certificates), tt.wantCerts)
			}
		})
	}
}
