package backup

// SetDictSample makes repositories train their dictionary after n blobs
// and returns a function restoring the default; for the external tests.
func SetDictSample(n int) (restore func()) {
	old := dictSampleBlobs
	dictSampleBlobs = n
	return func() { dictSampleBlobs = old }
}
