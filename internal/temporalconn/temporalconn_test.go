package temporalconn_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
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
		{name: "unreadable key pair", in: temporalconn.Settings{Address: "t:7233", TLSCertFile: cert, TLSKeyFile: cert}, wantErr: "TEMPORAL_TLS_CLIENT_KEY_PATH"},
		{name: "TLS alone verifies against the system roots", in: temporalconn.Settings{Address: "temporal.example.com:7233", TLS: true}, wantTLS: true},
		{name: "server name alone turns on TLS", in: temporalconn.Settings{Address: "10.0.0.7:7233", ServerName: "temporal.internal"}, wantTLS: true},
		{name: "a CA file that is not PEM", in: temporalconn.Settings{Address: "t:7233", ServerCAFile: key}, wantErr: "TEMPORAL_TLS_SERVER_CA_CERT_PATH"},
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

// TestPrivateCA: with TEMPORAL_TLS_SERVER_CA_CERT_PATH and
// TEMPORAL_TLS_SERVER_NAME the options complete a real TLS handshake with a
// frontend whose certificate a private CA signed for another name than the
// address; without the CA, or with the wrong name, the handshake fails.
func TestPrivateCA(t *testing.T) {
	caFile, serverCert := privateCA(t, "temporal.internal")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	handshake := func(s temporalconn.Settings) error {
		opts, err := temporalconn.ClientOptions(s)
		if err != nil {
			t.Fatal(err)
		}
		if opts.ConnectionOptions.TLS == nil {
			t.Fatal("no TLS config")
		}
		cfg := opts.ConnectionOptions.TLS.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(s.Address) // what gRPC does
		}
		c, err := tls.Dial("tcp", s.Address, cfg)
		if err == nil {
			c.Close()
		}
		return err
	}
	addr := ln.Addr().String()
	if err := handshake(temporalconn.Settings{Address: addr, ServerCAFile: caFile, ServerName: "temporal.internal"}); err != nil {
		t.Errorf("handshake with the private CA and server name: %v", err)
	}
	var unknownCA x509.UnknownAuthorityError
	if err := handshake(temporalconn.Settings{Address: addr, TLS: true, ServerName: "temporal.internal"}); !errors.As(err, &unknownCA) {
		t.Errorf("handshake without the CA: %v, want an unknown-authority error", err)
	}
	var badName x509.HostnameError
	if err := handshake(temporalconn.Settings{Address: addr, ServerCAFile: caFile}); !errors.As(err, &badName) {
		t.Errorf("handshake without the server name: %v, want a hostname error", err)
	}
}

// privateCA writes a CA certificate to a file and returns it with a server
// certificate it signed for name.
func privateCA(t *testing.T, name string) (string, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "deploybot test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
