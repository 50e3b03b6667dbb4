package repository

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/cryptvol"
)

// Encryption is the manifest's description of an encrypted repository.
// The manifest itself is plaintext and unauthenticated: it is what a
// reader needs before it has a key. Whoever edits it can make the
// repository fail to open, and can make it claim to be unencrypted, which
// OpenOptions.RequireEncrypted refuses; no edit makes an encrypted
// object readable without the key.
type Encryption struct {
	// Scheme is "cryptvol-1": every object but the manifest and keys/ is
	// sealed as hsm/cryptvol documents, keys under keys/ (cryptvol.AddKey).
	Scheme string `json:"scheme"`
	// KeyCheck identifies the master key (cryptvol.KeyCheck), so a key
	// object copied in from another repository is not used.
	KeyCheck string `json:"key_check"`
}

const schemeCryptvol1 = "cryptvol-1"

// KeyPrefix holds the key objects of an encrypted repository.
const KeyPrefix = cryptvol.KeyPrefix

var (
	// ErrLocked reports an encrypted repository opened without a password.
	ErrLocked = errors.New("backup: the repository is encrypted: a password is needed")
	// ErrNotEncrypted reports a repository that says it is not encrypted
	// where an encrypted one was expected (a password is configured).
	ErrNotEncrypted = errors.New("backup: the repository is not encrypted, but a password is configured: refusing to trust its objects")
	// ErrWrongPassword reports a password that opens no key of the
	// repository.
	ErrWrongPassword = cryptvol.ErrWrongPassword
)

// OpenOptions say how OpenWith and InitWith unlock or
// create a repository. The zero value opens unencrypted repositories only.
type OpenOptions struct {
	// Password unlocks an encrypted repository (any one of its keys). With
	// InitWith, a non-empty Password creates an encrypted
	// repository whose first key it is.
	Password []byte
	// RequireEncrypted refuses an unencrypted repository with
	// ErrNotEncrypted. Callers set it whenever a password is configured, so
	// that a manifest edited to say "not encrypted" is not believed.
	RequireEncrypted bool
	// KDF are the Argon2id parameters of a key made by InitWith
	// (zero: cryptvol.DefaultKDF).
	KDF cryptvol.KDFParams
	// Host is recorded in a new key object.
	Host string
}

func (o *OpenOptions) kdf() cryptvol.KDFParams {
	if o.KDF == (cryptvol.KDFParams{}) {
		return cryptvol.DefaultKDF
	}
	return o.KDF
}

// plainName reports the objects an encrypted repository keeps in
// plaintext: the manifest and the key objects.
func plainName(name string) bool {
	return name == ManifestName || strings.HasPrefix(name, KeyPrefix)
}

// OpenWith opens an existing repository, unlocking it with
// opts.Password when it is encrypted.
func OpenWith(ctx context.Context, vol hsm.Volume, opts *OpenOptions) (*Repository, error) {
	if opts == nil {
		opts = &OpenOptions{}
	}
	m, err := readManifest(ctx, vol)
	if err != nil {
		return nil, err
	}
	r := &Repository{vol: vol, raw: vol, manifest: m}
	if m.Encryption == nil {
		if opts.RequireEncrypted {
			return nil, fmt.Errorf("open repository: %w", ErrNotEncrypted)
		}
		return r, nil
	}
	if m.Encryption.Scheme != schemeCryptvol1 {
		return nil, fmt.Errorf("open repository: %w: encryption scheme %q", ErrFormat, m.Encryption.Scheme)
	}
	if len(opts.Password) == 0 {
		return nil, fmt.Errorf("open repository: %w", ErrLocked)
	}
	master, id, err := cryptvol.OpenKey(ctx, vol, opts.Password, m.Encryption.KeyCheck)
	if err != nil {
		return nil, fmt.Errorf("open repository: %w", err)
	}
	if err := r.unlock(master, id); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Repository) unlock(master []byte, id string) error {
	cv, err := cryptvol.New(r.raw, master, &cryptvol.Options{Plain: plainName})
	if err != nil {
		return fmt.Errorf("open repository: %w", err)
	}
	r.vol, r.master, r.keyID = cv, master, id
	return nil
}

