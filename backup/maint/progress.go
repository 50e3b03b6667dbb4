package maint

// Progress is how far a long job (SmartScan, purge, verify) got in its
// current step: Items of ItemsTotal and Bytes of BytesTotal, totals 0
// while unknown. Counts start again at each step.
type Progress struct {
	Step              string
	Items, ItemsTotal int64
	Bytes, BytesTotal int64
}

// ProgressFunc receives a job's progress in the job's goroutine, after
// every unit of work: it must be cheap and must not call back into the
// scanner.
type ProgressFunc func(Progress)

func (f ProgressFunc) Report(p Progress) {
	if f != nil {
		f(p)
	}
}
