//go:build linux

package imap

import (
	"errors"
	"net"
	"syscall"
)

// clientGone reports whether the client closed or reset its TCP
// connection, without consuming input: a non-blocking MSG_PEEK that reads
// 0 bytes (EOF) or fails with anything but EAGAIN. Pipelined commands the
// client already sent stay in the socket for the command loop. Connections
// that are not TCP report false.
func clientGone(c net.Conn) bool {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	gone := false
	var buf [1]byte
	rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == nil:
			gone = n == 0
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR):
		default:
			gone = true
		}
		return true // never wait for readability
	})
	return gone
}
