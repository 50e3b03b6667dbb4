package engine

// Err returns why the engine refuses writes (ErrReadOnly wrapping the
// failed redo log write or fsync, or the record the projection could not
// apply), or nil while it accepts them. A health check reports the server
// down on an error: only a restart, which replays the log, clears it.
func (e *Engine) Err() error {
	if p := e.poisoned.Load(); p != nil {
		return *p
	}
	return nil
}
