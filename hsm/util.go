package hsm

import (
	"bytes"
	"context"
	"fmt"
	"io"
)

// PutBytes stores b under name.
func PutBytes(ctx context.Context, v Volume, name string, b []byte) error {
	return v.Put(ctx, name, bytes.NewReader(b), int64(len(b)))
}

// ReadAll returns the whole object.
func ReadAll(ctx context.Context, v Volume, name string) ([]byte, error) {
	rc, err := v.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if whole, ok := rc.(interface{ Bytes() []byte }); ok {
		// The volume read the object into memory already (a packed
		// object): take it instead of copying it through io.ReadAll's
		// growing buffer.
		return whole.Bytes(), nil
	}
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return b, nil
}

// CountingReader counts the bytes read through it; volumes use it to check
// the size given to Put.
type CountingReader struct {
	R io.Reader
	N int64
}

func (c *CountingReader) Read(p []byte) (int, error) {
	n, err := c.R.Read(p)
	c.N += int64(n)
	return n, err
}

// CheckSize returns an error wrapping ErrSizeMismatch if want >= 0 and got
// differs.
func CheckSize(name string, want, got int64) error {
	if want >= 0 && want != got {
		return fmt.Errorf("put %s: %w: expected %d bytes, read %d", name, ErrSizeMismatch, want, got)
	}
	return nil
}
