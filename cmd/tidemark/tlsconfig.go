package main

import "crypto/tls"

// serverTLSConfig is the TLS policy of every listener tidemark serves (IMAPS
// and IMAP STARTTLS): TLS 1.3 preferred (Go negotiates the highest version
// both sides speak), TLS 1.2 accepted only with forward-secret AEAD suites
// (ECDHE with AES-GCM or ChaCha20-Poly1305). CBC, SHA-1 MACs, RC4, 3DES and
// static RSA key exchange are refused. TLS 1.3 suites are all AEAD and not
// configurable.
func serverTLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
}
