package hsm

import (
	"fmt"
	"strings"
)

// reservedSuffix ends the names of files being written by a local volume; it
// is reserved in every volume so that all of them accept the same names.
const reservedSuffix = ".tmp"

// CheckName returns an error wrapping ErrInvalidName if name breaks the
// naming rules of Volume, nil otherwise. Implementations call it first in
// every method that takes a name.
func CheckName(name string) error {
	if why := badName(name); why != "" {
		return fmt.Errorf("%w %q: %s", ErrInvalidName, name, why)
	}
	return nil
}

func badName(name string) string {
	if name == "" {
		return "empty"
	}
	if strings.ContainsAny(name, "\\\x00") {
		return "contains a backslash or NUL"
	}
	if strings.HasPrefix(name, "/") {
		return "leading slash"
	}
	for rest, more := name, true; more; {
		// Component by component, without allocating: every read of a
		// pack volume checks its name twice.
		var c string
		c, rest, more = strings.Cut(rest, "/")
		switch {
		case c == "":
			return "empty component"
		case c == "." || c == "..":
			return "dot component"
		case strings.HasSuffix(c, reservedSuffix):
			return "component ends in " + reservedSuffix
		}
	}
	return ""
}

// CheckPrefix returns an error wrapping ErrInvalidName if prefix cannot start
// any valid name. "" is valid and means all objects.
func CheckPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	// A prefix may end mid-component or at a slash; test it as a name with a
	// neutral character appended so "blobs/" and "blobs/a" both pass.
	if why := badName(prefix + "x"); why != "" {
		return fmt.Errorf("%w: prefix %q: %s", ErrInvalidName, prefix, why)
	}
	return nil
}

// CheckRange validates a GetRange against an object of the given size and
// returns the number of bytes to read.
func CheckRange(size, off, length int64) (int64, error) {
	if off < 0 || length < -1 || off > size {
		return 0, fmt.Errorf("%w: offset %d length %d of %d bytes", ErrInvalidRange, off, length, size)
	}
	n := size - off
	if length >= 0 && length < n {
		n = length
	}
	return n, nil
}
