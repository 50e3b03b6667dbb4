package volumetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/tidemark/tidemark/hsm"
)

// Run runs the conformance suite. newVolume is called once per subtest and
// must return an empty volume that the subtest may fill; cleanup is the
// caller's (t.Cleanup inside newVolume).
func Run(t *testing.T, newVolume func(t *testing.T) hsm.Volume) {
	tests := []struct {
		name string
		fn   func(t *testing.T, v hsm.Volume)
	}{
		{"PutGet", testPutGet},
		{"Overwrite", testOverwrite},
		{"Empty", testEmpty},
		{"Range", testRange},
		{"Stat", testStat},
		{"Delete", testDelete},
		{"NotFound", testNotFound},
		{"List", testList},
		{"ListOrder", testListOrder},
		{"ListStop", testListStop},
		{"Large", testLarge},
		{"UnknownSize", testUnknownSize},
		{"FailedPutKeepsOld", testFailedPutKeepsOld},
		{"SizeMismatch", testSizeMismatch},
		{"ConcurrentPuts", testConcurrentPuts},
		{"ReadDuringOverwrite", testReadDuringOverwrite},
		{"InvalidNames", testInvalidNames},
		{"Canceled", testCanceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newVolume(t))
		})
	}
}

// payload returns n deterministic pseudo-random bytes distinct per seed.
func payload(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func put(t *testing.T, v hsm.Volume, name string, b []byte) {
	t.Helper()
	if err := hsm.PutBytes(context.Background(), v, name, b); err != nil {
		t.Fatalf("put %s: %v", name, err)
	}
}

func mustRead(t *testing.T, v hsm.Volume, name string) []byte {
	t.Helper()
	b, err := hsm.ReadAll(context.Background(), v, name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return b
}

func expectContent(t *testing.T, v hsm.Volume, name string, want []byte) {
	t.Helper()
	got := mustRead(t, v, name)
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got %d bytes %.32q, want %d bytes %.32q", name, len(got), got, len(want), want)
	}
}

func expectNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error for a missing object", what)
	}
	if !hsm.IsNotFound(err) || !errors.Is(err, hsm.ErrNotFound) {
		t.Fatalf("%s: error %v does not wrap hsm.ErrNotFound", what, err)
	}
	if !hsm.IsPermanent(err) {
		t.Fatalf("%s: not-found error %v classified as temporary", what, err)
	}
}

func testPutGet(t *testing.T, v hsm.Volume) {
	ctx := context.Background()
	data := payload(1, 3000)
	put(t, v, "blobs/ab/ab01", data)
	put(t, v, "top", []byte("root level"))
	put(t, v, "a/b/c/d/e/deep", []byte("deep"))
	expectContent(t, v, "blobs/ab/ab01", data)
	expectContent(t, v, "top", []byte("root level"))
	expectContent(t, v, "a/b/c/d/e/deep", []byte("deep"))
	// A reader that returns short reads and no size.
	if err := v.Put(ctx, "iotest", &oneByteReader{bytes.NewReader(data[:100])}, -1); err != nil {
		t.Fatal(err)
	}
	expectContent(t, v, "iotest", data[:100])
}

type oneByteReader struct{ r io.Reader }

