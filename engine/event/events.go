package event

// Digest is the SHA-256 of a blob's raw bytes (see package dedup). It is
// spelled out here so this package stays free of imports.
type Digest = [32]byte

// DomainCreated adds a mail domain.
type DomainCreated struct {
	Name  string            `cbor:"1,keyasint"`
	Attrs map[string]string `cbor:"2,keyasint,omitempty"`
}

// DomainModified replaces a domain's attributes.
type DomainModified struct {
	Name  string            `cbor:"1,keyasint"`
	Attrs map[string]string `cbor:"2,keyasint,omitempty"`
}

// DomainDeleted removes an empty domain.
type DomainDeleted struct {
	Name string `cbor:"1,keyasint"`
}

// COS is a class of service: defaults and policy shared by accounts.
type COS struct {
	Name         string            `cbor:"1,keyasint"`
	DefaultQuota int64             `cbor:"2,keyasint"`           // bytes, 0 = unlimited
	Backup       bool              `cbor:"3,keyasint"`           // accounts in it are backed up
	Attrs        map[string]string `cbor:"4,keyasint,omitempty"` // room for more attributes
	// BackupViewOff hides the backup from the users of the class: no
	// Backup/ namespace and no USER+at=TIME logins (restore/view). Absent
	// (the zero value) in classes made before it existed: the view is on.
	BackupViewOff bool `cbor:"5,keyasint,omitempty"`
}

// COSCreated adds a class of service.
type COSCreated struct {
	COS COS `cbor:"1,keyasint"`
}

// COSModified replaces a class of service whole.
type COSModified struct {
	COS COS `cbor:"1,keyasint"`
}

// COSDeleted removes a class of service no account uses.
type COSDeleted struct {
	Name string `cbor:"1,keyasint"`
}

// Account is an account's provisioning record as carried by events.
type Account struct {
	ID           uint64            `cbor:"1,keyasint"`
	Address      string            `cbor:"2,keyasint"` // primary address, lower case
	Aliases      []string          `cbor:"3,keyasint,omitempty"`
	PasswordHash string            `cbor:"4,keyasint,omitempty"`
	Status       AccountStatus     `cbor:"5,keyasint"`
	Quota        int64             `cbor:"6,keyasint"` // bytes, 0 = unlimited
	COS          string            `cbor:"7,keyasint,omitempty"`
	Created      int64             `cbor:"8,keyasint"` // unix ns
	HideInGAL    bool              `cbor:"9,keyasint,omitempty"`
	Attrs        map[string]string `cbor:"10,keyasint,omitempty"`
}

// AccountCreated adds an account together with the folders every account
// starts with (INBOX, Sent, Drafts, Trash, Junk), so that one record, and
// so one atomic write, creates a usable account.
type AccountCreated struct {
	Account Account         `cbor:"1,keyasint"`
	Folders []FolderCreated `cbor:"2,keyasint,omitempty"`
}

// AccountModified replaces an account's provisioning record whole (all
// fields but ID, Address, Aliases, PasswordHash and Created, which have
// their own events).
type AccountModified struct {
	Account Account `cbor:"1,keyasint"`
}

// AccountRenamed changes an account's primary address.
type AccountRenamed struct {
	Account    uint64 `cbor:"1,keyasint"`
	NewAddress string `cbor:"2,keyasint"`
}

// AccountDeleted removes an account with every folder and item it holds.
type AccountDeleted struct {
	Account uint64 `cbor:"1,keyasint"`
	Address string `cbor:"2,keyasint"`
}

// PasswordSet replaces an account's password hash.
type PasswordSet struct {
	Account uint64 `cbor:"1,keyasint"`
	Hash    string `cbor:"2,keyasint"`
}

// AliasAdded adds an address that delivers to the account.
type AliasAdded struct {
	Account uint64 `cbor:"1,keyasint"`
	Alias   string `cbor:"2,keyasint"`
}

// AliasRemoved removes an alias.
type AliasRemoved struct {
	Account uint64 `cbor:"1,keyasint"`
	Alias   string `cbor:"2,keyasint"`
}

// FolderCreated adds a folder. Parent 0 is the account's root.
type FolderCreated struct {
	Account     uint64 `cbor:"1,keyasint"`
	Folder      uint64 `cbor:"2,keyasint"`
	Parent      uint64 `cbor:"3,keyasint"`
	Name        string `cbor:"4,keyasint"`
	SpecialUse  string `cbor:"5,keyasint,omitempty"` // `\Sent`, `\Trash`, ... ; INBOX is `\Inbox`
	UIDValidity uint32 `cbor:"6,keyasint"`
	Subscribed  bool   `cbor:"7,keyasint,omitempty"`
}

