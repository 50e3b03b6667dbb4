package socketmap

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// errEOF is a connection closed cleanly between requests.
var errEOF = errors.New("socketmap: connection closed")

// readNetstring reads one netstring "<len>:<payload>," of at most max
// payload bytes. The length prefix is checked before anything else is
// read, so a client cannot make the server buffer more than max.
func readNetstring(r *bufio.Reader, max int) ([]byte, error) {
	n := 0
	digits := 0
	for {
		b, err := r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) && digits == 0 {
				return nil, errEOF
			}
			return nil, fmt.Errorf("read length: %w", err)
		}
		if b == ':' {
			break
		}
		if b < '0' || b > '9' {
			return nil, fmt.Errorf("malformed netstring: byte %q in the length", b)
		}
		if digits > 0 && n == 0 {
			return nil, errors.New("malformed netstring: leading zero in the length")
		}
		n = n*10 + int(b-'0')
		digits++
		if n > max {
			return nil, fmt.Errorf("request longer than %d bytes", max)
		}
	}
	if digits == 0 {
		return nil, errors.New("malformed netstring: empty length")
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("read request: %w", err)
	}
	if buf[n] != ',' {
		return nil, errors.New("malformed netstring: no ',' after the payload")
	}
	return buf[:n], nil
}

// appendNetstring appends payload framed as a netstring to dst.
func appendNetstring(dst []byte, payload string) []byte {
	dst = strconv.AppendInt(dst, int64(len(payload)), 10)
	dst = append(dst, ':')
	dst = append(dst, payload...)
	return append(dst, ',')
}
