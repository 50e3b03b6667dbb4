package packvol

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/internal/crashfs"
)

// quiet discards recovery warnings in tests that provoke them by the dozen.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// crashOpts: small packs and a low large threshold, so a short workload
// rolls packs, mixes both tiers and gives Compact work.
func crashOpts() *Options {
	return &Options{SmallMax: 1500, PackSize: 4096, Logger: quiet}
}

type opKind int

const (
	opPut opKind = iota
	opPutDeferred
	opSync
	opDelete
	opCompact
	opCheckpoint
)

type step struct {
	kind opKind
	name string
	body []byte
}

func body(i, n int) []byte {
	b := bytes.Repeat([]byte(fmt.Sprintf("<%d>", i)), n/2+1)
	return b[:n]
}

// workload mixes durable and deferred puts (some above SmallMax), syncs,
// deletes, replacements across the two tiers, compactions and index
// checkpoints.
func workload() []step {
	var s []step
	name := func(i int) string { return fmt.Sprintf("blobs/%02x/obj%d", i%3, i%9) }
	for i := range 60 {
		n := 100 + (i*137)%900
		if i%11 == 5 {
			n = 1600 + i // large
		}
		switch {
		case i%10 == 9:
			s = append(s, step{kind: opSync})
		case i%7 == 3:
			s = append(s, step{kind: opDelete, name: name(i)})
		case i%13 == 12:
			s = append(s, step{kind: opCompact})
		case i%2 == 0:
			s = append(s, step{kind: opPutDeferred, name: name(i), body: body(i, n)})
		default:
			s = append(s, step{kind: opPut, name: name(i), body: body(i, n)})
		}
		if i%8 == 4 {
			s = append(s, step{kind: opCheckpoint})
		}
	}
	return append(s, step{kind: opPut, name: "big/final", body: body(99, 2000)}, step{kind: opCompact})
}

// model tracks, per name, what may be found after a crash: the state the
// last acknowledged durable change left (nil: absent), plus every value
// written since without a durability promise.
type model struct {
	durable map[string][]byte
	maybe   map[string][][]byte
	names   map[string]bool
}

func newModel() *model {
	return &model{durable: map[string][]byte{}, maybe: map[string][][]byte{}, names: map[string]bool{}}
}

func (m *model) pending(name string, b []byte) {
	m.names[name] = true
	m.maybe[name] = append(m.maybe[name], b)
}

func (m *model) settle(name string, b []byte) {
	m.names[name] = true
	m.durable[name] = b
	m.maybe[name] = nil
}

// run applies the workload until an operation fails (the crash), then
// marks that operation's effect as possible.
func run(t *testing.T, v *Volume, m *model) { runSteps(t, v, m, workload()) }

func runSteps(t *testing.T, v *Volume, m *model, steps []step) {
	ctx := context.Background()
	for _, st := range steps {
		var err error
		switch st.kind {
		case opPut:
			m.pending(st.name, st.body)
			if err = hsm.PutBytes(ctx, v, st.name, st.body); err == nil {
				m.settle(st.name, st.body)
			}
		case opPutDeferred:
			m.pending(st.name, st.body)
			err = v.PutDeferred(ctx, st.name, bytes.NewReader(st.body), int64(len(st.body)))
		case opSync:
			if err = v.SyncDeferred(ctx); err == nil {
				for name, vals := range m.maybe {
					if len(vals) > 0 {
						m.settle(name, vals[len(vals)-1])
					}
				}
			}
		case opDelete:
			m.pending(st.name, nil)
			if err = v.Delete(ctx, st.name); err == nil {
				m.settle(st.name, nil)
			}
		case opCompact:
			_, err = v.Compact(ctx, 0.3)
		case opCheckpoint:
			// Makes the packs durable, not the large tier's deferred
			// files: the model promises nothing more.
			err = v.Checkpoint(ctx)
		}
		if err != nil {
			if !errors.Is(err, crashfs.ErrInjected) {
				t.Fatalf("unexpected error: %v", err)
			}
			return
		}
	}
}

