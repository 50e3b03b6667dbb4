//go:build !linux

package localvol

// syncFS is not available here: SyncDeferred fsyncs each file.
func syncFS(string) (bool, error) { return false, nil }
