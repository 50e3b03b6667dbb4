package importer

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

// cuttingServer is a scripted IMAP server on loopback that announces a
// 100-byte message and closes the connection 40 bytes into it.
func cuttingServer(t *testing.T) (addr string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go serveCut(c)
		}
	}()
	return l.Addr().String(), pool
}

func serveCut(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	w := bufio.NewWriter(c)
	send := func(s string) { w.WriteString(s); w.Flush() }
	send("* OK [CAPABILITY IMAP4rev1] scripted\r\n")
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		tag, rest, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		up := strings.ToUpper(rest)
		switch {
		case strings.HasPrefix(up, "CAPABILITY"):
			send("* CAPABILITY IMAP4rev1\r\n" + tag + " OK\r\n")
		case strings.HasPrefix(up, "LIST"):
			send(`* LIST () "/" INBOX` + "\r\n" + tag + " OK\r\n")
		case strings.HasPrefix(up, "STATUS"):
			send("* STATUS INBOX (MESSAGES 1)\r\n" + tag + " OK\r\n")
		case strings.HasPrefix(up, "EXAMINE"), strings.HasPrefix(up, "SELECT"):
			send("* 1 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 2] n\r\n" + tag + " OK [READ-ONLY] done\r\n")
		case strings.HasPrefix(up, "UID FETCH") && strings.Contains(up, "BODY.PEEK"):
			send(`* 1 FETCH (UID 1 FLAGS (\Seen) INTERNALDATE "01-Jan-2020 00:00:00 +0000" BODY[] {100}` + "\r\n" + strings.Repeat("x", 40))
			return // the server dies 40 bytes into the literal
		case strings.HasPrefix(up, "UID FETCH"):
			send("* 1 FETCH (UID 1 RFC822.SIZE 100)\r\n" + tag + " OK\r\n")
		case strings.HasPrefix(up, "LOGOUT"):
			send("* BYE\r\n" + tag + " OK\r\n")
			return
		default:
			send(tag + " OK\r\n")
		}
	}
}

// TestRemoteCutMidMessage: a connection that ends inside a message's
// literal stops the import; the cut message is not stored.
func TestRemoteCutMidMessage(t *testing.T) {
	addr, pool := cuttingServer(t)
	r := newRig(t)
	src := &Remote{Addr: addr, TLS: true, TLSConfig: &tls.Config{RootCAs: pool}, User: "u", Password: "p", Timeout: 5 * time.Second}
	defer src.Close()
	rep, err := Run(t.Context(), r.eng, src, r.options())
	if !errors.Is(err, ErrStopped) {
		t.Fatalf("import from a server that died mid-message: %v, want ErrStopped\n%s", err, rep)
	}
	if got := r.folder(t, "INBOX"); len(got) != 0 {
		t.Fatalf("stored %d messages (first %d bytes) from a cut transfer", len(got), len(got[0].body))
	}
}
