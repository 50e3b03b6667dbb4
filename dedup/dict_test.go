package dedup

import (
	"bytes"
	"errors"
	"testing"
)

func TestDictCorpus(t *testing.T) {
	msgs := loadCorpus(t, "spamassassin-spam.tar.zst")
	train, rest := msgs[:len(msgs)/2], msgs[len(msgs)/2:]
	b, err := TrainDict(train, 0x1234567, 256<<10)
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := DictFileID(b); !ok || id != 0x1234567 {
		t.Fatalf("DictFileID = %x %v", id, ok)
	}
	again, err := TrainDict(train, 0x1234567, 256<<10)
	if err != nil || !bytes.Equal(again, b) {
		t.Fatalf("training is not deterministic: %v", err)
	}
	d, err := NewDict(b, DictLevelDefault)
	if err != nil {
		t.Fatal(err)
	}
	resolve := func(id uint32) (*Dict, error) {
		if id != d.ID() {
			return nil, ErrNoDict
		}
		return d, nil
	}
	var plain, withDict int
	for _, m := range rest {
		f := EncodeDict(m, 0, d)
		got, err := DecodeWith(f, resolve)
		if err != nil || !bytes.Equal(got, m) {
			t.Fatalf("round trip of a %d-byte message: %v", len(m), err)
		}
		if id, ok := FramedDictID(f); ok && id != d.ID() {
			t.Fatalf("FramedDictID = %x", id)
		}
		plain += len(Encode(m, 0))
		withDict += len(f)
	}
	t.Logf("%d held-out messages: %d bytes zstd, %d with a dictionary of %d bytes (%.1f%%)", len(rest), plain, withDict, len(b), 100*float64(withDict)/float64(plain))
	if withDict >= plain {
		t.Fatalf("the dictionary did not help on held-out mail: %d >= %d", withDict, plain)
	}
}

func TestDictErrors(t *testing.T) {
	samples := [][]byte{mailLike(3000), mailLike(5000), mailLike(7000)}
	b, err := TrainDict(samples, 7, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDict(b, DictLevelBetter)
	if err != nil {
		t.Fatal(err)
	}
	msg := mailLike(9000)
	f := EncodeDict(msg, 0, d)
	if f[0] != CodecZstdDict {
		t.Fatalf("codec %d", f[0])
	}
	if _, err := Decode(f); !errors.Is(err, ErrNoDict) {
		t.Errorf("Decode of a dictionary blob: %v", err)
	}
	if _, err := NewDecodeReader(bytes.NewReader(f)); !errors.Is(err, ErrNoDict) {
		t.Errorf("NewDecodeReader of a dictionary blob: %v", err)
	}
	if _, err := DecodeWith(f, nil); !errors.Is(err, ErrNoDict) {
		t.Errorf("DecodeWith(nil): %v", err)
	}
	other, _ := TrainDict(samples, 8, 64<<10)
	od, err := NewDict(other, DictLevelDefault)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeWith(f, func(uint32) (*Dict, error) { return od, nil }); !errors.Is(err, ErrNoDict) {
		t.Errorf("wrong dictionary: %v", err)
	}
	ok := func(uint32) (*Dict, error) { return d, nil }
	bad := bytes.Clone(f)
	bad[len(bad)-3] ^= 0xFF
	if _, err := DecodeWith(bad, ok); !errors.Is(err, ErrCorrupt) {
		t.Errorf("corrupt frame: %v", err)
	}
	if _, err := DecodeWith(f[:4], ok); !errors.Is(err, ErrCorrupt) {
		t.Errorf("short header: %v", err)
	}
	// Old codecs decode through DecodeWith too; incompressible input is raw.
	for _, raw := range [][]byte{msg, random(5000), {}} {
		for _, g := range [][]byte{Encode(raw, 0), EncodeDict(raw, 0, d), EncodeDict(raw, 0, nil)} {
			got, err := DecodeWith(g, ok)
			if err != nil || !bytes.Equal(got, raw) {
				t.Fatalf("codec %d: %v", g[0], err)
			}
		}
	}
	if EncodeDict(random(5000), 0, d)[0] != CodecRaw {
		t.Error("incompressible input was not stored raw")
	}
	if _, err := NewDict([]byte("not a dictionary"), DictLevelDefault); !errors.Is(err, ErrCorrupt) {
		t.Errorf("NewDict(garbage): %v", err)
	}
	r2 := random(4000)
	for i := range r2 {
		r2[i] ^= 0x5A
	}
	if _, err := TrainDict([][]byte{random(4000), r2}, 9, 64<<10); err == nil {
		t.Error("training on random data succeeded")
	}
	if _, err := TrainDict(samples, 0, 64<<10); err == nil {
		t.Error("id 0 accepted")
	}
}
