// Package timearg parses the points in time the tidemark command line
// accepts (RFC 3339, YYYY-MM-DD[ HH:MM[:SS]], dd/MM/yyyy HH:mm:ss, and the
// words first and last), so dump, backup and restore commands agree on them.
package timearg
