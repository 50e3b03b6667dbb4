package imap

import (
	"errors"

	"github.com/emersion/go-imap/v2"

	"github.com/tidemark/tidemark/engine"
)

// codeExpungeIssued is RFC 9051's EXPUNGEISSUED, which go-imap does not
// name.
const codeExpungeIssued imap.ResponseCode = "EXPUNGEISSUED"

// errExpungeIssued answers COPY and MOVE when every message they address
// was expunged by another session since this one last heard of it: there
// is nothing left to act on (RFC 9051 section 7.1, EXPUNGEISSUED).
var errExpungeIssued = &imap.Error{Type: imap.StatusResponseTypeNo, Code: codeExpungeIssued,
	Text: "Some of the addressed messages were expunged by another session"}

// maxLiveRetries bounds how often onLive retries a command whose items
// keep being expunged under it.
const maxLiveRetries = 4

// onLive runs op on the targets' items and, when the engine reports an
// item missing because another session expunged it (or moved it, which
// for this view is an expunge of its UID) after this session's view was
// last synced, runs it again on the targets that are still where the view
// has them. A command acts on the messages that are still there, as RFC
// 9051 section 5.5 expects; NONEXISTENT is only for a mailbox that is
// gone, which the engine reports again when the folder itself is missing.
// It returns the targets op succeeded on.
func (s *session) onLive(targets []target, op func(items []engine.ItemAt) error) ([]target, error) {
	for attempt := 0; ; attempt++ {
		err := op(targetsAt(targets))
		if !errors.Is(err, engine.ErrNotFound) || attempt == maxLiveRetries {
			return targets, err
		}
		items, lerr := s.sel.src.Items(s.ctx, s.sel.folder.ID)
		if lerr != nil {
			return nil, lerr // the folder itself is gone: NONEXISTENT
		}
		present := make(map[engine.ItemAt]bool, len(items))
		for _, it := range items {
			present[itemAt(it)] = true
		}
		live := targets[:0:0]
		for _, t := range targets {
			if present[t.m.at()] {
				live = append(live, t)
			}
		}
		if len(live) == len(targets) {
			return targets, err // not about the items
		}
		targets = live
		if len(targets) == 0 {
			return nil, nil
		}
	}
}
