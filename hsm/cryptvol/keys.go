package cryptvol

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/tidemark/tidemark/hsm"
)

// Key objects: each is the master key sealed under a key derived from one
// password (or key file) with Argon2id. They are stored in plaintext (they
// must be read before the master key is known) under KeyPrefix, one per
// password; any one opens the repository.
//
//	keys/<id>   (id: 16 hex digits, random)
//	{"version": 1, "kdf": "argon2id", "time": 3, "memory_kib": 65536,
//	 "threads": 2, "salt": <base64, 16 bytes>, "nonce": <base64, 24 bytes>,
//	 "sealed": <base64, XChaCha20-Poly1305 of the master key, associated
//	 data "tidemark key v1 " + id>, "created": <RFC 3339>, "host": <name>}
//
// The Argon2id output (32 bytes) is the sealing key. The key parameters are
// read from the object but bounded (KDFParams.check), so an edited key
// object can make its own password fail but cannot make opening run for
// hours or exhaust memory.

// KeyPrefix is where the key objects live.
const KeyPrefix = "keys/"

// maxKeyObject bounds what is read of a key object.
const maxKeyObject = 64 << 10

var (
	// ErrWrongPassword reports a password that opens no key object.
	ErrWrongPassword = errors.New("cryptvol: wrong password: no key of the repository opens with it")
	// ErrLastKey refuses to remove the only key.
	ErrLastKey = errors.New("cryptvol: the last key cannot be removed (add another first)")
	// ErrNoKey reports a key id that does not exist.
	ErrNoKey = errors.New("cryptvol: no such key")
)

// KDFParams are the Argon2id parameters of a key.
type KDFParams struct {
	Time      uint32 `json:"time"`       // passes
	MemoryKiB uint32 `json:"memory_kib"` // memory in KiB
	Threads   uint8  `json:"threads"`
}

// DefaultKDF is what new keys get: 64 MiB and 3 passes, about a third of
// a second on one core of a current server, per attempt.
var DefaultKDF = KDFParams{Time: 3, MemoryKiB: 64 << 10, Threads: 2}

func (p KDFParams) check() error {
	if p.Time < 1 || p.Time > 64 || p.Threads < 1 || p.Threads > 64 ||
		p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > 1<<20 {
		return fmt.Errorf("argon2id parameters out of bounds (time %d, memory %d KiB, threads %d)", p.Time, p.MemoryKiB, p.Threads)
	}
	return nil
}

// KeyInfo describes one key object.
type KeyInfo struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Host    string    `json:"host"`
	KDF     KDFParams `json:"kdf"`
}

type keyFile struct {
	Version int    `json:"version"`
	KDF     string `json:"kdf"`
	KDFParams
	Salt    []byte    `json:"salt"`
	Nonce   []byte    `json:"nonce"`
	Sealed  []byte    `json:"sealed"`
	Created time.Time `json:"created"`
	Host    string    `json:"host"`
}

// NewMasterKey returns a random master key.
func NewMasterKey() ([]byte, error) {
	k := make([]byte, MasterKeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	return k, nil
}

// KeyCheck returns a value that identifies master without revealing it;
// the repository manifest records it so that a key object from another
// repository is not taken for one of this repository.
func KeyCheck(master []byte) string {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("tidemark cryptvol key check v1"))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

func keyAD(id string) []byte { return []byte("tidemark key v1 " + id) }

// AddKey seals master under password with params and stores it as a new
// key object on v (the volume without encryption). It returns the key id.
func AddKey(ctx context.Context, v hsm.Volume, master, password []byte, params KDFParams, now time.Time, host string) (string, error) {
	if len(password) == 0 {
		return "", errors.New("add key: empty password")
	}
	if err := params.check(); err != nil {
		return "", fmt.Errorf("add key: %w", err)
	}
	var id [8]byte
	kf := keyFile{Version: 1, KDF: "argon2id", KDFParams: params, Salt: make([]byte, 16),
		Nonce: make([]byte, chacha20poly1305.NonceSizeX), Created: now.UTC(), Host: host}
	for _, b := range [][]byte{id[:], kf.Salt, kf.Nonce} {
		if _, err := rand.Read(b); err != nil {
			return "", fmt.Errorf("add key: %w", err)
		}
	}
	ids := hex.EncodeToString(id[:])
	aead, err := chacha20poly1305.NewX(kf.derive(password))
	if err != nil {
		return "", err
	}
	kf.Sealed = aead.Seal(nil, kf.Nonce, master, keyAD(ids))
	b, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return "", err
	}
	if err := hsm.PutBytes(ctx, v, KeyPrefix+ids, append(b, '\n')); err != nil {
		return "", fmt.Errorf("add key: %w", err)
	}
	return ids, nil
}

