package backup_test

import (
	"context"
	"io"

	"github.com/tidemark/tidemark/dedup"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/backup"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/hsm"
)

// engineSource adapts the engine to the scanner's Source and BlobSource,
// as cmd/tidemark/backup_wiring.go does for the server.
type engineSource struct{ e *engine.Engine }

func (s engineSource) AppliedLSN() uint64 { return s.e.AppliedLSN() }

func (s engineSource) ListCOS(ctx context.Context) ([]event.COS, error) { return s.e.ListCOS(ctx) }

func (s engineSource) ListAccounts(ctx context.Context) ([]event.Account, error) {
	as, err := s.e.ListAccounts(ctx, "")
	if err != nil {
		return nil, err
	}
	out := make([]event.Account, len(as))
	for i, a := range as {
		out[i] = event.Account{ID: a.ID, Address: a.Address, Aliases: a.Aliases, Status: a.Status, Quota: a.Quota,
			COS: a.COS, Created: a.Created.UnixNano(), HideInGAL: a.HideInGAL, Attrs: a.Attrs}
	}
	return out, nil
}

func (s engineSource) ListFolders(ctx context.Context, acct uint64) ([]backup.ScanFolder, error) {
	fs, err := s.e.ListFolders(ctx, acct)
	if err != nil {
		return nil, err
	}
	out := make([]backup.ScanFolder, len(fs))
	for i, f := range fs {
		out[i] = backup.ScanFolder{Account: acct, Folder: f.ID, Parent: f.Parent, Name: f.Name, SpecialUse: f.SpecialUse,
			UIDValidity: f.UIDValidity, Subscribed: f.Subscribed}
	}
	return out, nil
}

func (s engineSource) ListItems(ctx context.Context, acct uint64) ([]backup.ScanItem, error) {
	fs, err := s.e.ListFolders(ctx, acct)
	if err != nil {
		return nil, err
	}
	var out []backup.ScanItem
	for _, f := range fs {
		items, err := s.e.ListItems(ctx, acct, f.ID)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			out = append(out, backup.ScanItem{Account: acct, Item: it.ID, Folder: it.Folder, UID: it.UID, Flags: it.Flags,
				InternalDate: it.InternalDate.UnixNano(), Digest: it.Digest, Size: it.Size, Type: it.Type})
		}
	}
	return out, nil
}

func (s engineSource) OpenBlob(ctx context.Context, ref backup.BlobRef) (io.ReadCloser, error) {
	rc, err := s.e.Primary().Get(ctx, dedup.BlobName(ref.Digest))
	if err == nil {
		// Primary volumes store blobs framed with a codec header.
		d, err := dedup.NewDecodeReader(rc)
		if err != nil {
			rc.Close()
			return nil, err
		}
		return both{d, rc}, nil
	}
	if hsm.IsNotFound(err) && ref.Account != 0 {
		rc, _, err = s.e.OpenBlob(ctx, ref.Account, ref.Item)
	}
	return rc, err
}

// both closes the decoder and the object it reads.
type both struct {
	io.ReadCloser
	under io.Closer
}

func (b both) Close() error {
	err := b.ReadCloser.Close()
	if cerr := b.under.Close(); err == nil {
		err = cerr
	}
	return err
}
