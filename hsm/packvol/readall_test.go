package packvol

import (
	"bytes"
	"context"
	"runtime"
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

// TestAppendObject: AppendObject gives Get's bytes for packed and large
// objects after what dst held, reports a missing object as Get does, and
// with a buffer that has grown reads a packed object without allocating
// its bytes again.
func TestAppendObject(t *testing.T) {
	ctx := context.Background()
	v, small, large := smallAndLarge(t)
	buf := []byte("prefix")
	for _, c := range []struct {
		name string
		want []byte
	}{{"small", small}, {"large", large}, {"small", small}} {
		got, err := v.AppendObject(ctx, c.name, buf[:6])
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if string(got[:6]) != "prefix" || !bytes.Equal(got[6:], c.want) {
			t.Fatalf("%s: got %d bytes, want prefix and %d", c.name, len(got), len(c.want))
		}
		buf = got
	}
	if _, err := v.AppendObject(ctx, "missing", buf[:0]); !hsm.IsNotFound(err) {
		t.Fatalf("missing object: %v", err)
	}
	buf = buf[:0]
	per := bytesPerCall(func() {
		var err error
		if buf, err = v.AppendObject(ctx, "small", buf[:0]); err != nil {
			t.Fatal(err)
		}
	})
	if per > 1024 {
		t.Errorf("AppendObject into a grown buffer allocated %d bytes per read of a %d-byte object", per, len(small))
	}
	if !bytes.Equal(buf, small) {
		t.Fatal("last read differs")
	}
}

// TestReadObject: ReadObject gives Get's bytes for packed and large
// objects through no buffer, one too small and one grown by an earlier
// read, hands back a buffer at least as large as it was given, reports a
// missing object as Get does, and with a grown buffer reads a packed
// object without allocating its bytes again.
func TestReadObject(t *testing.T) {
	ctx := context.Background()
	v, small, large := smallAndLarge(t)
	for _, start := range [][]byte{nil, make([]byte, 3, 16)} {
		buf := start
		for _, c := range []struct {
			name string
			want []byte
		}{{"small", small}, {"large", large}, {"small", small}} {
			data, next, err := v.ReadObject(ctx, c.name, buf)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if !bytes.Equal(data, c.want) {
				t.Fatalf("%s: got %d bytes, want %d", c.name, len(data), len(c.want))
			}
			if cap(next) < cap(buf) {
				t.Fatalf("%s: buffer came back with %d bytes of capacity, given %d", c.name, cap(next), cap(buf))
			}
			buf = next
		}
	}
	if _, _, err := v.ReadObject(ctx, "missing", nil); !hsm.IsNotFound(err) {
		t.Fatalf("missing object: %v", err)
	}
	_, buf, err := v.ReadObject(ctx, "small", nil)
	if err != nil {
		t.Fatal(err)
	}
	var data []byte
	per := bytesPerCall(func() {
		if data, buf, err = v.ReadObject(ctx, "small", buf); err != nil {
			t.Fatal(err)
		}
	})
	if per > 1024 {
		t.Errorf("ReadObject into a grown buffer allocated %d bytes per read of a %d-byte object", per, len(small))
	}
	if !bytes.Equal(data, small) {
		t.Fatal("last read differs")
	}
}

// smallAndLarge is a volume holding "small", packed, and "large", a file
// of its own (SmallMax 64 KiB), with their bytes.
func smallAndLarge(t *testing.T) (v *Volume, small, large []byte) {
	t.Helper()
	v = newVol(t, vfs.Default, t.TempDir(), &Options{SmallMax: 64 << 10})
	small = bytes.Repeat([]byte("small packed object\r\n"), 1000)
	large = bytes.Repeat([]byte("large object in a file of its own\r\n"), 4000)
	for name, data := range map[string][]byte{"small": small, "large": large} {
		if err := v.Put(context.Background(), name, bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
	}
	return v, small, large
}

// bytesPerCall is what one call of read allocates, averaged over 20.
func bytesPerCall(read func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < 20; i++ {
		read()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / 20
}
