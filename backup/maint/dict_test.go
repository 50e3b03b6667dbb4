package maint

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/backup/internal/tune"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/localvol"
	"github.com/tidemark/tidemark/internal/testcorpus"
)

func TestRepositoryDictionary(t *testing.T) {
	defer func(n int) { tune.DictSampleBlobs = n }(tune.DictSampleBlobs)
	tune.DictSampleBlobs = 40
	files := testcorpus.Realistic(t, "spamassassin-spam.tar.zst")
	if len(files) < 120 {
		t.Fatalf("corpus too small: %d", len(files))
	}
	ctx := context.Background()
	vol, err := localvol.New(vfs.Default, filepath.Join(t.TempDir(), "repo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := repository.Init(ctx, vol, time.Unix(1e9, 0))
	if err != nil {
		t.Fatal(err)
	}
	var digests []dedup.Digest
	codecs := map[byte]int{}
	for i, f := range files[:120] {
		d := dedup.Sum(f.Data)
		put := repo.PutBlob
		if i%2 == 0 {
			put = repo.PutBlobDeferred
		}
		if _, err := put(ctx, d, f.Data); err != nil {
			t.Fatal(err)
		}
		b, err := hsm.ReadAll(ctx, vol, dedup.BlobName(d))
		if err != nil {
			t.Fatal(err)
		}
		codecs[b[0]]++
		if i >= tune.DictSampleBlobs && b[0] == dedup.CodecZstd {
			t.Fatalf("blob %d stored without the dictionary", i)
		}
		digests = append(digests, d)
	}
	if err := repo.SyncBlobs(ctx); err != nil {
		t.Fatal(err)
	}
	if codecs[dedup.CodecZstdDict] < 60 {
		t.Fatalf("codecs used: %v", codecs)
	}
	var dicts []string
	if err := vol.List(ctx, repository.DictPrefix, func(o hsm.ObjectInfo) error { dicts = append(dicts, o.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(dicts) != 1 {
		t.Fatalf("dictionaries: %v", dicts)
	}
	// A fresh Repository (another process, a restore) reads every blob,
	// and stores new blobs with the same dictionary.
	again, err := repository.Open(ctx, vol)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range digests {
		raw, err := again.ReadBlob(ctx, d)
		if err != nil || dedup.Sum(raw) != d {
			t.Fatalf("blob %d: %v", i, err)
		}
	}
	extra := files[120].Data
	if _, err := again.PutBlob(ctx, dedup.Sum(extra), extra); err != nil {
		t.Fatal(err)
	}
	b, _ := hsm.ReadAll(ctx, vol, dedup.BlobName(dedup.Sum(extra)))
	if id, ok := dedup.FramedDictID(b); !ok || repository.DictName(id) != dicts[0] {
		t.Fatalf("a reopened repository did not use its dictionary: codec %d", b[0])
	}
	rep, err := Verify(ctx, again, nil, VerifyOptions{ReadData: true})
	if err != nil || !rep.OK() || rep.Dicts != 1 {
		t.Fatalf("verify: %+v %v", rep, err)
	}

	// A damaged dictionary is reported and left in place.
	good, _ := hsm.ReadAll(ctx, vol, dicts[0])
	bad := append([]byte(nil), good...)
	bad[0] ^= 0xFF
	if err := hsm.PutBytes(ctx, vol, dicts[0], bad); err != nil {
		t.Fatal(err)
	}
	rep, err = Verify(ctx, mustOpen(t, vol), nil, VerifyOptions{Fix: true})
	if err != nil || rep.OK() || rep.Problems[0].Kind != ProblemCorrupt || rep.Problems[0].Object != dicts[0] {
		t.Fatalf("verify of a corrupt dictionary: %+v %v", rep, err)
	}
	if _, err := vol.Stat(ctx, dicts[0]); err != nil {
		t.Fatalf("verify --fix moved the only copy of a dictionary: %v", err)
	}
	// A missing one: its blobs cannot be read (verify --read-data reports
	// them: see TestVerifyMissingDictionary).
	if err := vol.Delete(ctx, dicts[0]); err != nil {
		t.Fatal(err)
	}
	lost := mustOpen(t, vol)
	if _, err := lost.ReadBlob(ctx, digests[len(digests)-1]); !errors.Is(err, repository.ErrNoDictionary) {
		t.Fatalf("ReadBlob without its dictionary: %v", err)
	}
	if err := hsm.PutBytes(ctx, vol, dicts[0], good); err != nil {
		t.Fatal(err)
	}
	if rep, err = Verify(ctx, mustOpen(t, vol), nil, VerifyOptions{ReadData: true}); err != nil || !rep.OK() {
		t.Fatalf("verify after restoring the dictionary: %+v %v", rep, err)
	}
}

func mustOpen(t *testing.T, vol hsm.Volume) *repository.Repository {
	t.Helper()
	r, err := repository.Open(context.Background(), vol)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
