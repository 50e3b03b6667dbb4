package operations

// Tracker is how a running job reports its progress. Its methods are safe
// for concurrent use, cheap, and may be called as often as the job likes.
type Tracker struct {
	m  *Manager
	id uint64
}

// SetTotal sets how many items and bytes the job expects to handle (0:
// unknown).
func (t *Tracker) SetTotal(items, bytes int64) {
	t.update(func(p *Progress) { p.ItemsTotal, p.BytesTotal = items, bytes })
}

// AddTotal grows the totals, for jobs that learn them piece by piece.
func (t *Tracker) AddTotal(items, bytes int64) {
	t.update(func(p *Progress) { p.ItemsTotal += items; p.BytesTotal += bytes })
}

// Add counts items and bytes done.
func (t *Tracker) Add(items, bytes int64) {
	t.update(func(p *Progress) { p.Items += items; p.Bytes += bytes })
}

// Set sets the items and bytes done.
func (t *Tracker) Set(items, bytes int64) {
	t.update(func(p *Progress) { p.Items, p.Bytes = items, bytes })
}

// Step says what the job is working on (an account, a phase).
func (t *Tracker) Step(s string) {
	t.update(func(p *Progress) { p.Step = s })
}

func (t *Tracker) update(f func(*Progress)) {
	if t == nil || t.m == nil {
		return
	}
	t.m.progress(t.id, f)
}
