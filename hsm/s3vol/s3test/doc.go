// Package s3test starts a real S3 server (versitygw with its posix backend)
// on 127.0.0.1 for tests of the S3 volume and of the backup and restore
// packages that run on it, with Stop and Restart for outage tests.
//
// The binary is found through $TIDEMARK_VERSITYGW, then $PATH, then
// $(go env GOPATH)/bin. Without it tests skip, unless TIDEMARK_REQUIRE_S3=1
// (set in CI by .ci/s3.sh users), where they fail.
package s3test
