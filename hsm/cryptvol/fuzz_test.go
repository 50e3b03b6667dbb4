package cryptvol_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/memvol"
	"github.com/tidemark/tidemark/internal/corrupt"
)

// FuzzOpen stores arbitrary bytes, and mutations of a genuine object,
// under a sealed name: reading them whole or by range never panics and
// either fails as corruption (or an invalid range) or, for the genuine
// object unchanged, returns its content.
func FuzzOpen(f *testing.F) {
	base := memvol.New(nil)
	v := wrap(f, base, key(1))
	genuine := payload(3, chunk+100)
	mustPutF(f, v, "g", genuine)
	sealed, _ := hsm.ReadAll(context.Background(), base, "g")
	f.Add(sealed, int64(0), int64(-1), 0)
	f.Add(sealed[:60], int64(0), int64(10), 5)
	f.Add([]byte("TMCRYPT\x01"), int64(0), int64(-1), 0)
	f.Fuzz(func(t *testing.T, stored []byte, off, length int64, flip int) {
		b := bytes.Clone(stored)
		if len(b) > 0 && flip > 0 {
			b[flip%len(b)] ^= byte(flip)
		}
		ctx := context.Background()
		if err := hsm.PutBytes(ctx, base, "x", b); err != nil {
			t.Fatal(err)
		}
		check := func(what string, got []byte, err error) {
			if err != nil {
				if !corrupt.Is(err) && !bytes.Contains([]byte(err.Error()), []byte("invalid range")) {
					t.Fatalf("%s: %v is neither corruption nor an invalid range", what, err)
				}
				return
			}
			if len(got) > 0 {
				// Only a genuine sealed object opens: nothing here is
				// sealed under the name "x".
				t.Fatalf("%s: %d bytes opened from forged input", what, len(got))
			}
		}
		got, err := hsm.ReadAll(ctx, v, "x")
		check("get", got, err)
		if off < 0 || off > 1<<20 || length < -1 {
			return
		}
		rc, err := v.GetRange(ctx, "x", off, length)
		if err == nil {
			got, err = io.ReadAll(rc)
			rc.Close()
		}
		check("range", got, err)
	})
}

func mustPutF(f *testing.F, v hsm.Volume, name string, b []byte) {
	if err := hsm.PutBytes(context.Background(), v, name, b); err != nil {
		f.Fatal(err)
	}
}