// FolderRenamed moves a folder under NewParent with NewName. Its
// UIDVALIDITY changes to NewUIDValidity when not zero.
type FolderRenamed struct {
	Account        uint64 `cbor:"1,keyasint"`
	Folder         uint64 `cbor:"2,keyasint"`
	NewParent      uint64 `cbor:"3,keyasint"`
	NewName        string `cbor:"4,keyasint"`
	NewUIDValidity uint32 `cbor:"5,keyasint,omitempty"`
}

// FolderDeleted removes a folder without child folders; Items lists the
// items it held, which are removed with it.
type FolderDeleted struct {
	Account uint64   `cbor:"1,keyasint"`
	Folder  uint64   `cbor:"2,keyasint"`
	Items   []uint64 `cbor:"3,keyasint,omitempty"`
}

// FolderSubscribed sets a folder's own subscription flag. It is how
// subscriptions were kept before SubscriptionsChanged: the flag follows the
// folder through renames and goes with it when it is deleted. Old logs hold
// it, restores of old points in time replay it; the engine no longer writes
// it.
type FolderSubscribed struct {
	Account    uint64 `cbor:"1,keyasint"`
	Folder     uint64 `cbor:"2,keyasint"`
	Subscribed bool   `cbor:"3,keyasint"`
}

// SubscriptionsChanged adds Names to the account's subscription list
// (Subscribed) or removes them from it. The list holds mailbox names, not
// folders (RFC 9051 6.3.7, RFC 5258): a name may have no folder, and
// creating, renaming or deleting a folder leaves the list alone. Names are
// folder paths ("/"-separated, INBOX upper case).
//
// Folders lists folders whose own subscription flag (FolderCreated.Subscribed,
// FolderSubscribed) the change clears: the account's subscriptions are the
// list together with the paths of flagged folders, and a flag is cleared
// when its name moves into the list (before the folder is renamed or
// deleted, so the name stays subscribed) or is unsubscribed.
type SubscriptionsChanged struct {
	Account    uint64   `cbor:"1,keyasint"`
	Names      []string `cbor:"2,keyasint,omitempty"`
	Subscribed bool     `cbor:"3,keyasint,omitempty"`
	Folders    []uint64 `cbor:"4,keyasint,omitempty"`
}

// Target is one copy of an added message: which account, folder, item id
// and UID it becomes, with its flags and internal date.
type Target struct {
	Account      uint64   `cbor:"1,keyasint"`
	Folder       uint64   `cbor:"2,keyasint"`
	Item         uint64   `cbor:"3,keyasint"`
	UID          uint32   `cbor:"4,keyasint"`
	Flags        []string `cbor:"5,keyasint,omitempty"`
	InternalDate int64    `cbor:"6,keyasint"` // unix ns
}

// MessageAdded stores one message for one or more targets (a delivery to
// many recipients is one event and one blob). Blob carries the raw bytes
// when they ride inside the record (ARCHITECTURE invariant 3); when empty, the
// blob was made durable on Volume before the record was written.
type MessageAdded struct {
	Digest   Digest    `cbor:"1,keyasint"`
	Size     int64     `cbor:"2,keyasint"` // raw bytes
	Blob     []byte    `cbor:"3,keyasint,omitempty"`
	Volume   string    `cbor:"4,keyasint,omitempty"`
	Targets  []Target  `cbor:"5,keyasint"`
	Reason   AddReason `cbor:"6,keyasint"`
	ItemType ItemType  `cbor:"7,keyasint"`
}

// FlagChange is the complete new flag set of one item.
type FlagChange struct {
	Item  uint64   `cbor:"1,keyasint"`
	Flags []string `cbor:"2,keyasint,omitempty"`
}

// FlagsChanged sets the flags of items in one folder.
type FlagsChanged struct {
	Account uint64       `cbor:"1,keyasint"`
	Folder  uint64       `cbor:"2,keyasint"`
	Changes []FlagChange `cbor:"3,keyasint"`
}

// CopyPair maps a source item to the new item and UID its copy gets.
type CopyPair struct {
	From uint64 `cbor:"1,keyasint"`
	To   uint64 `cbor:"2,keyasint"`
	UID  uint32 `cbor:"3,keyasint"`
}

