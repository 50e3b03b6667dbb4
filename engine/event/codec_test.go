package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// samples holds one populated value of every event type.
func samples() []Event {
	d := Digest{1, 2, 3}
	return []Event{
		DomainCreated{Name: "example.org", Attrs: map[string]string{"note": "x"}},
		DomainModified{Name: "example.org", Attrs: map[string]string{"a": "b"}},
		DomainDeleted{Name: "example.org"},
		COSCreated{COS: COS{Name: "default", DefaultQuota: 1 << 30, Backup: true}},
		COSModified{COS: COS{Name: "default", Backup: false, Attrs: map[string]string{"k": "v"}}},
		COSDeleted{Name: "old"},
		AccountCreated{
			Account: Account{ID: 7, Address: "a@example.org", Aliases: []string{"b@example.org"},
				PasswordHash: "$2a$...", Status: StatusActive, Quota: 100, COS: "default", Created: 42},
			Folders: []FolderCreated{{Account: 7, Folder: 1, Name: "INBOX", SpecialUse: `\Inbox`, UIDValidity: 9, Subscribed: true}},
		},
		AccountModified{Account: Account{ID: 7, Address: "a@example.org", Status: StatusLocked}},
		AccountRenamed{Account: 7, NewAddress: "c@example.org"},
		AccountDeleted{Account: 7, Address: "c@example.org"},
		PasswordSet{Account: 7, Hash: "h"},
		AliasAdded{Account: 7, Alias: "x@example.org"},
		AliasRemoved{Account: 7, Alias: "x@example.org"},
		FolderCreated{Account: 7, Folder: 6, Parent: 1, Name: "Work", UIDValidity: 5},
		FolderRenamed{Account: 7, Folder: 6, NewParent: 0, NewName: "Jobs", NewUIDValidity: 11},
		FolderDeleted{Account: 7, Folder: 6, Items: []uint64{3, 4}},
		FolderSubscribed{Account: 7, Folder: 6, Subscribed: true},
		SubscriptionsChanged{Account: 7, Names: []string{"Jobs", "Lists/go-nuts"}, Subscribed: true, Folders: []uint64{6}},
		MessageAdded{Digest: d, Size: 5, Blob: []byte("hello"), Targets: []Target{
			{Account: 7, Folder: 1, Item: 1, UID: 1, Flags: []string{`\Seen`}, InternalDate: 99},
			{Account: 8, Folder: 1, Item: 1, UID: 1, InternalDate: 99},
		}, Reason: AddDelivered, ItemType: ItemMessage},
		FlagsChanged{Account: 7, Folder: 1, Changes: []FlagChange{{Item: 1, Flags: []string{`\Seen`, "$Junk"}}, {Item: 2}}},
		ItemsCopied{Account: 7, From: 1, To: 6, Pairs: []CopyPair{{From: 1, To: 9, UID: 1}}},
		ItemsMoved{Account: 7, From: 1, To: 6, Pairs: []MovePair{{Item: 2, UID: 2}}},
		ItemsExpunged{Account: 7, Folder: 6, Items: []uint64{9}},
		BlobMoved{Digest: d, From: "primary", To: "s3"},
		VolumeCreated{Volume: Volume{Name: "primary", Kind: "primary", Type: "local", Layout: "packvol"}},
		VolumeModified{Volume: Volume{Name: "cold", Kind: "secondary", Type: "s3", Compress: true, Threshold: 4096,
			S3: &VolumeS3{Endpoint: "127.0.0.1:9000", Region: "eu-west-1", Bucket: "mail", Prefix: "srv1", StorageClass: "STANDARD_IA", TLS: true}}},
		VolumeDeleted{Name: "cold"},
		VolumeCurrentSet{Kind: "secondary", Name: "cold"},
		HSMPolicySet{Lines: []string{"message:before:-30day"}},
	}
}

