#!/usr/bin/env bash
# Installs the S3 server the S3 volume tests run against (versitygw, posix
# backend, started by hsm/s3vol/s3test on 127.0.0.1) and prints the line that
# points the tests at it. Use:
#   eval "$(.ci/s3.sh)"            # or: source .ci/s3.sh
#   TIDEMARK_REQUIRE_S3=1 go test ./...
# With TIDEMARK_REQUIRE_S3=1 a missing server fails the S3 tests instead of
# skipping them.
set -euo pipefail

version=v1.8.0
gobin="$(go env GOBIN)"
if [ -z "$gobin" ]; then
	gobin="$(go env GOPATH | cut -d: -f1)/bin"
fi
bin="$gobin/versitygw"

# go install builds report no version of their own; the module version is in
# the binary's build information.
if [ -x "$bin" ] && go version -m "$bin" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+github.com/versity/versitygw[[:space:]]+$version([[:space:]]|$)"; then
	echo "versitygw $version already at $bin" >&2
else
	echo "installing versitygw $version into $gobin" >&2
	GOBIN="$gobin" go install "github.com/versity/versitygw/cmd/versitygw@$version" >&2
fi

export TIDEMARK_VERSITYGW="$bin"
echo "export TIDEMARK_VERSITYGW=$bin"
