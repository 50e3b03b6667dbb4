// Package archtest holds no code: its test keeps the import rules of
// docs/ARCHITECTURE.md, so an arrow that points the wrong way fails the build's
// tests instead of waiting for a review.
package archtest
