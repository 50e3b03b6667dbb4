package cryptvol_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/cryptvol"
	"github.com/tidemark/tidemark/hsm/memvol"
)

// light keeps tests fast; the parameters are stored in each key object.
var light = cryptvol.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}

func addKey(t *testing.T, v hsm.Volume, master []byte, pw string) string {
	t.Helper()
	id, err := cryptvol.AddKey(context.Background(), v, master, []byte(pw), light, time.Unix(1e9, 0), "host")
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestKeys(t *testing.T) {
	ctx := context.Background()
	v := memvol.New(nil)
	master, err := cryptvol.NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	check := cryptvol.KeyCheck(master)
	first := addKey(t, v, master, "correct horse")

	got, id, err := cryptvol.OpenKey(ctx, v, []byte("correct horse"), check)
	if err != nil || id != first || !bytes.Equal(got, master) {
		t.Fatalf("open with the password: %v", err)
	}
	if _, _, err := cryptvol.OpenKey(ctx, v, []byte("wrong"), check); !errors.Is(err, cryptvol.ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	if err := cryptvol.RemoveKey(ctx, v, first); !errors.Is(err, cryptvol.ErrLastKey) {
		t.Fatalf("removing the last key: %v", err)
	}

	// Rotation: add the new password, remove the old one.
	second := addKey(t, v, master, "battery staple")
	keys, err := cryptvol.Keys(ctx, v)
	if err != nil || len(keys) != 2 || keys[0].KDF != light {
		t.Fatalf("keys: %+v %v", keys, err)
	}
	if err := cryptvol.RemoveKey(ctx, v, first); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cryptvol.OpenKey(ctx, v, []byte("correct horse"), check); !errors.Is(err, cryptvol.ErrWrongPassword) {
		t.Fatalf("removed key still opens: %v", err)
	}
	if got, id, err := cryptvol.OpenKey(ctx, v, []byte("battery staple"), check); err != nil || id != second || !bytes.Equal(got, master) {
		t.Fatalf("rotated key: %v", err)
	}
	if err := cryptvol.RemoveKey(ctx, v, first); !errors.Is(err, cryptvol.ErrNoKey) {
		t.Fatalf("removing a removed key: %v", err)
	}
}

// TestKeyForeign: a key object of another repository under the same
// password does not open this one, and a tampered key object opens
// nothing.
func TestKeyForeign(t *testing.T) {
	ctx := context.Background()
	v := memvol.New(nil)
	mine, _ := cryptvol.NewMasterKey()
	theirs, _ := cryptvol.NewMasterKey()
	addKey(t, v, theirs, "pw")
	if _, _, err := cryptvol.OpenKey(ctx, v, []byte("pw"), cryptvol.KeyCheck(mine)); !errors.Is(err, cryptvol.ErrWrongPassword) {
		t.Fatalf("foreign key: %v", err)
	}

	w := memvol.New(nil)
	id := addKey(t, w, mine, "pw")
	raw, _ := hsm.ReadAll(ctx, w, cryptvol.KeyPrefix+id)
	for _, mut := range []func([]byte) []byte{
		func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"sealed": "`), []byte(`"sealed": "A`), 1)[:len(b)]
		},
		func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"memory_kib": 1024`), []byte(`"memory_kib": 4000000`), 1)
		},
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"time": 1`), []byte(`"time": 2`), 1) },
		func(b []byte) []byte { return b[:len(b)/2] },
	} {
		mustPut(t, w, cryptvol.KeyPrefix+id, mut(bytes.Clone(raw)))
		if _, _, err := cryptvol.OpenKey(ctx, w, []byte("pw"), cryptvol.KeyCheck(mine)); !errors.Is(err, cryptvol.ErrWrongPassword) {
			t.Fatalf("tampered key object: %v", err)
		}
	}
}
