package packvol

import (
	"bytes"
	"context"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/hsm"
)

// TestReadAllPackedOwnsBuffer: hsm.ReadAll takes a packed object's bytes
// from Get's reader without copying them, and each read hands out a
// buffer of its own, so a caller that changes what it got changes nothing
// the next reader sees.
func TestReadAllPackedOwnsBuffer(t *testing.T) {
	ctx := context.Background()
	v := newVol(t, vfs.Default, t.TempDir(), nil)
	data := bytes.Repeat([]byte("packed object bytes\r\n"), 200)
	if err := v.Put(ctx, "obj", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	rc, err := v.Get(ctx, "obj")
	if err != nil {
		t.Fatal(err)
	}
	whole, ok := rc.(interface{ Bytes() []byte })
	if !ok || !bytes.Equal(whole.Bytes(), data) {
		t.Fatalf("Get returned %T without the object's bytes", rc)
	}
	rc.Close()
	first, err := hsm.ReadAll(ctx, v, "obj")
	if err != nil || !bytes.Equal(first, data) {
		t.Fatalf("ReadAll: %d bytes, %v", len(first), err)
	}
	first[0] = 'X'
	second, err := hsm.ReadAll(ctx, v, "obj")
	if err != nil || !bytes.Equal(second, data) {
		t.Fatalf("second ReadAll after the first was changed: %q..., %v", second[:8], err)
	}
}
