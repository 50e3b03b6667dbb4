package engine

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/tidemark/tidemark/engine/event"
)

func randomItem(rng *rand.Rand) itemRec {
	it := itemRec{
		ID:           rng.Uint64() >> rng.IntN(64),
		Type:         event.ItemType(rng.IntN(256)),
		InternalDate: rng.Int64() >> rng.IntN(64),
		Size:         rng.Int64() >> rng.IntN(64),
		ModSeq:       rng.Uint64() >> rng.IntN(64),
	}
	if rng.IntN(2) == 0 {
		it.InternalDate = -it.InternalDate
	}
	for i := range it.Digest {
		it.Digest[i] = byte(rng.IntN(256))
	}
	words := []string{`\Seen`, `\Flagged`, "$Junk", "käse", "日本", "", "a very long keyword that needs a longer length head than twenty-three bytes"}
	for n := rng.IntN(4); n > 0; n-- {
		it.Flags = append(it.Flags, words[rng.IntN(len(words))])
	}
	return it
}

// decodeItem gives what the general decoder gives for every record encVal
// writes, including the extremes of each field.
func TestDecodeItemAsGeneral(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	items := []itemRec{{}, {ID: math.MaxUint64, ModSeq: math.MaxUint64, InternalDate: math.MinInt64, Size: math.MaxInt64, Type: 255}}
	for i := 0; i < 5000; i++ {
		items = append(items, randomItem(rng))
	}
	for _, want := range items {
		b := encVal(want)
		var fast, general itemRec
		if !decodeItemFast(b, &fast) {
			t.Fatalf("fast decoder refused %x", b)
		}
		must(t, decVal(b, &general))
		if !reflect.DeepEqual(fast, general) || !reflect.DeepEqual(fast, want) {
			t.Fatalf("%x: fast %+v, general %+v, encoded %+v", b, fast, general, want)
		}
	}
}

// FuzzDecodeItem: whatever the bytes, when the fast decoder accepts them
// the general decoder accepts them too and gives the same record, so
// decodeItem never answers differently from it.
func FuzzDecodeItem(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 20; i++ {
		f.Add(encVal(randomItem(rng)))
	}
	f.Add([]byte{0xa1, 0x01, 0x1b})
	f.Add([]byte{0xbf, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast itemRec
		if !decodeItemFast(b, &fast) {
			return
		}
		var general itemRec
		if err := valDec.Unmarshal(b, &general); err != nil {
			t.Fatalf("%x: fast decoder accepted what the general one refuses: %v", b, err)
		}
		if !reflect.DeepEqual(fast, general) {
			t.Fatalf("%x: fast %+v, general %+v", b, fast, general)
		}
	})
}
