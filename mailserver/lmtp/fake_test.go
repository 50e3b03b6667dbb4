package lmtp

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"sync"

	"github.com/tidemark/tidemark/engine"
	"github.com/tidemark/tidemark/engine/event"
)

// memBackend is an in-memory Backend for the protocol tests that need
// states the real engine reaches only slowly (an outage on demand). The
// tests against *engine.Engine in engine_test.go cover the same replies
// with the real thing.
type memBackend struct {
	mu       sync.Mutex
	accounts map[uint64]*engine.Account
	byAddr   map[string]uint64
	inbox    map[uint64][][]byte // account → stored bodies
	blobs    map[[32]byte]int    // digest → deliveries holding it
	failNext error               // next Deliver fails with it
	lookups  int
}

func newMemBackend() *memBackend {
	return &memBackend{accounts: map[uint64]*engine.Account{}, byAddr: map[string]uint64{},
		inbox: map[uint64][][]byte{}, blobs: map[[32]byte]int{}}
}

// add creates an account; quota 0 is unlimited.
func (m *memBackend) add(addr string, status event.AccountStatus, quota int64, aliases ...string) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := uint64(len(m.accounts) + 1)
	m.accounts[id] = &engine.Account{ID: id, Address: addr, Status: status, Quota: quota, Aliases: aliases}
	m.byAddr[strings.ToLower(addr)] = id
	for _, a := range aliases {
		m.byAddr[strings.ToLower(a)] = id
	}
	return id
}

func (m *memBackend) setStatus(id uint64, s event.AccountStatus) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.accounts[id].Status = s
}

func (m *memBackend) failDeliver(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failNext = err
}

func (m *memBackend) messages(id uint64) [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([][]byte(nil), m.inbox[id]...)
}

func (m *memBackend) LookupAccount(ctx context.Context, address string) (engine.Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lookups++
	id, ok := m.byAddr[strings.ToLower(address)]
	if !ok {
		return engine.Account{}, engine.ErrNotFound
	}
	return *m.accounts[id], nil
}

func (m *memBackend) Deliver(ctx context.Context, d engine.Delivery) ([]engine.RecipientResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.failNext; err != nil {
		m.failNext = nil
		return nil, err
	}
	if len(d.Recipients) == 0 {
		return nil, errors.New("fake: no recipients")
	}
	digest := sha256.Sum256(d.Body)
	var res []engine.RecipientResult
	stored := false
	for _, id := range d.Recipients {
		a, ok := m.accounts[id]
		switch {
		case !ok:
			res = append(res, engine.RecipientResult{Account: id, Err: engine.ErrNotFound})
		case a.Status == event.StatusMaintenance || a.Status == event.StatusClosed:
			res = append(res, engine.RecipientResult{Account: id, Err: &engine.StatusError{Status: a.Status}})
		case a.Quota > 0 && a.QuotaUsed+int64(len(d.Body)) > a.Quota:
			res = append(res, engine.RecipientResult{Account: id, Err: engine.ErrQuotaExceeded})
		default:
			a.QuotaUsed += int64(len(d.Body))
			m.inbox[id] = append(m.inbox[id], append([]byte(nil), d.Body...))
			res = append(res, engine.RecipientResult{Account: id,
				Item: engine.Item{ID: uint64(len(m.inbox[id])), Size: int64(len(d.Body))}})
			stored = true
		}
	}
	if stored {
		m.blobs[digest]++
	}
	return res, nil
}
