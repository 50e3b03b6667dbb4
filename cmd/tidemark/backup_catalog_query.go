package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tidemark/tidemark/backup/catalog"
)

// catalogQuery is a question to the backup catalog from backup ls, item
// and accounts. A running server holds the catalog, so it answers over the
// admin socket (backup.catalog); with none the command opens the catalog
// and answers itself, with the same code.
type catalogQuery struct {
	Query   string    `json:"query"`             // accounts, account_at, item_versions
	Account string    `json:"account,omitempty"` // an address or an id
	At      time.Time `json:"at"`
	Item    uint64    `json:"item,omitempty"`
	Deleted bool      `json:"deleted,omitempty"`
}

type catalogAnswer struct {
	Account  uint64                   `json:"account,omitempty"`
	State    *catalog.AccountState    `json:"state,omitempty"`
	Versions []catalog.ItemVersion    `json:"versions,omitempty"`
	Accounts []catalog.AccountVersion `json:"accounts,omitempty"`
}

func init() {
	serverOps["backup.catalog"] = func(ctx context.Context, s *adminServer, raw json.RawMessage) (any, error) {
		if s.backup == nil {
			return nil, fmt.Errorf("the real-time backup is off on this server (backup.enabled = false or --no-backup)")
		}
		var q catalogQuery
		if err := json.Unmarshal(raw, &q); err != nil {
			return nil, fmt.Errorf("arguments: %w", err)
		}
		cat := s.backup.Catalog()
		if cat == nil {
			return nil, fmt.Errorf("the backup catalog is not open yet; try again in a moment")
		}
		return answerCatalog(ctx, cat, q)
	}
}

// answerCatalog answers q from cat.
func answerCatalog(ctx context.Context, cat *catalog.Catalog, q catalogQuery) (catalogAnswer, error) {
	var a catalogAnswer
	var err error
	switch q.Query {
	case "accounts":
		if q.Deleted {
			a.Accounts, err = cat.DeletedAccounts(ctx)
		} else {
			a.Accounts, err = cat.Accounts(ctx)
		}
		return a, err
	case "account_at":
		if a.Account, err = resolveAccount(ctx, cat, q.Account, q.At); err != nil {
			return a, err
		}
		st, err := cat.AccountAt(ctx, a.Account, q.At)
		if err != nil {
			return a, fmt.Errorf("account %s at %s: %w", q.Account, q.At.Local().Format(time.RFC3339), err)
		}
		a.State = &st
		return a, nil
	case "item_versions":
		if a.Account, err = resolveAccount(ctx, cat, q.Account, q.At); err != nil {
			return a, err
		}
		a.Versions, err = cat.ItemVersions(ctx, a.Account, q.Item)
		if err != nil {
			return a, fmt.Errorf("item %d of %s: %w", q.Item, q.Account, err)
		}
		return a, nil
	}
	return a, fmt.Errorf("unknown catalog query %q", q.Query)
}

// askCatalog answers q through the running server on dataDir or, with
// none, from the catalog opened here. env is the repository opened for
// reading (blobs); the caller closes it. A catalog held by a process
// whose admin socket does not answer fails with what to do.
func askCatalog(ctx context.Context, dataDir string, q catalogQuery) (catalogAnswer, *backupEnv, error) {
	var a catalogAnswer
	served, err := callServer(ctx, dataDir, "backup.catalog", q, &a)
	if served {
		if err != nil {
			return a, nil, err
		}
		// The repository's objects are never changed in place: reading
		// blobs beside the running server is safe.
		env, err := openBackupEnv(ctx, dataDir, false, false)
		return a, env, err
	}
	env, err := openBackupEnv(ctx, dataDir, true, false)
	if err != nil {
		return a, nil, err
	}
	a, err = answerCatalog(ctx, env.cat, q)
	if err != nil {
		env.Close()
		return a, nil, err
	}
	return a, env, nil
}