func TestRoundTripEveryType(t *testing.T) {
	seen := map[Type]bool{}
	for _, e := range samples() {
		b, err := Encode(e)
		if err != nil {
			t.Fatalf("%v: %v", e.Type(), err)
		}
		if b[0] != Version {
			t.Fatalf("%v: version byte %d", e.Type(), b[0])
		}
		got, err := Decode(e.Type(), b)
		if err != nil {
			t.Fatalf("%v: %v", e.Type(), err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Fatalf("%v: round trip\n got %#v\nwant %#v", e.Type(), got, e)
		}
		again, _ := Encode(got)
		if !bytes.Equal(again, b) {
			t.Fatalf("%v: encoding not deterministic", e.Type())
		}
		seen[e.Type()] = true
	}
	for typ := range prototypes {
		if !seen[typ] {
			t.Errorf("no sample for %v", typ)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	if _, err := Decode(999, []byte{1}); !errors.Is(err, ErrUnknownType) {
		t.Fatalf("unknown type: %v", err)
	}
	if _, err := Decode(TypeFlagsChanged, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("empty: %v", err)
	}
	if _, err := Decode(TypeFlagsChanged, []byte{9, 0xa0}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("unknown version: %v", err)
	}
	if _, err := Decode(TypeFlagsChanged, []byte{1, 0xff, 0x00}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("garbage: %v", err)
	}
}

// TestUnknownKeysIgnored checks forward compatibility: a field added by a
// newer writer under a new key does not break an older reader.
func TestUnknownKeysIgnored(t *testing.T) {
	// {1: 7, 2: "x", 99: "future"} as AliasAdded.
	body := []byte{0xa3, 0x01, 0x07, 0x02, 0x61, 'x', 0x18, 0x63, 0x66, 'f', 'u', 't', 'u', 'r', 'e'}
	e, err := Decode(TypeAliasAdded, append([]byte{1}, body...))
	if err != nil {
		t.Fatal(err)
	}
	if got := e.(AliasAdded); got.Account != 7 || got.Alias != "x" {
		t.Fatalf("got %+v", got)
	}
}

// TestFrozenPayloads decodes the version-1 payloads frozen in testdata, so a
// change that breaks reading old logs fails here. Run with -update to
// rewrite them only when adding a type.
func TestFrozenPayloads(t *testing.T) {
	dir := filepath.Join("testdata", "v1")
	for _, e := range samples() {
		path := filepath.Join(dir, e.Type().String()+".bin")
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, MustEncode(e), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -run TestFrozenPayloads -update to create)", err)
		}
		got, err := Decode(e.Type(), b)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Fatalf("%s decodes to %#v, want %#v", path, got, e)
		}
	}
}

func FuzzDecodeEvent(f *testing.F) {
	for _, e := range samples() {
		f.Add(uint16(e.Type()), MustEncode(e))
	}
	f.Fuzz(func(t *testing.T, typ uint16, payload []byte) {
		e, err := Decode(Type(typ), payload)
		if err != nil {
			return
		}
		// Whatever decodes must encode again.
		if _, err := Encode(e); err != nil {
			t.Fatalf("decoded %v does not encode: %v", e.Type(), err)
		}
	})
}

func TestDescribe(t *testing.T) {
	ev := MessageAdded{Digest: Digest{0xab, 1}, Size: 5, Blob: []byte("hello"),
		Targets: []Target{{Account: 1, Folder: 2, Item: 3, UID: 4}}, Reason: AddDelivered, ItemType: ItemMessage}
	name, d := Describe(uint16(TypeMessageAdded), MustEncode(ev))
	b, _ := json.Marshal(d)
	got := string(b)
	if name != "MessageAdded" || !strings.Contains(got, `"Digest":"ab01000000`) || !strings.Contains(got, `"InlineBlob":5`) || strings.Contains(got, "hello") {
		t.Fatalf("%s %s", name, got)
	}
	_, d = Describe(uint16(TypeAccountCreated), MustEncode(AccountCreated{Account: Account{ID: 1, Created: 1795877232533914613}}))
	if b, _ = json.Marshal(d); !strings.Contains(string(b), "1795877232533914613") {
		t.Fatalf("time lost precision: %s", b)
	}
	_, d = Describe(uint16(TypePasswordSet), MustEncode(PasswordSet{Account: 1, Hash: "$2a$10$secret"}))
	b, _ = json.Marshal(d)
	if strings.Contains(string(b), "secret") || !strings.Contains(string(b), "withheld") {
		t.Fatalf("password hash shown: %s", b)
	}
	_, d = Describe(uint16(TypeAccountCreated), MustEncode(AccountCreated{Account: Account{ID: 1, PasswordHash: "$2a$10$secret"}}))
	b, _ = json.Marshal(d)
	if strings.Contains(string(b), "secret") {
		t.Fatalf("password hash shown: %s", b)
	}
	_, d = Describe(uint16(TypeFlagsChanged), []byte{1, 0xff})
	if m, ok := d.(map[string]string); !ok || m["error"] == "" {
		t.Fatalf("undecodable payload: %#v", d)
	}
}
