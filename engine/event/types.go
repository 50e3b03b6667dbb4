package event

import "fmt"

// Type identifies an event kind. It is stored as the redo record's type, so
// values are part of the on-disk format: never renumber, only add.
type Type uint16

// Provisioning events.
const (
	TypeDomainCreated   Type = 1
	TypeDomainDeleted   Type = 2
	TypeCOSCreated      Type = 3
	TypeCOSModified     Type = 4
	TypeCOSDeleted      Type = 5
	TypeAccountCreated  Type = 6
	TypeAccountModified Type = 7
	TypeAccountRenamed  Type = 8
	TypeAccountDeleted  Type = 9
	TypePasswordSet     Type = 10
	TypeAliasAdded      Type = 11
	TypeAliasRemoved    Type = 12
	TypeDomainModified  Type = 13
)

// Mailbox events.
const (
	TypeFolderCreated    Type = 32
	TypeFolderRenamed    Type = 33
	TypeFolderDeleted    Type = 34
	TypeFolderSubscribed Type = 35
	// TypeSubscriptionsChanged replaces TypeFolderSubscribed for every new
	// change: subscriptions are a list of names, not a flag of a folder.
	TypeSubscriptionsChanged Type = 36
	TypeMessageAdded         Type = 40
	TypeFlagsChanged         Type = 41
	TypeItemsCopied          Type = 42
	TypeItemsMoved           Type = 43
	TypeItemsExpunged        Type = 44
)

// Storage events.
const (
	TypeBlobMoved        Type = 64
	TypeVolumeCreated    Type = 65
	TypeVolumeModified   Type = 66
	TypeVolumeDeleted    Type = 67
	TypeVolumeCurrentSet Type = 68
	TypeHSMPolicySet     Type = 69
)

var typeNames = map[Type]string{
	TypeDomainCreated:        "DomainCreated",
	TypeDomainDeleted:        "DomainDeleted",
	TypeDomainModified:       "DomainModified",
	TypeCOSCreated:           "COSCreated",
	TypeCOSModified:          "COSModified",
	TypeCOSDeleted:           "COSDeleted",
	TypeAccountCreated:       "AccountCreated",
	TypeAccountModified:      "AccountModified",
	TypeAccountRenamed:       "AccountRenamed",
	TypeAccountDeleted:       "AccountDeleted",
	TypePasswordSet:          "PasswordSet",
	TypeAliasAdded:           "AliasAdded",
	TypeAliasRemoved:         "AliasRemoved",
	TypeFolderCreated:        "FolderCreated",
	TypeFolderRenamed:        "FolderRenamed",
	TypeFolderDeleted:        "FolderDeleted",
	TypeFolderSubscribed:     "FolderSubscribed",
	TypeSubscriptionsChanged: "SubscriptionsChanged",
	TypeMessageAdded:         "MessageAdded",
	TypeFlagsChanged:         "FlagsChanged",
	TypeItemsCopied:          "ItemsCopied",
	TypeItemsMoved:           "ItemsMoved",
	TypeItemsExpunged:        "ItemsExpunged",
	TypeBlobMoved:            "BlobMoved",
	TypeVolumeCreated:        "VolumeCreated",
	TypeVolumeModified:       "VolumeModified",
	TypeVolumeDeleted:        "VolumeDeleted",
	TypeVolumeCurrentSet:     "VolumeCurrentSet",
	TypeHSMPolicySet:         "HSMPolicySet",
}

func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("Type(%d)", uint16(t))
}

// Event is one recorded change.
type Event interface {
	Type() Type
}

// AccountScoped is implemented by events that change one account's mailbox
// or provisioning, so consumers (listeners, the backup scanner) can route
// them without a type switch.
type AccountScoped interface {
	Event
	AccountID() uint64
}

// AccountStatus is an account's lifecycle state.
type AccountStatus string

// Account statuses, as Zimbra's zimbraAccountStatus.
const (
	StatusActive      AccountStatus = "active"
	StatusLocked      AccountStatus = "locked"
	StatusMaintenance AccountStatus = "maintenance"
	StatusClosed      AccountStatus = "closed"
)

// Valid reports whether s is a known status.
func (s AccountStatus) Valid() bool {
	switch s {
	case StatusActive, StatusLocked, StatusMaintenance, StatusClosed:
		return true
	}
	return false
}

// ItemType is the kind of a mailbox item. Only messages exist today; the
// values leave room for the rest of a groupware mailbox.
type ItemType uint8

// Item types.
const (
	ItemMessage     ItemType = 1
	ItemContact     ItemType = 2
	ItemAppointment ItemType = 3
	ItemTask        ItemType = 4
	ItemDocument    ItemType = 5
)

func (t ItemType) String() string {
	switch t {
	case ItemMessage:
		return "message"
	case ItemContact:
		return "contact"
	case ItemAppointment:
		return "appointment"
	case ItemTask:
		return "task"
	case ItemDocument:
		return "document"
	}
	return fmt.Sprintf("ItemType(%d)", uint8(t))
}

// AddReason says which producer added a message; it is informational (the
// backup keeps it, restore reports use it) and never changes apply.
type AddReason uint8

// Reasons a message was added.
const (
	AddDelivered AddReason = 1 // LMTP delivery
	AddAppended  AddReason = 2 // IMAP APPEND or CLI import
	AddRestored  AddReason = 3 // written by a restore
)
