package volumetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/tidemark/tidemark/hsm"
)

// largeSize is over the 16 MiB at which minio-go switches to multipart
// upload, so the S3 volume's multipart path is exercised.
const largeSize = 20<<20 + 12345

func testLarge(t *testing.T, v hsm.Volume) {
	data := payload(7, largeSize)
	put(t, v, "large/one", data)
	expectContent(t, v, "large/one", data)
	fi, err := v.Stat(context.Background(), "large/one")
	if err != nil || fi.Size != largeSize {
		t.Fatalf("stat large: %+v, %v", fi, err)
	}
	got, err := readRange(t, v, "large/one", 17<<20, 1<<20)
	if err != nil || !bytes.Equal(got, data[17<<20:18<<20]) {
		t.Fatalf("range of large object: %d bytes, %v", len(got), err)
	}
}

// testUnknownSize stores a large object through a reader that is neither
// sized nor seekable, as a streaming compressor would give.
func testUnknownSize(t *testing.T, v hsm.Volume) {
	data := payload(8, largeSize)
	pr, pw := io.Pipe()
	go func() {
		_, err := pw.Write(data)
		pw.CloseWithError(err)
	}()
	if err := v.Put(context.Background(), "unknown/size", pr, -1); err != nil {
		t.Fatal(err)
	}
	expectContent(t, v, "unknown/size", data)
}

// failingReader yields n bytes then fails.
type failingReader struct {
	r io.Reader
	n int
}

var errReader = errors.New("volumetest: reader broke")

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errReader
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

func testFailedPutKeepsOld(t *testing.T, v hsm.Volume) {
	ctx := context.Background()
	old := payload(9, 4000)
	put(t, v, "keep/obj", old)
	neu := payload(10, 8000)
	err := v.Put(ctx, "keep/obj", &failingReader{r: bytes.NewReader(neu), n: 3000}, -1)
	if err == nil {
		t.Fatal("put from a failing reader succeeded")
	}
	expectContent(t, v, "keep/obj", old)
	// A failed first put leaves nothing behind.
	err = v.Put(ctx, "keep/new", &failingReader{r: bytes.NewReader(neu), n: 3000}, int64(len(neu)))
	if err == nil {
		t.Fatal("put from a failing reader succeeded")
	}
	_, err = v.Stat(ctx, "keep/new")
	expectNotFound(t, "stat after failed put", err)
	expectList(t, v, "keep/", []string{"keep/obj"})
}

func testSizeMismatch(t *testing.T, v hsm.Volume) {
	ctx := context.Background()
	put(t, v, "size/obj", []byte("old"))
	for _, size := range []int64{5, 50} {
		err := v.Put(ctx, "size/obj", bytes.NewReader(make([]byte, 10)), size)
		if err == nil {
			t.Fatalf("put of 10 bytes declared as %d succeeded", size)
		}
		if !hsm.IsPermanent(err) {
			t.Fatalf("size mismatch classified as temporary: %v", err)
		}
	}
	expectContent(t, v, "size/obj", []byte("old"))
}

func testConcurrentPuts(t *testing.T, v hsm.Volume) {
	ctx := context.Background()
	const writers = 8
	const each = 6
	var wg sync.WaitGroup
	errs := make(chan error, writers*each*2)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				// Distinct names in shared and fresh directories...
				name := fmt.Sprintf("c/%02x/w%d-%d", (w*each+i)%4, w, i)
				if err := hsm.PutBytes(ctx, v, name, payload(uint64(1000+w*each+i), 2000+w)); err != nil {
					errs <- err
				}
				// ...and all writers racing on one name.
				if err := hsm.PutBytes(ctx, v, "c/shared", payload(uint64(w), 3000+w)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for w := 0; w < writers; w++ {
		for i := 0; i < each; i++ {
			name := fmt.Sprintf("c/%02x/w%d-%d", (w*each+i)%4, w, i)
			expectContent(t, v, name, payload(uint64(1000+w*each+i), 2000+w))
		}
	}
	got := mustRead(t, v, "c/shared")
	if len(got) < 3000 || len(got) >= 3000+writers || !bytes.Equal(got, payload(uint64(len(got)-3000), len(got))) {
		t.Fatalf("c/shared holds %d bytes that no single writer wrote", len(got))
	}
	if n := len(listNames(t, v, "c/")); n != writers*each+1 {
		t.Fatalf("listed %d objects, want %d", n, writers*each+1)
	}
}

// testReadDuringOverwrite checks that a reader sees one whole version while
// another goroutine keeps replacing the object.
func testReadDuringOverwrite(t *testing.T, v hsm.Volume) {
	ctx := context.Background()
	versions := [][]byte{payload(20, 64<<10), payload(21, 96<<10), payload(22, 32<<10)}
	put(t, v, "rw/obj", versions[0])
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			if err := hsm.PutBytes(ctx, v, "rw/obj", versions[i%len(versions)]); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := 0; i < 30; i++ {
		got := mustRead(t, v, "rw/obj")
		ok := false
		for _, ver := range versions {
			ok = ok || bytes.Equal(got, ver)
		}
		if !ok {
			close(done)
			wg.Wait()
			t.Fatalf("read %d bytes that are no whole version", len(got))
		}
	}
	close(done)
	wg.Wait()
}

func testInvalidNames(t *testing.T, v hsm.Volume) {
	ctx := context.Background()
	bad := []string{"", "/abs", "a//b", "a/", "./a", "a/./b", "../a", "a/..", "a\\b", "a\x00b", "blobs/x.tmp", "x.tmp/y"}
	for _, name := range bad {
		check := func(op string, err error) {
			t.Helper()
			if !errors.Is(err, hsm.ErrInvalidName) || !hsm.IsPermanent(err) {
				t.Errorf("%s %q: err = %v, want permanent ErrInvalidName", op, name, err)
			}
		}
		check("put", hsm.PutBytes(ctx, v, name, []byte("x")))
		rc, err := v.Get(ctx, name)
		if rc != nil {
			rc.Close()
		}
		check("get", err)
		rc, err = v.GetRange(ctx, name, 0, 1)
		if rc != nil {
			rc.Close()
		}
		check("get range", err)
		_, err = v.Stat(ctx, name)
		check("stat", err)
		check("delete", v.Delete(ctx, name))
	}
	for _, prefix := range []string{"/", "/a", "a//", "../"} {
		err := v.List(ctx, prefix, func(hsm.ObjectInfo) error { return nil })
		if !errors.Is(err, hsm.ErrInvalidName) {
			t.Errorf("list %q: err = %v, want ErrInvalidName", prefix, err)
		}
	}
	// Nothing was stored under any spelling.
	expectList(t, v, "", nil)
}

func testCanceled(t *testing.T, v hsm.Volume) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := hsm.PutBytes(ctx, v, "canceled/obj", []byte("x"))
	if err == nil {
		t.Fatal("put with a canceled context succeeded")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("put with a canceled context: err = %v, want context.Canceled", err)
	}
	_, err = v.Stat(context.Background(), "canceled/obj")
	expectNotFound(t, "stat after canceled put", err)
}