// ItemsCopied copies items from one folder to another within an account.
// Copies share the source's blob, flags and internal date.
type ItemsCopied struct {
	Account uint64     `cbor:"1,keyasint"`
	From    uint64     `cbor:"2,keyasint"`
	To      uint64     `cbor:"3,keyasint"`
	Pairs   []CopyPair `cbor:"4,keyasint"`
}

// MovePair gives a moved item its UID in the destination folder. The item
// keeps its id.
type MovePair struct {
	Item uint64 `cbor:"1,keyasint"`
	UID  uint32 `cbor:"2,keyasint"`
}

// ItemsMoved moves items from one folder to another within an account.
type ItemsMoved struct {
	Account uint64     `cbor:"1,keyasint"`
	From    uint64     `cbor:"2,keyasint"`
	To      uint64     `cbor:"3,keyasint"`
	Pairs   []MovePair `cbor:"4,keyasint"`
}

// ItemsExpunged removes items from a folder for good (the backup keeps
// them).
type ItemsExpunged struct {
	Account uint64   `cbor:"1,keyasint"`
	Folder  uint64   `cbor:"2,keyasint"`
	Items   []uint64 `cbor:"3,keyasint"`
}

// BlobMoved records that a blob now lives on another volume.
type BlobMoved struct {
	Digest Digest `cbor:"1,keyasint"`
	From   string `cbor:"2,keyasint"`
	To     string `cbor:"3,keyasint"`
}

func (DomainCreated) Type() Type        { return TypeDomainCreated }
func (DomainModified) Type() Type       { return TypeDomainModified }
func (DomainDeleted) Type() Type        { return TypeDomainDeleted }
func (COSCreated) Type() Type           { return TypeCOSCreated }
func (COSModified) Type() Type          { return TypeCOSModified }
func (COSDeleted) Type() Type           { return TypeCOSDeleted }
func (AccountCreated) Type() Type       { return TypeAccountCreated }
func (AccountModified) Type() Type      { return TypeAccountModified }
func (AccountRenamed) Type() Type       { return TypeAccountRenamed }
func (AccountDeleted) Type() Type       { return TypeAccountDeleted }
func (PasswordSet) Type() Type          { return TypePasswordSet }
func (AliasAdded) Type() Type           { return TypeAliasAdded }
func (AliasRemoved) Type() Type         { return TypeAliasRemoved }
func (FolderCreated) Type() Type        { return TypeFolderCreated }
func (FolderRenamed) Type() Type        { return TypeFolderRenamed }
func (FolderDeleted) Type() Type        { return TypeFolderDeleted }
func (FolderSubscribed) Type() Type     { return TypeFolderSubscribed }
func (SubscriptionsChanged) Type() Type { return TypeSubscriptionsChanged }
func (MessageAdded) Type() Type         { return TypeMessageAdded }
func (FlagsChanged) Type() Type         { return TypeFlagsChanged }
func (ItemsCopied) Type() Type          { return TypeItemsCopied }
func (ItemsMoved) Type() Type           { return TypeItemsMoved }
func (ItemsExpunged) Type() Type        { return TypeItemsExpunged }
func (BlobMoved) Type() Type            { return TypeBlobMoved }

func (e AccountCreated) AccountID() uint64       { return e.Account.ID }
func (e AccountModified) AccountID() uint64      { return e.Account.ID }
func (e AccountRenamed) AccountID() uint64       { return e.Account }
func (e AccountDeleted) AccountID() uint64       { return e.Account }
func (e PasswordSet) AccountID() uint64          { return e.Account }
func (e AliasAdded) AccountID() uint64           { return e.Account }
func (e AliasRemoved) AccountID() uint64         { return e.Account }
func (e FolderCreated) AccountID() uint64        { return e.Account }
func (e FolderRenamed) AccountID() uint64        { return e.Account }
func (e FolderDeleted) AccountID() uint64        { return e.Account }
func (e FolderSubscribed) AccountID() uint64     { return e.Account }
func (e SubscriptionsChanged) AccountID() uint64 { return e.Account }
func (e FlagsChanged) AccountID() uint64         { return e.Account }
func (e ItemsCopied) AccountID() uint64          { return e.Account }
func (e ItemsMoved) AccountID() uint64           { return e.Account }
func (e ItemsExpunged) AccountID() uint64        { return e.Account }
