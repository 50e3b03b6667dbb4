package dedup

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func TestDigest(t *testing.T) {
	// FIPS 180-2 test vector.
	const abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	d := Sum([]byte("abc"))
	if d.String() != abc {
		t.Fatalf("Sum(abc) = %s", d)
	}
	if BlobName(d) != "blobs/ba/"+abc {
		t.Fatalf("BlobName = %s", BlobName(d))
	}
	p, err := ParseDigest(abc)
	if err != nil || p != d {
		t.Fatalf("ParseDigest: %v %v", p, err)
	}
	b, err := ParseBlobName(BlobName(d))
	if err != nil || b != d {
		t.Fatalf("ParseBlobName: %v %v", b, err)
	}
	sd, n, err := SumReader(strings.NewReader("abc"))
	if err != nil || sd != d || n != 3 {
		t.Fatalf("SumReader: %v %d %v", sd, n, err)
	}
	for _, bad := range []string{"", abc[:63], abc + "0", strings.ToUpper(abc), "g" + abc[1:], " " + abc[1:]} {
		if _, err := ParseDigest(bad); !errors.Is(err, ErrBadDigest) {
			t.Errorf("ParseDigest(%q) = %v", bad, err)
		}
	}
	for _, bad := range []string{"blobs/bb/" + abc, "blob/ba/" + abc, "blobs/ba" + abc, abc} {
		if _, err := ParseBlobName(bad); !errors.Is(err, ErrBadDigest) {
			t.Errorf("ParseBlobName(%q) = %v", bad, err)
		}
	}
	if !(Digest{}).IsZero() || d.IsZero() {
		t.Fatal("IsZero")
	}
}

// mailLike returns n bytes of compressible text.
func mailLike(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		b.WriteString("Received: from mail.example.org by mx.example.net; line ")
		b.WriteByte(byte('a' + i%26))
		b.WriteByte('\n')
	}
	return b.Bytes()[:n]
}

func random(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestEncodeThreshold(t *testing.T) {
	cases := []struct {
		raw       []byte
		threshold int
		want      byte
	}{
		{mailLike(4096), 4096, CodecZstd}, // exactly the threshold is compressed
		{mailLike(4095), 4096, CodecRaw},
		{mailLike(100000), -1, CodecRaw}, // never
		{mailLike(10), 0, CodecRaw},      // zstd would be larger
		{mailLike(1000), 0, CodecZstd},
		{random(10000), 100, CodecRaw}, // incompressible stays raw
		{nil, 0, CodecRaw},
		{nil, -1, CodecRaw},
	}
	for _, c := range cases {
		f := Encode(c.raw, c.threshold)
		if f[0] != c.want {
			t.Errorf("Encode(%d bytes, %d): codec %d, want %d", len(c.raw), c.threshold, f[0], c.want)
		}
		if f[0] == CodecZstd && len(f) >= len(c.raw)+1 {
			t.Errorf("compressed %d bytes to %d", len(c.raw), len(f))
		}
		got, err := Decode(f)
		if err != nil || !bytes.Equal(got, c.raw) {
			t.Errorf("Decode(Encode(%d bytes, %d)): %d bytes, %v", len(c.raw), c.threshold, len(got), err)
		}
		if cd, _ := Codec(f); cd != f[0] {
			t.Errorf("Codec = %d", cd)
		}
	}
}

// TestZstdBodyIsStandard decodes the body with a plain zstd decoder: the
// framing is a header byte in front of a standard zstd frame, nothing else.
func TestZstdBodyIsStandard(t *testing.T) {
	raw := mailLike(50000)
	f := Encode(raw, 0)
	d, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got, err := d.DecodeAll(f[1:], nil)
	if err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("plain zstd: %d bytes, %v", len(got), err)
	}
}

func TestDecodeErrors(t *testing.T) {
	good := Encode(mailLike(10000), 0)
	cases := []struct {
		in   []byte
		want error
	}{
		{nil, ErrCorrupt},
		{[]byte{CodecZstd}, ErrCorrupt},
		{good[:len(good)/2], ErrCorrupt},
		{append([]byte{CodecZstd}, "not zstd at all"...), ErrCorrupt},
		{[]byte{7, 1, 2, 3}, ErrUnknownCodec},
		{[]byte{0xff}, ErrUnknownCodec},
	}
	for _, c := range cases {
		if _, err := Decode(c.in); !errors.Is(err, c.want) {
			t.Errorf("Decode(% x...): %v, want %v", c.in[:min(len(c.in), 8)], err, c.want)
		}
		rc, err := NewDecodeReader(bytes.NewReader(c.in))
		if err == nil {
			_, err = io.ReadAll(rc)
			rc.Close()
		}
		if !errors.Is(err, c.want) {
			t.Errorf("NewDecodeReader(% x...): %v, want %v", c.in[:min(len(c.in), 8)], err, c.want)
		}
	}
	if _, err := Decode([]byte{9}); err == nil || !strings.Contains(err.Error(), "0x09") {
		t.Errorf("unknown codec error does not name the byte: %v", err)
	}
}

