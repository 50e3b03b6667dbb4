package main

import (
	"crypto/tls"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// TestTLSPolicy connects to the IMAPS listener of the real server: a client
// offering only CBC-SHA1 suites over TLS 1.2 is refused, a TLS 1.2 client
// offering an AEAD suite gets it, and a default client gets TLS 1.3.
func TestTLSPolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	tm(t, bin, "init", "--data", dir)
	imaps := freePort(t)
	s := startServer(t, bin, dir, "--imaps", imaps, "--no-backup")
	defer s.stop(t)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", imaps, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("IMAPS does not listen on %s: %v\n%s", imaps, err, s.log)
		}
	}
	handshake := func(cfg *tls.Config) (tls.ConnectionState, error) {
		cfg.InsecureSkipVerify = true
		d := &net.Dialer{Timeout: 5 * time.Second}
		c, err := tls.DialWithDialer(d, "tcp", imaps, cfg)
		if err != nil {
			return tls.ConnectionState{}, err
		}
		defer c.Close()
		return c.ConnectionState(), nil
	}
	cbc := &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	}}
	if st, err := handshake(cbc); err == nil {
		t.Errorf("a client offering only CBC-SHA1 suites got %s", tls.CipherSuiteName(st.CipherSuite))
	}
	gcm := &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	}}
	st, err := handshake(gcm)
	if err != nil {
		t.Fatalf("TLS 1.2 with an AEAD suite refused: %v", err)
	}
	if st.Version != tls.VersionTLS12 || (st.CipherSuite != tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 && st.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256) {
		t.Errorf("TLS 1.2 client got %s", tls.CipherSuiteName(st.CipherSuite))
	}
	st, err = handshake(&tls.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != tls.VersionTLS13 {
		t.Errorf("a client speaking TLS 1.3 got version %x", st.Version)
	}
}
