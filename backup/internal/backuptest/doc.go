// Package backuptest is the test harness the backup packages share: an
// engine on a temporary directory with a scanner shipping to a new
// repository on a clock the test moves, views of an account as the engine
// and as the catalog see it, a workload of every kind of change, and the
// hooks that lower pack and dictionary sizes. Only tests import it.
package backuptest