func (o *oneByteReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

func testOverwrite(t *testing.T, v hsm.Volume) {
	put(t, v, "x/obj", payload(2, 5000))
	put(t, v, "x/obj", []byte("short"))
	expectContent(t, v, "x/obj", []byte("short"))
	fi, err := v.Stat(context.Background(), "x/obj")
	if err != nil || fi.Size != 5 {
		t.Fatalf("stat after overwrite: %+v, %v", fi, err)
	}
	put(t, v, "x/obj", payload(3, 7000))
	expectContent(t, v, "x/obj", payload(3, 7000))
}

func testEmpty(t *testing.T, v hsm.Volume) {
	ctx := context.Background()
	put(t, v, "e/empty", nil)
	expectContent(t, v, "e/empty", []byte{})
	fi, err := v.Stat(ctx, "e/empty")
	if err != nil || fi.Size != 0 || fi.Name != "e/empty" {
		t.Fatalf("stat empty: %+v, %v", fi, err)
	}
	rc, err := v.GetRange(ctx, "e/empty", 0, -1)
	if err != nil {
		t.Fatalf("range of empty: %v", err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || len(b) != 0 {
		t.Fatalf("range of empty: %q, %v", b, err)
	}
	n := 0
	if err := v.List(ctx, "e/", func(oi hsm.ObjectInfo) error {
		n++
		if oi.Size != 0 {
			t.Errorf("listed size %d", oi.Size)
		}
		return nil
	}); err != nil || n != 1 {
		t.Fatalf("list empty object: n=%d err=%v", n, err)
	}
}

func readRange(t *testing.T, v hsm.Volume, name string, off, length int64) ([]byte, error) {
	t.Helper()
	rc, err := v.GetRange(context.Background(), name, off, length)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read range %d+%d: %v", off, length, err)
	}
	return b, nil
}

func testRange(t *testing.T, v hsm.Volume) {
	data := payload(4, 10000)
	put(t, v, "r", data)
	size := int64(len(data))
	cases := []struct{ off, length, wantFrom, wantTo int64 }{
		{0, -1, 0, size},
		{0, 10, 0, 10},
		{1, 1, 1, 2},
		{9000, -1, 9000, size},
		{9990, 100, 9990, size}, // clipped at the end
		{size - 1, 1, size - 1, size},
		{size, -1, size, size}, // at the end: empty
		{size, 5, size, size},
		{123, 0, 123, 123},
		{0, size, 0, size},
	}
	for _, c := range cases {
		got, err := readRange(t, v, "r", c.off, c.length)
		if err != nil {
			t.Fatalf("range %d+%d: %v", c.off, c.length, err)
		}
		if !bytes.Equal(got, data[c.wantFrom:c.wantTo]) {
			t.Fatalf("range %d+%d: got %d bytes, want [%d:%d]", c.off, c.length, len(got), c.wantFrom, c.wantTo)
		}
	}
	for _, c := range []struct{ off, length int64 }{{size + 1, -1}, {-1, 5}, {0, -2}} {
		_, err := readRange(t, v, "r", c.off, c.length)
		if !errors.Is(err, hsm.ErrInvalidRange) || !hsm.IsPermanent(err) {
			t.Fatalf("range %d+%d: err = %v, want permanent ErrInvalidRange", c.off, c.length, err)
		}
	}
}

func testStat(t *testing.T, v hsm.Volume) {
	put(t, v, "s/one", payload(5, 1234))
	fi, err := v.Stat(context.Background(), "s/one")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Name != "s/one" || fi.Size != 1234 || fi.ModTime.IsZero() {
		t.Fatalf("stat: %+v", fi)
	}
	// A directory-like prefix is not an object.
	_, err = v.Stat(context.Background(), "s")
	expectNotFound(t, "stat of a prefix", err)
}

func testDelete(t *testing.T, v hsm.Volume) {
	ctx := context.Background()
	put(t, v, "d/a", []byte("a"))
	put(t, v, "d/b", []byte("b"))
	if err := v.Delete(ctx, "d/a"); err != nil {
		t.Fatal(err)
	}
	_, err := v.Get(ctx, "d/a")
	expectNotFound(t, "get after delete", err)
	expectContent(t, v, "d/b", []byte("b"))
	if err := v.Delete(ctx, "d/a"); err != nil {
		t.Fatalf("delete of a missing object: %v", err)
	}
	if err := v.Delete(ctx, "never/was"); err != nil {
		t.Fatalf("delete of a never-stored object: %v", err)
	}
	// The name can be reused.
	put(t, v, "d/a", []byte("again"))
	expectContent(t, v, "d/a", []byte("again"))
}

func testNotFound(t *testing.T, v hsm.Volume) {
	ctx := context.Background()
	put(t, v, "present/x", []byte("x"))
	for _, name := range []string{"missing", "present/y", "nothere/at/all"} {
		rc, err := v.Get(ctx, name)
		if rc != nil {
			rc.Close()
		}
		expectNotFound(t, fmt.Sprintf("get %s", name), err)
		rc, err = v.GetRange(ctx, name, 0, 1)
		if rc != nil {
			rc.Close()
		}
		expectNotFound(t, fmt.Sprintf("get range %s", name), err)
		_, err = v.Stat(ctx, name)
		expectNotFound(t, fmt.Sprintf("stat %s", name), err)
		_, err = hsm.ReadAll(ctx, v, name)
		expectNotFound(t, fmt.Sprintf("read all %s", name), err)
	}
}