// InitWith opens the repository on vol as OpenWith
// does, creating it first if vol has no manifest: encrypted with
// opts.Password as its first key when one is given, unencrypted
// otherwise. now stamps the creation time.
func InitWith(ctx context.Context, vol hsm.Volume, now time.Time, opts *OpenOptions) (*Repository, error) {
	if opts == nil {
		opts = &OpenOptions{}
	}
	r, err := OpenWith(ctx, vol, opts)
	if err == nil || !errors.Is(err, ErrNotRepository) {
		return r, err
	}
	if len(opts.Password) == 0 {
		if opts.RequireEncrypted {
			return nil, fmt.Errorf("init repository: %w", ErrLocked)
		}
		return Init(ctx, vol, now)
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("init repository: %w", err)
	}
	master, err := cryptvol.NewMasterKey()
	if err != nil {
		return nil, fmt.Errorf("init repository: %w", err)
	}
	// The key first: a manifest names a repository that can be opened.
	keyID, err := cryptvol.AddKey(ctx, vol, master, opts.Password, opts.kdf(), now, opts.Host)
	if err != nil {
		return nil, fmt.Errorf("init repository: %w", err)
	}
	m := Manifest{Format: formatEncrypted, ID: hex.EncodeToString(id[:]), Created: now.UTC(), Digest: "sha256",
		Encryption: &Encryption{Scheme: schemeCryptvol1, KeyCheck: cryptvol.KeyCheck(master)}}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("init repository: %w", err)
	}
	if err := hsm.PutBytes(ctx, vol, ManifestName, append(b, '\n')); err != nil {
		return nil, fmt.Errorf("init repository: %w", err)
	}
	r = &Repository{raw: vol, manifest: m}
	if err := r.unlock(master, keyID); err != nil {
		return nil, err
	}
	return r, nil
}

// Encrypted reports whether the repository's objects are encrypted.
func (r *Repository) Encrypted() bool { return r.manifest.Encryption != nil }

// EncryptionStatus says in words whether and how the repository is
// encrypted, for status displays.
func (r *Repository) EncryptionStatus() string {
	if !r.Encrypted() {
		return "not encrypted"
	}
	return fmt.Sprintf("XChaCha20-Poly1305, keys Argon2id (%s, opened with key %s)", r.manifest.Encryption.Scheme, r.keyID)
}

// KeyID returns the id of the key that opened an encrypted repository.
func (r *Repository) KeyID() string { return r.keyID }

// Keys lists the key objects of an encrypted repository.
func (r *Repository) Keys(ctx context.Context) ([]cryptvol.KeyInfo, error) {
	if !r.Encrypted() {
		return nil, ErrNotEncrypted
	}
	return cryptvol.Keys(ctx, r.raw)
}

// AddKey adds a key that opens the repository with password; kdf zero
// takes cryptvol.DefaultKDF. It returns the new key's id.
func (r *Repository) AddKey(ctx context.Context, password []byte, kdf cryptvol.KDFParams, now time.Time, host string) (string, error) {
	if !r.Encrypted() {
		return "", ErrNotEncrypted
	}
	if kdf == (cryptvol.KDFParams{}) {
		kdf = cryptvol.DefaultKDF
	}
	return cryptvol.AddKey(ctx, r.raw, r.master, password, kdf, now, host)
}

// RemoveKey removes key id; the last key cannot be removed.
func (r *Repository) RemoveKey(ctx context.Context, id string) error {
	if !r.Encrypted() {
		return ErrNotEncrypted
	}
	return cryptvol.RemoveKey(ctx, r.raw, id)
}
