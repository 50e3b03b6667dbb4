//go:build !linux

package imap

import "net"

// clientGone is only implemented on Linux; elsewhere a search runs to its
// deadline whether or not the client is still there.
func clientGone(c net.Conn) bool { return false }
