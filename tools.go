//go:build tools

// Package tools pins the modules the packages below build on, so that go mod
// tidy keeps them while a package that imports one is still being written.
package tools

import (
	_ "github.com/BurntSushi/toml"
	_ "github.com/cockroachdb/pebble/v2"
	_ "github.com/cockroachdb/pebble/v2/vfs"
	_ "github.com/emersion/go-imap/v2/imapclient"
	_ "github.com/emersion/go-imap/v2/imapserver"
	_ "github.com/emersion/go-message"
	_ "github.com/emersion/go-smtp"
	_ "github.com/fxamacker/cbor/v2"
	_ "github.com/klauspost/compress/zstd"
	_ "github.com/minio/minio-go/v7"
	_ "github.com/spf13/cobra"
	_ "golang.org/x/crypto/bcrypt"
)