func (kf *keyFile) derive(password []byte) []byte {
	return argon2.IDKey(password, kf.Salt, kf.Time, kf.MemoryKiB, kf.Threads, chacha20poly1305.KeySize)
}

// readKey reads and checks the shape of one key object.
func readKey(ctx context.Context, v hsm.Volume, id string) (*keyFile, error) {
	rc, err := v.GetRange(ctx, KeyPrefix+id, 0, maxKeyObject+1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var kf keyFile
	dec := json.NewDecoder(rc)
	if err := dec.Decode(&kf); err != nil {
		return nil, fmt.Errorf("key %s: %w: %v", id, ErrCorrupt, err)
	}
	if kf.Version != 1 || kf.KDF != "argon2id" || len(kf.Salt) < 16 || len(kf.Nonce) != chacha20poly1305.NonceSizeX ||
		len(kf.Sealed) != MasterKeySize+chacha20poly1305.Overhead {
		return nil, fmt.Errorf("key %s: %w: unknown version, kdf or field sizes", id, ErrCorrupt)
	}
	if err := kf.KDFParams.check(); err != nil {
		return nil, fmt.Errorf("key %s: %w: %v", id, ErrCorrupt, err)
	}
	return &kf, nil
}

// Keys lists the key objects on v, in id order. A key object that cannot
// be read is listed with only its id.
func Keys(ctx context.Context, v hsm.Volume) ([]KeyInfo, error) {
	ids, err := keyIDs(ctx, v)
	if err != nil {
		return nil, err
	}
	out := make([]KeyInfo, 0, len(ids))
	for _, id := range ids {
		ki := KeyInfo{ID: id}
		if kf, err := readKey(ctx, v, id); err == nil {
			ki.Created, ki.Host, ki.KDF = kf.Created, kf.Host, kf.KDFParams
		}
		out = append(out, ki)
	}
	return out, nil
}

func keyIDs(ctx context.Context, v hsm.Volume) ([]string, error) {
	var ids []string
	err := v.List(ctx, KeyPrefix, func(oi hsm.ObjectInfo) error {
		id := strings.TrimPrefix(oi.Name, KeyPrefix)
		if len(id) == 16 && strings.Trim(id, "0123456789abcdef") == "" {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	sort.Strings(ids)
	return ids, nil
}

// OpenKey finds the key object that password opens and returns the master
// key and the key's id. check, when not empty, is the KeyCheck the master
// key must have (a key object copied from another repository fails it).
// A password that opens no key fails with ErrWrongPassword; one attempt
// costs one Argon2id derivation per key object.
func OpenKey(ctx context.Context, v hsm.Volume, password []byte, check string) ([]byte, string, error) {
	ids, err := keyIDs(ctx, v)
	if err != nil {
		return nil, "", err
	}
	if len(ids) == 0 {
		return nil, "", fmt.Errorf("open key: %w: the repository has no key objects", ErrCorrupt)
	}
	var bad []string
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		kf, err := readKey(ctx, v, id)
		if err != nil {
			if hsm.IsNotFound(err) {
				continue // removed while listing
			}
			if !errors.Is(err, ErrCorrupt) {
				return nil, "", fmt.Errorf("open key: %w", err)
			}
			bad = append(bad, err.Error())
			continue
		}
		aead, err := chacha20poly1305.NewX(kf.derive(password))
		if err != nil {
			return nil, "", err
		}
		master, err := aead.Open(nil, kf.Nonce, kf.Sealed, keyAD(id))
		if err != nil {
			continue
		}
		if check != "" && !hmac.Equal([]byte(KeyCheck(master)), []byte(check)) {
			bad = append(bad, fmt.Sprintf("key %s opens but belongs to another repository", id))
			continue
		}
		return master, id, nil
	}
	if len(bad) > 0 {
		return nil, "", fmt.Errorf("%w (also: %s)", ErrWrongPassword, strings.Join(bad, "; "))
	}
	return nil, "", ErrWrongPassword
}

// RemoveKey deletes key id from v, refusing to remove the last key.
func RemoveKey(ctx context.Context, v hsm.Volume, id string) error {
	ids, err := keyIDs(ctx, v)
	if err != nil {
		return err
	}
	if !contains(ids, id) {
		return fmt.Errorf("remove key %s: %w", id, ErrNoKey)
	}
	if len(ids) == 1 {
		return fmt.Errorf("remove key %s: %w", id, ErrLastKey)
	}
	if err := v.Delete(ctx, KeyPrefix+id); err != nil {
		return fmt.Errorf("remove key %s: %w", id, err)
	}
	return nil
}

func contains(s []string, x string) bool {
	for _, e := range s {
		if e == x {
			return true
		}
	}
	return false
}