func TestStreaming(t *testing.T) {
	for _, raw := range [][]byte{nil, mailLike(100), mailLike(4096), mailLike(3 << 20), random(70000)} {
		for _, threshold := range []int{-1, 0, 4096, 4097} {
			var buf bytes.Buffer
			n, err := EncodeTo(&buf, bytes.NewReader(raw), threshold)
			if err != nil || n != int64(buf.Len()) {
				t.Fatalf("EncodeTo: %d %v", n, err)
			}
			wantCodec := CodecRaw
			if threshold >= 0 && len(raw) >= threshold {
				wantCodec = CodecZstd
			}
			if buf.Bytes()[0] != wantCodec {
				t.Fatalf("EncodeTo(%d bytes, %d): codec %d", len(raw), threshold, buf.Bytes()[0])
			}
			got, err := Decode(buf.Bytes())
			if err != nil || !bytes.Equal(got, raw) {
				t.Fatalf("Decode(EncodeTo(%d, %d)): %d bytes %v", len(raw), threshold, len(got), err)
			}
			for _, framed := range [][]byte{buf.Bytes(), Encode(raw, threshold)} {
				rc, err := NewDecodeReader(bytes.NewReader(framed))
				if err != nil {
					t.Fatal(err)
				}
				got, err = io.ReadAll(rc)
				rc.Close()
				if err != nil || !bytes.Equal(got, raw) {
					t.Fatalf("NewDecodeReader: %d bytes %v", len(got), err)
				}
			}
		}
	}
}

func TestDecodeReaderPassesSourceErrors(t *testing.T) {
	f := Encode(mailLike(200000), 0)
	boom := errors.New("network down")
	rc, err := NewDecodeReader(io.MultiReader(bytes.NewReader(f[:len(f)/2]), &errReader{boom}))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_, err = io.ReadAll(rc)
	if !errors.Is(err, boom) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("source error came back as %v", err)
	}
}

type errReader struct{ err error }

func (e *errReader) Read([]byte) (int, error) { return 0, e.err }

func TestConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				raw := mailLike(1000 + 997*((g*50+i)%40))
				got, err := Decode(Encode(raw, 0))
				if err != nil || !bytes.Equal(got, raw) {
					t.Errorf("round trip %d bytes: %v", len(raw), err)
					return
				}
				var buf bytes.Buffer
				if _, err := EncodeTo(&buf, bytes.NewReader(raw), 0); err != nil {
					t.Error(err)
					return
				}
				rc, err := NewDecodeReader(&buf)
				if err != nil {
					t.Error(err)
					return
				}
				got, err = io.ReadAll(rc)
				rc.Close()
				if err != nil || !bytes.Equal(got, raw) {
					t.Errorf("stream round trip: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{CodecRaw, 'h', 'i'})
	f.Add(Encode(mailLike(5000), 0))
	f.Add([]byte{CodecZstd, 0x28, 0xb5, 0x2f, 0xfd})
	f.Add([]byte{42})
	f.Fuzz(func(t *testing.T, in []byte) {
		raw, err := Decode(in)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownCodec) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if in[0] == CodecRaw && !bytes.Equal(raw, in[1:]) {
			t.Fatal("raw codec changed the bytes")
		}
		// What decodes must re-encode and decode to the same bytes.
		again, err := Decode(Encode(raw, 0))
		if err != nil || !bytes.Equal(again, raw) {
			t.Fatalf("re-encode: %v", err)
		}
		rc, err := NewDecodeReader(bytes.NewReader(in))
		if err != nil {
			t.Fatalf("stream decode refused what Decode accepted: %v", err)
		}
		defer rc.Close()
		got, err := io.ReadAll(rc)
		if err != nil || !bytes.Equal(got, raw) {
			t.Fatalf("stream decode differs: %v", err)
		}
	})
}
