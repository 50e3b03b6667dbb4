// Package maint is the backup's maintenance over a repository and its
// catalog: purge, which drops what the retention window no longer covers
// and folds it into a snapshot, and verify, the coherency check with its
// --fix, with the progress both report. The running scanner calls them
// while it holds off its own writes (scanner.Scanner.Purge and Verify);
// commands call them directly beside a stopped server. The background
// maintenance of what the scanner ships (segment compaction, pack merges,
// snapshots) runs inside the scanner, under its locks.
package maint
