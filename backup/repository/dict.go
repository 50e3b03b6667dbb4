package repository

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/tidemark/tidemark/backup/internal/tune"
	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/hsm"
)

// A repository trains one zstd dictionary for mail from the first blobs it
// receives and compresses every later blob with it (dedup.CodecZstdDict).
// The dictionary is an immutable object, dict/<8 hex id>.zdict, written
// durably before the first blob that uses it; nothing ever deletes it.
const (
	DictPrefix = "dict/"
	dictSuffix = ".zdict"
	// dictSampleCap bounds one sample (headers and the start of the body
	// are what messages share).
	dictSampleCap = 64 << 10
	// dictMaxContent bounds the dictionary's content (its history).
	dictMaxContent = 256 << 10
)

var (
	// blobLevel is the zstd level of dictionary-compressed blobs: the
	// scanner writes in the background, and on the realistic corpus
	// "better" stores ~6% less than the default for little more CPU.
	blobLevel = dedup.DictLevelBetter
	// dictSampleBytes: training starts when tune.DictSampleBlobs blobs or
	// this many bytes have been sampled.
	dictSampleBytes = 16 << 20
)

func DictName(id uint32) string { return fmt.Sprintf("%s%08x%s", DictPrefix, id, dictSuffix) }

func ParseDictName(name string) (uint32, bool) {
	s, ok := strings.CutPrefix(name, DictPrefix)
	if !ok {
		return 0, false
	}
	if s, ok = strings.CutSuffix(s, dictSuffix); !ok || len(s) != 8 {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 16, 32)
	return uint32(v), err == nil && v != 0
}

// dictSet caches a repository's dictionaries and collects training
// samples. Its zero value is ready.
type dictSet struct {
	mu       sync.Mutex
	loaded   bool // dict/ has been listed
	byID     map[uint32]*dedup.Dict
	active   *dedup.Dict // compresses new blobs
	samples  [][]byte
	sampled  int
	training bool
	gaveUp   bool
}

// encodeBlob frames raw for the repository: with the active dictionary,
// or plain zstd while there is none yet (raw then becomes a training
// sample; the call that completes the sample trains and stores the
// dictionary).
func (r *Repository) encodeBlob(ctx context.Context, raw []byte) ([]byte, error) {
	ds := &r.dicts
	ds.mu.Lock()
	if !ds.loaded {
		if err := r.loadDicts(ctx); err != nil {
			ds.mu.Unlock()
			return nil, err
		}
	}
	if d := ds.active; d != nil {
		ds.mu.Unlock()
		return dedup.EncodeDict(raw, 0, d), nil
	}
	var train [][]byte
	if !ds.training && !ds.gaveUp {
		s := raw[:min(len(raw), dictSampleCap)]
		ds.samples = append(ds.samples, append([]byte(nil), s...))
		ds.sampled += len(s)
		if len(ds.samples) >= tune.DictSampleBlobs || ds.sampled >= dictSampleBytes {
			train, ds.samples, ds.sampled, ds.training = ds.samples, nil, 0, true
		}
	}
	ds.mu.Unlock()
	if train != nil {
		d, err := r.trainDict(ctx, train)
		ds.mu.Lock()
		ds.training = false
		if err != nil {
			// Not fatal: blobs stay plain zstd. Mail that shares nothing
			// gives up for good; a failing volume tries again later.
			ds.gaveUp = !errors.Is(err, errStoreDict)
		} else {
			ds.byID[d.ID()] = d
			ds.active = d
		}
		ds.mu.Unlock()
		if d != nil {
			return dedup.EncodeDict(raw, 0, d), nil
		}
	}
	return dedup.Encode(raw, 0), nil
}

var errStoreDict = errors.New("store dictionary")

// trainDict builds a dictionary from samples and stores it durably.
func (r *Repository) trainDict(ctx context.Context, samples [][]byte) (*dedup.Dict, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	// zstd reserves ids below 32768 and from 2^31 up for registered use.
	id := 1<<15 + binary.LittleEndian.Uint32(b[:])%(1<<31-1<<15)
	raw, err := dedup.TrainDict(samples, id, dictMaxContent)
	if err != nil {
		return nil, err
	}
	d, err := dedup.NewDict(raw, blobLevel)
	if err != nil {
		return nil, err
	}
	if err := r.PutObject(ctx, DictName(id), raw); err != nil {
		return nil, fmt.Errorf("%w %08x: %v", errStoreDict, id, err)
	}
	return d, nil
}

// loadDicts lists dict/ and makes the first dictionary (by name) the one
// new blobs use. Called with r.dicts.mu held.
func (r *Repository) loadDicts(ctx context.Context) error {
	ds := &r.dicts
	if ds.byID == nil {
		ds.byID = map[uint32]*dedup.Dict{}
	}
	var ids []uint32
	err := r.vol.List(ctx, DictPrefix, func(o hsm.ObjectInfo) error {
		if id, ok := ParseDictName(o.Name); ok {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list dictionaries: %w", err)
	}
	for _, id := range ids {
		d, err := r.ReadDict(ctx, id)
		if err != nil {
			// A damaged dictionary is verify's to report; new blobs just
			// do not use it.
			continue
		}
		ds.byID[id] = d
		if ds.active == nil {
			ds.active = d
		}
	}
	ds.loaded = true
	return nil
}

// ReadDict reads and parses dict/<id>.zdict.
func (r *Repository) ReadDict(ctx context.Context, id uint32) (*dedup.Dict, error) {
	b, err := hsm.ReadAll(ctx, r.vol, DictName(id))
	if err != nil {
		return nil, err
	}
	if got, ok := dedup.DictFileID(b); !ok || got != id {
		return nil, fmt.Errorf("%s: %w: not dictionary %08x", DictName(id), ErrCorrupt, id)
	}
	d, err := dedup.NewDict(b, blobLevel)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", DictName(id), ErrCorrupt, err)
	}
	return d, nil
}

// dict resolves a dictionary id for decoding, reading it on first use.
func (r *Repository) dict(ctx context.Context, id uint32) (*dedup.Dict, error) {
	ds := &r.dicts
	ds.mu.Lock()
	d := ds.byID[id]
	ds.mu.Unlock()
	if d != nil {
		return d, nil
	}
	d, err := r.ReadDict(ctx, id)
	if hsm.IsNotFound(err) {
		return nil, fmt.Errorf("%w: %s: %v", ErrNoDictionary, DictName(id), err)
	}
	if err != nil {
		return nil, err
	}
	ds.mu.Lock()
	if ds.byID == nil {
		ds.byID = map[uint32]*dedup.Dict{}
	}
	if old := ds.byID[id]; old != nil {
		d = old
	} else {
		ds.byID[id] = d
	}
	ds.mu.Unlock()
	return d, nil
}
