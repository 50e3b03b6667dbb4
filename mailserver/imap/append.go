package imap

import (
	"fmt"
	"sync"

	"github.com/emersion/go-imap/v2"

	"github.com/tidemark/tidemark/engine"
)

// AppendAll stores the messages of one APPEND (several with MULTIAPPEND)
// byte for byte, all or none: when one fails, those already stored are
// expunged again and the failure is answered. A literal over AppendLimit
// is answered by limitReader and never gets here (the check below is a
// second line of defence); the engine enforces its own MaxMessageSize and
// the quota (NO [TOOBIG], NO [OVERQUOTA]). It returns the UIDs given.
func (s *session) AppendAll(mailbox string, msgs []*appendSpool) (uidValidity uint32, uids imap.UIDSet, err error) {
	if err := s.pointInTime(); err != nil {
		return 0, nil, err
	}
	defer s.busy()()
	for _, m := range msgs {
		if m.size > int64(s.srv.opts.AppendLimit) {
			return 0, nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig,
				Text: fmt.Sprintf("Message exceeds the %d byte limit", s.srv.opts.AppendLimit)}
		}
	}
	to, err := s.destination(mailbox)
	if err != nil {
		return 0, nil, err
	}
	var stored []engine.ItemAt
	for _, m := range msgs {
		// The engine takes the message whole: a spooled one is read back
		// within the server's store budget, so many large APPENDs at once
		// wait on disk instead of all being in memory together.
		var held int64
		if m.file != nil {
			// Twice the size: the body, and the engine's compressed copy
			// of it, which is allocated at the body's size.
			held = s.srv.appendBudget.acquire(2 * m.size)
		}
		body, err := m.bytes()
		if err == nil {
			m.release()
			date := m.opts.Time
			if date.IsZero() {
				date = s.srv.opts.Now()
			}
			var it engine.Item
			it, err = s.srv.b.Append(s.ctx, s.acct, to.ID, body, toEngineFlags(m.opts.Flags), date.UTC())
			body = nil
			s.srv.appendBudget.release(held)
			held = 0
			if err == nil {
				stored = append(stored, itemAt(it))
				uids.AddNum(imap.UID(it.UID))
				continue
			}
		}
		s.srv.appendBudget.release(held)
		if len(stored) > 0 {
			if _, xerr := s.srv.b.ExpungeAt(s.ctx, s.acct, to.ID, stored); xerr != nil {
				s.srv.log.Error("imap: undo partial MULTIAPPEND", "err", xerr)
			}
		}
		return 0, nil, translate(s.srv.log, "append", err)
	}
	if s.sel != nil && s.sel.folder.ID == to.ID {
		s.bump()
	}
	return to.UIDValidity, uids, nil
}

// appendStoreBudget is how many bytes of spooled APPEND messages (and the
// engine's compressed copies) may be in memory at once, being handed to
// the engine; a message larger than the whole budget goes alone. Messages
// of up to appendMemMax arrive in memory and are not counted.
const appendStoreBudget = 256 << 20

// byteBudget is a counting semaphore over bytes.
type byteBudget struct {
	mu   sync.Mutex
	cond *sync.Cond
	max  int64
	used int64
}

func newByteBudget(max int64) *byteBudget {
	b := &byteBudget{max: max}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// acquire waits until n bytes fit (or nothing else is held) and returns
// what it took, for release.
func (b *byteBudget) acquire(n int64) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.used > 0 && b.used+n > b.max {
		b.cond.Wait()
	}
	b.used += n
	return n
}

func (b *byteBudget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
	b.cond.Broadcast()
}