// check reopens nothing: it verifies v against the model.
func check(t *testing.T, v *Volume, m *model, label string) {
	ctx := context.Background()
	listed := map[string]bool{}
	if err := v.List(ctx, "", func(oi hsm.ObjectInfo) error { listed[oi.Name] = true; return nil }); err != nil {
		t.Fatalf("%s: list: %v", label, err)
	}
	for name := range m.names {
		got, err := hsm.ReadAll(ctx, v, name)
		if err != nil && !errors.Is(err, hsm.ErrNotFound) {
			t.Fatalf("%s: read %s: %v", label, name, err)
		}
		if (err == nil) != listed[name] {
			t.Fatalf("%s: %s readable=%v but listed=%v", label, name, err == nil, listed[name])
		}
		var found []byte
		if err == nil {
			found = got
			if found == nil {
				found = []byte{}
			}
		}
		ok := bytes.Equal(found, m.durable[name]) && (found == nil) == (m.durable[name] == nil)
		for _, alt := range m.maybe[name] {
			ok = ok || (bytes.Equal(found, alt) && (found == nil) == (alt == nil))
		}
		if !ok {
			t.Fatalf("%s: %s holds %d bytes (found=%v), want durable %d bytes (present=%v) or one of %d unsynced values",
				label, name, len(found), found != nil, len(m.durable[name]), m.durable[name] != nil, len(m.maybe[name]))
		}
	}
}

// TestCrashEveryOp crashes the workload at every mutating file operation,
// with and without torn writes, reopens the file system a power cut would
// leave, and checks every acknowledged durable Put and Delete, that
// unsynced objects are absent or whole, and that the reopened volume takes
// writes again.
func TestCrashEveryOp(t *testing.T) {
	// Count the operations of a clean run.
	clean := newCrashFS(0, false, 0)
	v, err := New(clean, "/vol", crashOpts())
	if err != nil {
		t.Fatal(err)
	}
	run(t, v, newModel())
	total := clean.Ops()
	if st := v.Stats(); st.Large == 0 || st.Packs < 2 {
		t.Fatalf("workload too tame: %+v", st)
	}
	v.Close()
	if total < 100 {
		t.Fatalf("only %d operations", total)
	}
	step := 1
	if testing.Short() {
		step = 7
	}
	for _, torn := range []bool{false, true} {
		for k := 1; k <= total; k += step {
			label := fmt.Sprintf("torn=%v crash at op %d/%d", torn, k, total)
			ffs := newCrashFS(k, torn, uint64(k))
			m := newModel()
			v, err := New(ffs, "/vol", crashOpts())
			if err == nil {
				run(t, v, m)
			} else if !errors.Is(err, crashfs.ErrInjected) {
				t.Fatalf("%s: new: %v", label, err)
			}
			if ffs.Crashed() == nil {
				t.Fatalf("%s: no crash happened", label)
			}
			v2, err := New(ffs.Crashed(), "/vol", crashOpts())
			if err != nil {
				t.Fatalf("%s: reopen: %v", label, err)
			}
			check(t, v2, m, label)
			// The reopened volume works and keeps what it is given.
			if err := hsm.PutBytes(context.Background(), v2, "after/crash", []byte("x")); err != nil {
				t.Fatalf("%s: put after reopen: %v", label, err)
			}
			if _, err := v2.Compact(context.Background(), 0); err != nil {
				t.Fatalf("%s: compact after reopen: %v", label, err)
			}
			check(t, v2, m, label+" after compact")
			v2.Close()
			v3, err := New(ffs.Crashed(), "/vol", crashOpts())
			if err != nil {
				t.Fatalf("%s: second reopen: %v", label, err)
			}
			check(t, v3, m, label+" second reopen")
			v3.Close()
		}
	}
}

// newCrashFS is the crash harness with a torn crash keeping half of the
// unsynced data, chosen by seed: a disk may persist any of it.
func newCrashFS(crashAt int, torn bool, seed uint64) *crashfs.FS {
	fs := crashfs.New()
	fs.CrashAt, fs.Torn, fs.UnsyncedPercent, fs.Seed = crashAt, torn, 50, seed
	return fs
}
