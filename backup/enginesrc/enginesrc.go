// Package enginesrc adapts the engine to what the backup scanner reads from
// it: the SmartScan Source (provisioning, folders and items as they are now)
// and the BlobSource (blob bytes). backup must not import engine, so
// the adapter lives here, used by the server, the backup tests and the
// benchmarks alike.
package enginesrc

import (
	"context"
	"io"

	"github.com/tidemark/tidemark/backup"
	"github.com/tidemark/tidemark/backup/repository"
	"github.com/tidemark/tidemark/backup/scanner"
	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
	"github.com/tidemark/tidemark/hsm"
)

// Source is the engine as the scanner sees it.
type Source struct{ e *engine.Engine }

// New returns the scanner's view of e.
func New(e *engine.Engine) Source { return Source{e} }

var (
	_ scanner.Source        = Source{}
	_ repository.BlobSource = Source{}
	_ scanner.LogSource     = Source{}
	_ backup.Engine         = Source{}
)

// Tail, NewReader, FirstLSN and LastLSN are the engine's redo log as the
// scanner follows it. They return a nil interface with an error, never a
// typed nil reader, which the scanner would take for an open one.
func (s Source) Tail(from uint64) (repository.LogReader, error) {
	rd, err := s.e.TailLog(from)
	if err != nil {
		return nil, err
	}
	return rd, nil
}

func (s Source) NewReader(from uint64) (repository.LogReader, error) {
	rd, err := s.e.ReadLog(from)
	if err != nil {
		return nil, err
	}
	return rd, nil
}

func (s Source) FirstLSN() uint64 { return s.e.LogFirstLSN() }

func (s Source) LastLSN() uint64 { return s.e.LogLastLSN() }

func (s Source) AppliedLSN() uint64 { return s.e.AppliedLSN() }

func (s Source) ListCOS(ctx context.Context) ([]event.COS, error) { return s.e.ListCOS(ctx) }

func (s Source) ListAccounts(ctx context.Context) ([]event.Account, error) {
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

func (s Source) ListFolders(ctx context.Context, acct uint64) ([]repository.ScanFolder, error) {
	fs, err := s.e.ListFolders(ctx, acct)
	if err != nil {
		return nil, err
	}
	out := make([]repository.ScanFolder, len(fs))
	for i, f := range fs {
		out[i] = repository.ScanFolder{Account: acct, Folder: f.ID, Parent: f.Parent, Name: f.Name, SpecialUse: f.SpecialUse,
			UIDValidity: f.UIDValidity, Subscribed: f.OwnSubscribed}
	}
	return out, nil
}

func (s Source) SubscribedNames(ctx context.Context, acct uint64) ([]string, error) {
	return s.e.SubscribedNames(ctx, acct)
}

func (s Source) ListItems(ctx context.Context, acct uint64) ([]repository.ScanItem, error) {
	fs, err := s.e.ListFolders(ctx, acct)
	if err != nil {
		return nil, err
	}
	var out []repository.ScanItem
	for _, f := range fs {
		items, err := s.e.ListItems(ctx, acct, f.ID)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			out = append(out, repository.ScanItem{Account: acct, Item: it.ID, Folder: it.Folder, UID: it.UID, Flags: it.Flags,
				InternalDate: it.InternalDate.UnixNano(), Digest: it.Digest, Size: it.Size, Type: it.Type})
		}
	}
	return out, nil
}

// OpenBlob reads a blob from the primary volume (decoding its codec
// header), or through the engine when it has moved to another volume.
func (s Source) OpenBlob(ctx context.Context, ref repository.BlobRef) (io.ReadCloser, error) {
	rc, err := s.e.OpenPrimaryBlob(ctx, ref.Digest)
	if hsm.IsNotFound(err) && ref.Account != 0 {
		rc, _, err = s.e.OpenBlob(ctx, ref.Account, ref.Item)
	}
	return rc, err
}
