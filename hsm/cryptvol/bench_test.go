package cryptvol_test

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/memvol"
)

// BenchmarkPutGet measures sealing and opening 4 MiB objects (a pack's
// order of size) in memory, against the same calls on the bare volume:
// the cost encryption adds per byte, without disk or network.
func BenchmarkPutGet(b *testing.B) {
	data := payload(1, 4<<20)
	for _, enc := range []bool{false, true} {
		var v hsm.Volume = memvol.New(nil)
		if enc {
			v = wrap(b, v, key(1))
		}
		b.Run(fmt.Sprintf("put/encrypted=%v", enc), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for i := 0; i < b.N; i++ {
				if err := hsm.PutBytes(context.Background(), v, "o", data); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("get/encrypted=%v", enc), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for i := 0; i < b.N; i++ {
				rc, err := v.Get(context.Background(), "o")
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, rc)
				rc.Close()
			}
		})
		b.Run(fmt.Sprintf("range4KiB/encrypted=%v", enc), func(b *testing.B) {
			b.SetBytes(4096)
			for i := 0; i < b.N; i++ {
				rc, err := v.GetRange(context.Background(), "o", int64(i%1000)*4096, 4096)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, rc)
				rc.Close()
			}
		})
	}
}
